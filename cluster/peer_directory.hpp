// Keeps one peer_connector per member of the local node's current configuration: starts them
// from the node's (possibly stored) configuration and follows membership changes as they happen.
#pragma once

#include <functional>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include "actors/node.hpp"
#include "cluster/peer_connector.hpp"

namespace raft::cli {

/// Spawns the directory of node `self`. It does nothing until attach_peer_directory names the
/// node; an exit message stops it together with all its connectors.
caf::actor spawn_peer_directory(caf::actor_system& sys, node_id self,
                                connector_options opts = {});

/// Hands the running node (its raw actor) to the directory, which then asks the node for its
/// configuration and connects to every other member in it.
void attach_peer_directory(const caf::actor& directory, const caf::actor& node);

/// A node_config::observer that forwards configuration changes to the directory. It only sends
/// a message, so it is cheap and never blocks, as the node requires.
std::function<void(const node_event&)> peer_directory_observer(const caf::actor& directory);

} // namespace raft::cli
