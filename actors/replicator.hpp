// One replicator actor per follower of a leader: pipelined, batched AppendEntries within a flow
// control window, heartbeats, fast backtracking on rejection, and reads of older entries from storage.
#pragma once

#include <functional>
#include <string>

#include <caf/fwd.hpp>
#include <caf/timespan.hpp>

#include "core/log_terms.hpp"
#include "messages/internal.hpp"
#include "persistence/persistence.hpp"

namespace raft {

struct replicator_options {
  node_id leader = no_node;
  node_id follower = no_node;
  term_t term = 0;
  caf::timespan heartbeat_interval;
  size_t max_batch_entries = 1024;
  size_t max_batch_bytes = 1 << 20;
  size_t max_inflight_msgs = 64;
  size_t max_inflight_bytes = 32 << 20;
  size_t max_buffer_bytes = 64 << 20;  // entries kept in memory for a slow follower
  std::string snapshot_dir;            // where the leader's snapshot files are (snapshot_store)
  size_t snapshot_chunk_bytes = 1 << 20;
  std::function<void(const std::string&)> log;  // diagnostics (the node's; stderr if empty)
  shared_commit_index commit;  // the leader's, sent along with every AppendEntries
};

/// Messages from the node:
///   (replicate_atom, entry_batch)     new entries appended by the leader (consecutive)
///   (heartbeat_atom, uint64_t seq)    send a heartbeat now, tagged with a ReadIndex round
///   append_response                   the follower's reply (term already checked by the node)
///   (peer_atom, caf::actor)           a new handle for the follower (reconnect)
///   (snapshot_atom, snapshot_meta, log_id base)  a newer snapshot is durable and the log was
///                                     purged up to `base`
///   install_snapshot_response         the follower's reply to a snapshot chunk (term checked)
/// `log` is the leader's log shape at spawn time and `snapshot` its
/// newest snapshot, streamed in chunks to a follower that needs purged entries.
caf::actor spawn_replicator(caf::actor_system& sys, replicator_options opts, caf::actor peer,
                            persistence_actor store, log_terms log, snapshot_meta snapshot = {});

} // namespace raft
