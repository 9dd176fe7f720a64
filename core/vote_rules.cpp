// Vote decisions, following etcd/raft's handling of PreVote and lease-based stickiness.
#include "core/vote_rules.hpp"

namespace raft {

vote_verdict decide_vote(const hard_state& current, log_id my_last, const vote_request& req,
                         bool lease_active) {
  vote_verdict v;
  v.reply_term = current.term;
  if (req.term < current.term)
    return v;  // stale candidate: refuse with our newer term so it steps down
  if (lease_active && !req.transfer && req.term > current.term)
    return v;  // a leader is alive: neither vote nor let the candidate bump our term
  bool up_to_date = log_up_to_date(req.last, my_last);
  if (req.pre_vote) {
    // A PreVote changes nothing here. Grant it for a future term if the log is good enough; a
    // candidate in our own term only gets it if we could have voted for it anyway.
    if (req.term > current.term)
      v.granted = up_to_date;
    else
      v.granted = up_to_date
                  && (current.voted_for == no_node || current.voted_for == req.candidate);
    if (v.granted)
      v.reply_term = req.term;
    return v;
  }
  hard_state next = current;
  if (req.term > current.term)
    next = hard_state{req.term, no_node};
  if (up_to_date && (next.voted_for == no_node || next.voted_for == req.candidate)) {
    next.voted_for = req.candidate;
    v.granted = true;
  }
  v.reply_term = next.term;
  if (next != current)
    v.persist = next;
  return v;
}

} // namespace raft
