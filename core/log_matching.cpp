// Follower verdicts skip what is already present (duplicates and reordering are harmless) and
// truncate only at the first real conflict, so an old request can never erase newer entries.
#include "core/log_matching.hpp"

#include <algorithm>

namespace raft {

append_verdict check_append(const log_terms& log, index_t commit, log_id prev,
                            const log_entries& entries) {
  append_verdict v;
  size_t k = 0;
  // Entries at or below our snapshot are committed, hence identical to the leader's: skip them.
  if (prev.index < log.base().index) {
    while (k < entries.size() && entries[k].index <= log.base().index)
      ++k;
    prev = log.base();
  } else if (!log.matches(prev)) {
    if (prev.index > log.last().index) {
      v.conflict_index = log.last().index + 1;
    } else {
      v.conflict_term = log.term_at(prev.index).value_or(0);
      auto first = log.first_index_of(v.conflict_term);
      v.conflict_index = first ? *first : log.first_index();
    }
    return v;
  }
  v.accept = true;
  v.match = entries.empty() ? prev : entries.back().id();
  for (; k < entries.size(); ++k) {
    const auto& e = entries[k];
    if (e.index > log.last().index)
      break;
    auto t = log.term_at(e.index);
    if (t && *t == e.term)
      continue;
    if (e.index <= commit) {
      v.accept = false;
      v.violates_commit = true;
      return v;
    }
    v.truncate_from = e.index;
    break;
  }
  v.skip = k;
  return v;
}

index_t next_after_reject(const log_terms& leader_log, index_t match, index_t rejected_prev,
                          term_t conflict_term, index_t conflict_index) {
  index_t next = conflict_index;
  if (conflict_term != 0) {
    // If we have entries of the follower's conflicting term, resume right after our last one:
    // everything up to there can match. Otherwise skip the follower's whole term.
    auto last = leader_log.last_index_at_or_below(conflict_term);
    if (last > 0 && leader_log.term_at(last) == conflict_term)
      next = last + 1;
  }
  next = std::min(next, rejected_prev);  // strictly below the rejected position
  return std::max({next, match + 1, index_t{1}});
}

} // namespace raft
