// Who gets a vote: the paper's rules (one vote per term, up-to-date log) plus PreVote and leader lease.
#pragma once

#include <optional>

#include "messages/hard_state.hpp"
#include "messages/log_id.hpp"
#include "messages/vote.hpp"

namespace raft {

struct vote_verdict {
  bool granted = false;
  term_t reply_term = 0;               // term to put into the response
  std::optional<hard_state> persist;   // new hard state to make durable before replying
};

/// Decides a vote request. `lease_active` is true when this node heard from a live leader within
/// the minimum election timeout (CheckQuorum's leader stickiness): such a node neither grants nor
/// raises its term for a disruptive candidate, unless the request is a leadership transfer.
vote_verdict decide_vote(const hard_state& current, log_id my_last, const vote_request& req,
                         bool lease_active);

/// Raft's up-to-date check: the candidate's log is at least as complete as ours.
inline bool log_up_to_date(log_id candidate_last, log_id my_last) {
  return my_last <= candidate_last;
}

} // namespace raft
