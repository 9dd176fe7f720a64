// A client-side proposer: many local callers propose one command each; it forwards them to a
// leader as batch proposals, so a busy client costs the network one message per batch, not per write.
#pragma once

#include <cstddef>
#include <map>
#include <string>

#include <caf/expected.hpp>
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
  /// (on loopback, 2 to 16 measured within 10% of each other; bench/HISTORY.md).
  size_t max_batches_in_flight = 4;
  size_t max_batch = 1024;  ///< commands per batch
  /// How long a batch may go unanswered, resends included. Past it, a batch in flight gets
  /// CAF's request_timeout (outcome unknown); a refused one gets the last refusal (not applied).
  caf::timespan timeout = std::chrono::seconds(10);
  /// A following proposer's pause before it asks again when no leader was named, or the
  /// leader was busy or transferring leadership.
  caf::timespan retry_delay = std::chrono::milliseconds(50);
};

/// Spawns a proposer that sends to `leader` and does not follow leadership: when the leader
/// refuses (not_leader names the new leader), every caller of that batch gets the error.
/// Commands in one batch are taken or refused together and applied in the order the proposer
/// received them. Stopped (an exit message), it answers every caller: shutting_down if its
/// command was never sent, unavailable (outcome unknown) if it was.
proposal_api spawn_proposer(caf::actor_system& sys, node_api leader, proposer_options opts = {});

/// Spawns a proposer that follows leadership among `members` (by node id), asking `first`
/// (0: the lowest id) until told otherwise. A batch the leader refused without taking it
/// (not_leader, busy, transfer_in_progress) is parked; once nothing else is in flight, the
/// parked batches are sent again, in order, to the leader the refusal named, or after
/// retry_delay if none was named. A refused batch is answered with its refusal instead when a
/// later batch was taken meanwhile (resending it would reorder them) or its time is up. Errors
/// with an unknown outcome (unavailable, a timeout, a dead leader) go to the callers as they
/// are: the proposer never sends a command twice unless it was refused. Fails with
/// invalid_argument if `members` is empty or `first` is not among them.
caf::expected<proposal_api> spawn_proposer(caf::actor_system& sys,
                                           std::map<node_id, node_api> members,
                                           node_id first = no_node, proposer_options opts = {});

} // namespace raft
