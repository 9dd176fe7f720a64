// The embedding API: spawn a Raft node into an existing actor_system and talk to it through a typed
// handle (propose, linearizable query, status). Peers are plain caf::actor handles (local or remote).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/timespan.hpp>
#include <caf/typed_actor.hpp>

#include "actors/state_machine.hpp"
#include "messages/atoms.hpp"
#include "messages/membership_change.hpp"
#include "messages/node_status.hpp"

namespace raft {

class log_terms;
struct log_entry;

/// What a node reports to an observer (tests, metrics). Pointers are valid during the call only.
struct node_event {
  enum kind_t { role_changed, committed, applied, config_changed, snapshot_restored } kind;
  node_id node = no_node;
  std::string role;                  // role_changed
  term_t term = 0;                   // role_changed: the new term
  index_t index = 0;                 // committed: new commit index; applied: the entry's index;
                                     // snapshot_restored: the snapshot's last index (and term)
  const log_terms* log = nullptr;    // role_changed, committed: the node's log at that moment
  const log_entry* entry = nullptr;  // applied
  const membership* config = nullptr;    // config_changed: the configuration now in effect
  const membership* previous = nullptr;  // config_changed: the one it replaced
  bool via_snapshot = false;         // config_changed: came with a leader's snapshot, which may
                                     // skip any number of intermediate configurations
};

struct node_config {
  node_id id = no_node;
  std::string cluster_id = "caf-raft";
  membership bootstrap;        // the initial configuration, used only when the data dir is new
  std::string data_dir;
  bool sync = true;            // false is UNSAFE: acknowledged writes may be lost on power failure
  /// Storage on a thread of its own while it syncs, so that an fsync never holds up a scheduler
  /// worker. Without syncs (sync=false) it runs on the workers anyway: nothing there blocks for
  /// long, and handing each batch to another thread cost a context switch on both sides
  /// (in-process: 1.14x the throughput at 0.79x the CPU without it; bench/HISTORY.md, session
  /// 15). Tests set false to keep everything on their deterministic scheduler.
  bool detached = true;
  std::shared_ptr<std::atomic<bool>> power_cut;  // simulations only: see storage_options
  caf::timespan heartbeat_interval = std::chrono::milliseconds(50);
  caf::timespan election_timeout = std::chrono::milliseconds(500);  // randomized in [T, 2T)
  bool pre_vote = true;
  bool check_quorum = true;
  size_t max_entry_bytes = 1 << 20;       // larger proposals fail with errc::entry_too_large
  size_t max_batch_entries = 1024;        // per AppendEntries
  size_t max_batch_bytes = 1 << 20;       // per AppendEntries
  size_t max_inflight_msgs = 64;          // pipelined AppendEntries per follower
  size_t max_inflight_bytes = 32 << 20;
  size_t max_pending_proposals = 1 << 16; // back-pressure: more are refused with busy
  index_t max_learner_lag = 1000;         // a learner is promoted only this close to the leader
  // Log compaction: a snapshot is taken once this many entries, or this many bytes of commands,
  // were applied since the last one (0 disables that trigger; both 0 = never).
  uint64_t snapshot_entries = 10000;
  uint64_t snapshot_bytes = uint64_t{64} << 20;
  // ... and only once the commands applied since the last snapshot add up to this many times its
  // size. Writing a snapshot costs time in proportion to the state, so without this a large state
  // would be rewritten every snapshot_entries writes: quadratic work. With it, compaction costs at
  // most 1/ratio bytes written per byte of commands however large the state grows (LogCabin's
  // snapshotRatio, whose default is 10). 0 = the count and byte triggers alone. At 1.0 the
  // snapshot writers took a fifth of the in-process CPU at 256 in flight; 4 cuts that to a
  // quarter, for a log of up to 4x the state to keep and replay (bench/HISTORY.md, session 15).
  double snapshot_log_ratio = 4.0;
  // Entries kept below a snapshot, so a briefly lagging follower still catches up from the log.
  // The leader also keeps the entries after a snapshot a follower is still receiving, while that
  // follower answers within an election timeout.
  index_t snapshot_trailing_entries = 5000;
  size_t snapshot_chunk_bytes = 1 << 20;  // per InstallSnapshot message
  uint64_t seed = 0;                      // election randomness; 0 = from std::random_device
  /// Called synchronously from the node's actors; must be cheap and must not block.
  std::function<void(const node_event&)> observer;
  /// Diagnostics (step-downs, storage failures); empty = one line each on stderr.
  std::function<void(const std::string&)> log;
};

/// The public face of a node. Errors are raft errors (messages/errc.hpp): not_leader (context:
/// leader id, 0 = unknown), timeout, shutting_down, entry_too_large, unavailable (outcome
/// unknown), busy (refused for now, not applied: retry), transfer_in_progress.
using node_api = caf::typed_actor<
  // Replicates `command`, applies it, and answers with the state machine's result.
  caf::replies_to<propose_atom, std::string>::with<std::string>,
  // The same for several commands in one message: they take consecutive log entries, are taken
  // or refused as a whole, and are answered together with their results in order (one message
  // each way however many commands; see actors/proposer.hpp for a client that batches).
  caf::replies_to<propose_atom, std::vector<std::string>>::with<std::vector<std::string>>,
  // Linearizable read through ReadIndex, answered by state_machine::query.
  caf::replies_to<query_atom, std::string>::with<std::string>,
  caf::replies_to<status_atom>::with<node_status>,
  // This replica's applied state, on any node: possibly stale (monitoring, replica comparison).
  caf::replies_to<query_atom, local_atom, std::string>::with<std::string>,
  // Adds, promotes or removes one server; answers with the new configuration once committed.
  // Refused (errc::config_change) while another change is uncommitted, for an existing or
  // unknown id, for removing the last voter, or promoting a learner that lags too far behind.
  caf::replies_to<change_atom, membership_change>::with<membership>,
  // Hands leadership to `target` (0: the most up-to-date voter); answers with the new leader's
  // id once the old leader has stepped down. Writes are refused while the transfer runs.
  caf::replies_to<transfer_atom, node_id>::with<node_id>>;

// To tell a node how to reach a peer, send (peer_atom, node_id, caf::actor) to its raw actor,
// caf::actor_cast<caf::actor>(api); again after every reconnect.

/// Opens the data dir and spawns the node with its storage, election, apply and replication
/// actors. Fails with a raft error if the data dir is unusable (foreign, corrupt, unreadable).
/// To stop a node, send it an exit message: it answers its waiting clients (writes: unavailable,
/// outcome unknown), refuses new requests with shutting_down, and goes down only once its
/// storage has closed the data dir and no snapshot writer is still filling a file there: the
/// directory can then be reopened or removed at once.
caf::expected<node_api> spawn_node(caf::actor_system& sys, node_config cfg,
                                   std::unique_ptr<state_machine> sm);

} // namespace raft
