// A node's view of the cluster, returned by the status request.
#pragma once

#include <string>

#include "messages/log_id.hpp"
#include "messages/membership.hpp"

namespace raft {

struct node_status {
  node_id id = no_node;
  std::string role;          // "follower", "candidate", "leader", "learner", "stopped"
  term_t term = 0;
  node_id leader = no_node;  // 0 = unknown
  index_t commit = 0;
  index_t applied = 0;
  index_t first_index = 1;
  log_id last;
  membership config;
  index_t snapshot_index = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_status& x) {
  return f(caf::meta::type_name("raft.node_status"), x.id, x.role, x.term, x.leader, x.commit,
           x.applied, x.first_index, x.last, x.config, x.snapshot_index);
}

} // namespace raft
