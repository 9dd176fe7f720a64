// A client-side proposer: many local callers propose one command each; it forwards them to a
// leader as batch proposals, so a busy client costs the network one message per batch, not per write.
#pragma once

#include <cstddef>
#include <string>

#include <caf/fwd.hpp>
#include <caf/timespan.hpp>
#include <caf/typed_actor.hpp>

#include "actors/node.hpp"

namespace raft {

/// What a proposer answers: a command in, its result (or the leader's error) out. A node_api
/// handle converts to it, so code written against it runs with or without a proposer.
using proposal_api = caf::typed_actor<caf::replies_to<propose_atom, std::string>::with<std::string>>;

struct proposer_options {
  /// Batches sent and not yet answered. A command finding all of them taken waits and leaves
  /// with the next batch: the more load, the larger the batches (group commit, client side).
  /// With 1 a client waits a whole round trip between batches; a few keep the pipeline full
  /// (on loopback, 2 to 16 measured within 10% of each other; BENCHMARKS.md).
  size_t max_batches_in_flight = 4;
  size_t max_batch = 1024;  ///< commands per batch
  /// How long a batch may go unanswered before its callers get errc::timeout (outcome unknown).
  caf::timespan timeout = std::chrono::seconds(10);
};

/// Spawns a proposer that sends to `leader`. It does not follow leadership: when the leader
/// refuses (not_leader carries the new leader's id), every caller of that batch gets the error
/// and the application points a new proposer at the new leader. Commands in one batch are
/// taken or refused together and applied in the order the proposer received them. Stopped (an
/// exit message), it answers every caller: shutting_down if its command was never sent,
/// unavailable (outcome unknown) if it was.
proposal_api spawn_proposer(caf::actor_system& sys, node_api leader, proposer_options opts = {});

} // namespace raft
