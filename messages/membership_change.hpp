// An operator's request to change the configuration, and the leader's TimeoutNow for transfers.
#pragma once

#include <string>

#include "messages/log_id.hpp"

namespace raft {

struct membership_change {
  enum kind_t : uint8_t { add_voter = 1, add_learner = 2, promote = 3, remove = 4 };
  kind_t kind = add_voter;
  node_id id = no_node;
  std::string address;  // "host:port" for add_voter/add_learner; empty for in-process peers
};

/// Sent by a leader handing over leadership: the target campaigns at once, and voters ignore
/// their leader lease for its vote request.
struct timeout_now {
  term_t term = 0;
  node_id leader = no_node;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, membership_change& x) {
  return f(caf::meta::type_name("raft.membership_change"), x.kind, x.id, x.address);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, timeout_now& x) {
  return f(caf::meta::type_name("raft.timeout_now"), x.term, x.leader);
}

} // namespace raft
