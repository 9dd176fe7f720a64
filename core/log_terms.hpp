// In-memory index of a log's shape: first index, last log id and where each term starts.
// Terms only grow along a log, so a handful of boundaries answers term_at(i) for millions of entries.
#pragma once

#include <optional>
#include <vector>

#include "messages/log_id.hpp"

namespace raft {

class log_terms {
public:
  log_terms() = default;

  /// `base` is the snapshot's last log id (or {0,0}); `starts` lists (term, first index) ascending.
  log_terms(log_id base, std::vector<log_id> starts, log_id last);

  index_t first_index() const { return base_.index + 1; }
  log_id last() const { return last_; }
  log_id base() const { return base_; }
  bool empty() const { return last_.index == base_.index; }

  /// Term at `i`, including the base (snapshot) position; nullopt if `i` is outside [base, last].
  std::optional<term_t> term_at(index_t i) const;

  /// True if the log holds `id` (the base counts).
  bool matches(log_id id) const {
    auto t = term_at(id.index);
    return t && *t == id.term;
  }

  /// First index of term `t` in the log, if the log has an entry of that term.
  std::optional<index_t> first_index_of(term_t t) const;

  /// Last index whose term is <= t (0 if none); the leader's side of fast backtracking.
  index_t last_index_at_or_below(term_t t) const;

  /// Records entries appended at last().index + 1 ... with the given term.
  void append(term_t term, index_t count);

  /// Forgets entries with index >= i (i must be > base index).
  void truncate_from(index_t i);

  /// Forgets entries <= id.index; if the log does not contain `id`, it becomes empty at `id`.
  void purge_to(log_id id);

  const std::vector<log_id>& starts() const { return starts_; }

private:
  log_id base_;
  std::vector<log_id> starts_;  // (term, first index), for entries after base_
  log_id last_;
};

} // namespace raft
