// Messages between the actors of one node. They never cross the network: entry batches are shared
// by pointer so a leader hands one batch to every replicator without copying it.
#pragma once

#include <atomic>
#include <memory>
#include <utility>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/response_promise.hpp>

#include "messages/log_entry.hpp"

namespace raft {

/// An immutable batch of consecutive entries, shared between the node and its replicators.
struct entry_batch {
  std::shared_ptr<const log_entries> entries;
};

/// A leader's commit index, shared with its replicators in the same process. They read it for
/// each AppendEntries instead of being sent a message on every advance, which woke them every
/// round just to record a number. A follower takes it only up to entries it has verified to
/// match, so a fresher value is always safe there. (The store is not a reader: see commit_atom
/// in persistence.hpp.) The node alone raises it; it never falls.
class shared_commit_index {
public:
  index_t get() const { return value_->load(std::memory_order_acquire); }
  void raise(index_t x) {
    if (x > value_->load(std::memory_order_relaxed))
      value_->store(x, std::memory_order_release);
  }

private:
  std::shared_ptr<std::atomic<index_t>> value_ = std::make_shared<std::atomic<index_t>>(0);
};

/// A client waiting for the results of its entries `first..last`: one proposal, or a batch of
/// them proposed in one message (answered with all results at once).
struct waiting_write {
  index_t first = 0;
  index_t last = 0;
  bool batch = false;
  caf::response_promise rp;
};

/// The clients waiting for entries of one apply batch, ascending. The node hands them over with
/// the batch, so the applier answers each client directly and no write costs a message of its
/// own between the two actors. Each write's entries are all in that batch.
struct waiting_writes {
  std::vector<waiting_write> list;
};

// node -> replicator
using replicate_atom = caf::atom_constant<caf::atom("replicate")>;
using heartbeat_atom = caf::atom_constant<caf::atom("heartbeat")>;
using tick_atom_t = caf::atom_constant<caf::atom("tick")>;
// node -> applier
using apply_atom = caf::atom_constant<caf::atom("apply")>;
using applied_atom = caf::atom_constant<caf::atom("applied")>;
using install_atom = caf::atom_constant<caf::atom("install")>;
// applier -> node, node -> replicator: a new snapshot is durable
using snapshot_atom = caf::atom_constant<caf::atom("snapshot")>;
// node <-> election
using heard_atom = caf::atom_constant<caf::atom("heard")>;
using role_atom = caf::atom_constant<caf::atom("role")>;
using campaign_atom = caf::atom_constant<caf::atom("campaign")>;
using elected_atom = caf::atom_constant<caf::atom("elected")>;
using check_atom = caf::atom_constant<caf::atom("check")>;
using timeout_atom = caf::atom_constant<caf::atom("timeout")>;
// node -> election: the connection to the leader is gone; campaign soon instead of a full timeout
using leader_lost_atom = caf::atom_constant<caf::atom("ldrlost")>;

enum class node_role : uint8_t { follower, candidate, leader, learner };

const char* to_string(node_role r);

} // namespace raft

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(raft::entry_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(raft::waiting_writes)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(raft::node_role)
