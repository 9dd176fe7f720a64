// The election actor: randomized election timeouts, PreVote then real campaigns with vote tallies,
// and the CheckQuorum tick of a leader. The node owns term, vote and log; this actor owns time.
#pragma once

#include <caf/fwd.hpp>
#include <caf/timespan.hpp>

#include "messages/log_id.hpp"

namespace raft {

struct election_options {
  node_id self = no_node;
  caf::timespan timeout;     // minimum election timeout; each wait is drawn from [T, 2T)
  bool pre_vote = true;
  bool check_quorum = true;
  uint64_t seed = 0;
};

/// Messages from the node:
///   (role_atom, node_role, term_t)             role changed: re-arm timers, drop campaigns
///   (heard_atom)                               a leader (or a granted vote) was heard from
///   (campaign_atom, bool pre, term_t, membership)  the node started a campaign (self vote counted)
///   vote_response                              forwarded replies for the running campaign
///   (timeout_atom)                             force an immediate campaign (leadership transfer)
/// Messages to the node:
///   (campaign_atom, bool pre)                  please start a (pre-)campaign
///   (elected_atom, bool pre, term_t)           the campaign won
///   (check_atom)                               leader: verify a quorum was active recently
caf::actor spawn_election(caf::actor_system& sys, caf::actor node, election_options opts);

} // namespace raft
