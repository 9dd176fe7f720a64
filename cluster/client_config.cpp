// Client option definitions and validation.
#include "cluster/client_config.hpp"

#include <caf/io/middleman.hpp>

#include "cluster/options.hpp"
#include "messages/registry.hpp"

namespace raft::cli {

client_config::client_config() {
  opt_group{custom_options_, "global"}
    .add(cluster, "cluster", "cluster members to contact: host:port,host:port,...")
    .add(timeout, "timeout", "deadline per command, e.g. 10s or 500ms (default 10s)")
    .add(direct, "direct", "talk only to the first --cluster address: no leader redirects");
  set_network_defaults(*this, 1);
}

caf::expected<client_options> prepare_client(client_config& cfg) {
  auto invalid = [](std::string msg) {
    return caf::make_error(caf::sec::invalid_argument, std::move(msg));
  };
  if (cfg.cluster.empty())
    return invalid("--cluster=host:port,... is required");
  auto seeds = parse_endpoints(cfg.cluster);
  if (!seeds)
    return invalid("invalid --cluster: " + error_text(seeds.error()));
  if (cfg.timeout <= caf::timespan{0})
    return invalid("--timeout must be positive");
  add_message_types(cfg);
  cfg.load<caf::io::middleman>();
  client_options opts;
  opts.seeds = std::move(*seeds);
  opts.timeout = cfg.timeout;
  opts.direct = cfg.direct;
  return opts;
}

} // namespace raft::cli
