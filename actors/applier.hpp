// The apply actor: feeds committed entries to the state machine exactly once, in index order, and
// answers the clients waiting for them (proposals by index and term, reads by read index).
#pragma once

#include <memory>

#include <caf/fwd.hpp>

#include "actors/node.hpp"
#include "actors/state_machine.hpp"
#include "messages/log_id.hpp"
#include "messages/snapshot_meta.hpp"

namespace raft {

struct applier_options {
  node_id id = no_node;
  snapshot_meta start;          // the snapshot to restore first (start.last.index == 0: none)
  membership config;            // the configuration in effect at `start` (bootstrap if none)
  std::string snapshot_dir;     // a snapshot_store directory
  uint64_t snapshot_entries = 0;  // take a snapshot after this many applied entries (0: never)
  uint64_t snapshot_bytes = 0;    // ... or this many bytes of applied commands (0: never)
  bool detached = true;           // snapshot writers on their own threads
  std::function<void(const node_event&)> observer;
};

/// Messages:
///   (apply_atom, log_entries)             committed entries, consecutive, from the node
///   (await_atom, index_t, term_t)         -> std::string: the result of the entry at index once
///                                          applied, or not_leader if another term's entry landed
///   (query_atom, index_t, std::string)    -> std::string: state_machine::query once applied >= index
///   (deposed_atom, term_t)                the node lost leadership of that term: its waiting
///                                          writes fail with unavailable (outcome unknown)
///   (install_atom, snapshot_meta)         replace the state with that (verified) snapshot file
/// Sends (applied_atom, index_t) to `node` after each batch, and (snapshot_atom, snapshot_meta)
/// once a snapshot file it started is durable (or (snapshot_atom, caf::error) if that failed).
/// Restores `opts.start` before anything else; a snapshot that fails its checksum or that the
/// state machine refuses stops the actor with storage_corrupt.
caf::actor spawn_applier(caf::actor_system& sys, caf::actor node,
                         std::unique_ptr<state_machine> sm, applier_options opts);

} // namespace raft
