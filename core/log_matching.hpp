// The Log Matching rules: a follower's verdict on AppendEntries, and the leader's fast backtracking.
#pragma once

#include <cstddef>

#include "core/log_terms.hpp"
#include "messages/log_entry.hpp"

namespace raft {

struct append_verdict {
  bool accept = false;
  // On accept: drop local entries from `truncate_from` (0 = nothing to drop), then append
  // request entries [skip, end). `match` is the request's last entry, which the follower then holds.
  index_t truncate_from = 0;
  size_t skip = 0;
  log_id match;
  // On reject: where the leader should look next (see append_response).
  term_t conflict_term = 0;
  index_t conflict_index = 0;
  // Set when the request would truncate committed entries: a protocol violation, never applied.
  bool violates_commit = false;
};

/// Follower side. `log` is the follower's log, `commit` its commit index.
append_verdict check_append(const log_terms& log, index_t commit, log_id prev,
                            const log_entries& entries);

/// Leader side: the next index to try after a rejection of `rejected_prev`, given the follower's
/// hint and the leader's own log; never below match + 1 and always below rejected_prev + 1.
index_t next_after_reject(const log_terms& leader_log, index_t match, index_t rejected_prev,
                          term_t conflict_term, index_t conflict_index);

} // namespace raft
