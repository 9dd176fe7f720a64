// The leader-finding client behind the shell and the single-shot commands: connects to cluster
// members, follows not_leader redirects, and retries only when that cannot apply a write twice.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/timespan.hpp>

#include "config/cluster_spec.hpp"
#include "messages/kv.hpp"
#include "messages/membership_change.hpp"
#include "messages/node_status.hpp"

namespace raft::cli {

struct client_options {
  std::vector<endpoint> seeds;                          // --cluster
  caf::timespan timeout = std::chrono::seconds(10);     // deadline per operation
  bool direct = false;  // talk to seeds[0] only: no redirects (per-node checks in tests)
};

/// Failures the client itself concludes, after its deadline, when no request could have been
/// applied: no member could be connected to, or none accepted the request as leader.
enum class client_errc : uint8_t { unreachable = 1, no_leader = 2 };

constexpr caf::atom_value client_errc_category = caf::atom("raftcli");

/// All failures are raft errors (messages/errc.hpp) or client_errc, with a std::string message
/// as context: timeout and unavailable mean "outcome unknown"; anything else "not applied".
class cluster_client {
public:
  cluster_client(caf::actor_system& sys, client_options opts);
  ~cluster_client();

  cluster_client(const cluster_client&) = delete;
  cluster_client& operator=(const cluster_client&) = delete;

  /// Proposes a put/cas/del through the leader and returns the applied result.
  caf::expected<kv_result> write(const kv_command& cmd);

  /// Linearizable read (get, digest) through the leader's ReadIndex; with `direct`, a digest is
  /// the addressed replica's own (possibly stale) content, for comparing replicas.
  caf::expected<kv_result> read(const kv_command& cmd);

  /// The leader's status if a leader is known and reachable, else the first answering node's.
  caf::expected<node_status> status();

  /// Adds, promotes or removes one server through the leader; the new configuration once
  /// committed. Like a write, it is re-sent only after failures that prove it was not applied.
  caf::expected<membership> change(const membership_change& change);

  /// Hands leadership to `target` (0: the leader picks the most up-to-date voter) and returns
  /// the id of the node the leader stepped down for. Not re-sent after an unknown outcome.
  caf::expected<node_id> transfer_leadership(node_id target);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// The short name of an error for JSON ("timeout", "not_leader", "unreachable", ...),
/// "bad_request" for invalid_argument, and "internal" for errors of other categories.
std::string error_code(const caf::error& err);

/// The message attached to an error made by the client or the node.
std::string error_message(const caf::error& err);

/// True for timeout and unavailable: the request may or may not have been applied.
bool outcome_unknown(const caf::error& err);

} // namespace raft::cli
