// The apply actor: feeds committed entries to the state machine exactly once, in index order, and
// answers the clients waiting for them (writes handed over with their entries, reads by index).
#pragma once

#include <memory>

#include <caf/fwd.hpp>

#include "actors/node.hpp"
#include "actors/state_machine.hpp"
#include "core/compaction_policy.hpp"
#include "messages/log_id.hpp"
#include "messages/snapshot_meta.hpp"

namespace raft {

struct applier_options {
  node_id id = no_node;
  snapshot_meta start;          // the snapshot to restore first (start.last.index == 0: none)
  membership config;            // the configuration in effect at `start` (bootstrap if none)
  std::string snapshot_dir;     // a snapshot_store directory
  compaction_policy compaction;   // when to take a snapshot (default: never)
  bool detached = true;           // snapshot writers on their own threads
  std::function<void(const node_event&)> observer;
};

/// Messages:
///   (apply_atom, log_entries, waiting_writes)  committed entries, consecutive, from the node, with
///                                          the clients waiting for some of them: each gets its
///                                          entry's result once applied
///   (query_atom, index_t, std::string)    -> std::string: state_machine::query once applied >= index
///   (install_atom, snapshot_meta)         replace the state with that (verified) snapshot file
/// Sends (applied_atom, index_t) to `node` after each batch, and (snapshot_atom, snapshot_meta)
/// once a snapshot file it started is durable (or (snapshot_atom, caf::error) if that failed).
/// Restores `opts.start` before anything else; a snapshot that fails its checksum or that the
/// state machine refuses stops the actor with storage_corrupt.
caf::actor spawn_applier(caf::actor_system& sys, caf::actor node,
                         std::unique_ptr<state_machine> sm, applier_options opts);

} // namespace raft
