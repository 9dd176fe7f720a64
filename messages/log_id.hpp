// The (term, index) pair that names one log position; the unit of every log comparison in Raft.
#pragma once

#include <cstdint>
#include <tuple>

#include <caf/meta/type_name.hpp>

namespace raft {

using node_id = uint64_t;  // 0 means "nobody"
using term_t = uint64_t;
using index_t = uint64_t;

constexpr node_id no_node = 0;

struct log_id {
  term_t term = 0;
  index_t index = 0;

  friend bool operator==(const log_id& a, const log_id& b) {
    return a.term == b.term && a.index == b.index;
  }
  friend bool operator!=(const log_id& a, const log_id& b) { return !(a == b); }
  // Raft's "at least as up-to-date" order: compare terms first, then indexes.
  friend bool operator<(const log_id& a, const log_id& b) {
    return std::tie(a.term, a.index) < std::tie(b.term, b.index);
  }
  friend bool operator<=(const log_id& a, const log_id& b) { return !(b < a); }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, log_id& x) {
  return f(caf::meta::type_name("raft.log_id"), x.term, x.index);
}

} // namespace raft
