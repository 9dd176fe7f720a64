// The persistence actor: owns one node's log store and group-commits every queued write in one
// transaction with one sync before acknowledging any of them.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include <caf/fwd.hpp>
#include <caf/typed_actor.hpp>
#include <caf/replies_to.hpp>

#include "messages/atoms.hpp"
#include "messages/hard_state.hpp"
#include "messages/internal.hpp"
#include "messages/log_entry.hpp"
#include "messages/snapshot_meta.hpp"
#include "messages/stored_state.hpp"

namespace raft {

/// Requests and replies of the persistence actor. Every write is acknowledged only after the store
/// commit holding it is durable (unless `storage_options::sync` is off).
using persistence_actor = caf::typed_actor<
  // Recover everything at start-up.
  caf::replies_to<load_atom>::with<stored_state>,
  // Append entries (contiguous, ascending). If the first index is <= the last index, the
  // conflicting suffix from that index on is truncated first (refused below the commit index).
  // Replies with the new last log id once durable.
  caf::replies_to<append_atom, log_entries>::with<log_id>,
  // The same for a batch the leader shares with its replicators (no copy; local actors only).
  caf::replies_to<append_atom, entry_batch>::with<log_id>,
  // Save term and vote; replies with what was saved once durable.
  caf::replies_to<vote_atom, hard_state>::with<hard_state>,
  // Record the commit index in the next batch (a restart hint; no reply, no sync of its own).
  // It must come after the appends of the entries it covers: an index read from anywhere else
  // may cover entries still on their way here, while the log holds stale ones at that index.
  caf::reacts_to<commit_atom, index_t>,
  // Read entries in [start, stop), at most `max_bytes` (but always at least one entry if any).
  // Fails with errc::snapshot_needed if start < first index.
  caf::replies_to<read_atom, index_t, index_t, uint64_t>::with<log_entries>,
  // Delete entries with index >= the given one; refused below the commit index. Replies with the
  // new last log id once durable.
  caf::replies_to<truncate_atom, index_t>::with<log_id>,
  // Record a snapshot's metadata and purge the log prefix up to min(upto, meta.last.index);
  // entries after it are kept when the log contains meta.last, else the log is discarded whole.
  // Replies with the new first index once durable.
  caf::replies_to<purge_atom, snapshot_meta, index_t>::with<index_t>,
  // Counters: transactions committed, syncs, entries appended, bytes; for tests and benchmarks.
  caf::replies_to<stats_atom>::with<uint64_t, uint64_t, uint64_t, uint64_t>>;

struct storage_options {
  std::string dir;                 // data directory (created if missing)
  node_id id = no_node;            // this node; written on first start, checked afterwards
  std::string cluster_id;          // the cluster; written on first start, checked afterwards
  membership bootstrap;            // configuration used when the directory is new
  bool sync = true;                // false = UNSAFE: acknowledged writes may be lost on a crash
  uint64_t initial_map_bytes = uint64_t{64} << 20;  // LMDB map size; grows automatically
  uint64_t max_read_bytes = uint64_t{4} << 20;      // cap for one read reply
  /// Simulation hook: once it is true, the actor commits nothing more, so writes it has not
  /// committed are lost as in a power failure (a kill alone lets it finish its queue). Empty in
  /// production.
  std::shared_ptr<std::atomic<bool>> power_cut;
};

/// Opens the store and spawns the actor; fails with a raft error (foreign_data_dir,
/// storage_corrupt, storage_io, ...) if the directory cannot be used. `detached` gives the actor
/// its own thread (production); tests pass false to keep it on the deterministic scheduler.
caf::expected<persistence_actor> spawn_persistence(caf::actor_system& sys,
                                                   const storage_options& opts,
                                                   bool detached = true);

} // namespace raft
