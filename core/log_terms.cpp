// Term boundaries of a log: binary searches over a few (term, first index) pairs.
#include "core/log_terms.hpp"

#include <algorithm>

namespace raft {

log_terms::log_terms(log_id base, std::vector<log_id> starts, log_id last)
  : base_(base), starts_(std::move(starts)), last_(last) {
  if (last_.index < base_.index)
    last_ = base_;
  if (last_.index == base_.index)
    starts_.clear();
}

std::optional<term_t> log_terms::term_at(index_t i) const {
  if (i == base_.index)
    return base_.term;
  if (i < base_.index || i > last_.index)
    return std::nullopt;
  // The last start whose first index is <= i.
  auto it = std::upper_bound(starts_.begin(), starts_.end(), i,
                             [](index_t x, const log_id& s) { return x < s.index; });
  if (it == starts_.begin())
    return std::nullopt;  // inconsistent boundaries: treat as unknown
  return std::prev(it)->term;
}

std::optional<index_t> log_terms::first_index_of(term_t t) const {
  auto it = std::lower_bound(starts_.begin(), starts_.end(), t,
                             [](const log_id& s, term_t x) { return s.term < x; });
  if (it != starts_.end() && it->term == t)
    return it->index;
  return std::nullopt;
}

index_t log_terms::last_index_at_or_below(term_t t) const {
  // The first start whose term exceeds t; everything before it has a term <= t.
  auto it = std::upper_bound(starts_.begin(), starts_.end(), t,
                             [](term_t x, const log_id& s) { return x < s.term; });
  if (it == starts_.begin())
    return base_.term <= t ? base_.index : 0;
  if (it == starts_.end())
    return last_.index;
  return it->index - 1;
}

void log_terms::append(term_t term, index_t count) {
  if (count == 0)
    return;
  if (starts_.empty() || starts_.back().term != term)
    starts_.push_back({term, last_.index + 1});
  last_ = {term, last_.index + count};
}

void log_terms::truncate_from(index_t i) {
  if (i <= base_.index) {
    starts_.clear();
    last_ = base_;
    return;
  }
  if (i > last_.index)
    return;
  while (!starts_.empty() && starts_.back().index >= i)
    starts_.pop_back();
  last_ = starts_.empty() ? base_ : log_id{starts_.back().term, i - 1};
}

void log_terms::purge_to(log_id id) {
  if (id.index <= base_.index)
    return;
  if (!matches(id)) {
    base_ = id;
    starts_.clear();
    last_ = id;
    return;
  }
  base_ = id;
  if (last_.index == id.index) {
    starts_.clear();
    last_ = id;
    return;
  }
  // Drop starts wholly before the new first index; the one covering it moves to base + 1.
  std::vector<log_id> kept;
  for (size_t k = 0; k < starts_.size(); ++k) {
    index_t next_start = k + 1 < starts_.size() ? starts_[k + 1].index : last_.index + 1;
    if (next_start <= id.index + 1)
      continue;
    kept.push_back({starts_[k].term, std::max(starts_[k].index, id.index + 1)});
  }
  starts_ = std::move(kept);
}

} // namespace raft
