// AppendEntries and its reply; an empty request is a heartbeat, and `seq` ties replies to ReadIndex rounds.
#pragma once

#include <cstdint>

#include "messages/log_entry.hpp"

namespace raft {

struct append_request {
  term_t term = 0;
  node_id leader = no_node;
  log_id prev;              // entry immediately preceding `entries`
  log_entries entries;
  index_t commit = 0;       // leader's commit index, capped at what the follower is known to hold
  uint64_t seq = 0;         // heartbeat round, echoed back (ReadIndex, CheckQuorum)
};

struct append_response {
  term_t term = 0;
  node_id from = no_node;
  bool success = false;
  log_id match;             // on success: last entry of the request, now durable on the follower
  index_t rejected = 0;     // on failure: the prev index that did not match
  term_t conflict_term = 0; // on failure: follower's term at `rejected` (0: no entry there)
  index_t conflict_index = 0;  // on failure: first index of conflict_term, or follower's last + 1
  index_t last_index = 0;   // follower's last log index
  uint64_t seq = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, append_request& x) {
  return f(caf::meta::type_name("raft.append_request"), x.term, x.leader, x.prev, x.entries,
           x.commit, x.seq);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, append_response& x) {
  return f(caf::meta::type_name("raft.append_response"), x.term, x.from, x.success, x.match,
           x.rejected, x.conflict_term, x.conflict_index, x.last_index, x.seq);
}

} // namespace raft
