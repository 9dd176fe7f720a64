// The state Raft must persist before answering anyone: the current term and the vote cast in it.
#pragma once

#include "messages/log_id.hpp"

namespace raft {

struct hard_state {
  term_t term = 0;
  node_id voted_for = no_node;

  friend bool operator==(const hard_state& a, const hard_state& b) {
    return a.term == b.term && a.voted_for == b.voted_for;
  }
  friend bool operator!=(const hard_state& a, const hard_state& b) { return !(a == b); }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, hard_state& x) {
  return f(caf::meta::type_name("raft.hard_state"), x.term, x.voted_for);
}

} // namespace raft
