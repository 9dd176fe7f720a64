// One actor per peer that (re)connects to the peer's published node asynchronously and hands
// every fresh proxy to the local node as (peer_atom, id, handle).
#pragma once

#include <chrono>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>
#include <caf/timespan.hpp>

#include "config/cluster_spec.hpp"
#include "messages/log_id.hpp"

namespace raft::cli {

struct connector_options {
  caf::timespan connect_timeout = std::chrono::seconds(2);  // per connect attempt
  caf::timespan min_backoff = std::chrono::milliseconds(50);
  caf::timespan max_backoff = std::chrono::seconds(1);
  bool verbose = true;  // report connects and losses on stderr
};

/// Spawns the connector for peer `id` at `where`; `node` is the local node's raw actor. The
/// connector never blocks: it uses the middleman actor's connect_atom with a timeout. It stops
/// when it receives an exit message (it is not linked to the node).
caf::actor spawn_peer_connector(caf::actor_system& sys, caf::actor node, node_id id,
                                endpoint where, connector_options opts = {});

} // namespace raft::cli
