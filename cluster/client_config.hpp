// Options shared by `caf-raft client` and the single-shot commands (--cluster, --timeout,
// --direct), and the actor-system setup both need.
#pragma once

#include <chrono>
#include <string>

#include <caf/actor_system_config.hpp>
#include <caf/expected.hpp>
#include <caf/timespan.hpp>

#include "cluster/client.hpp"

namespace raft::cli {

struct client_config : caf::actor_system_config {
  std::string cluster;
  caf::timespan timeout = std::chrono::seconds(10);
  bool direct = false;

  client_config();
};

/// Validates the parsed options; also registers message types and loads the middleman, so
/// call it once, right before constructing the actor_system.
caf::expected<client_options> prepare_client(client_config& cfg);

} // namespace raft::cli
