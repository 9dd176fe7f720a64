// `caf-raft node`: runs one Raft node in the foreground. Publishes the node through the
// middleman, keeps one connector per peer, and stops cleanly on SIGINT/SIGTERM.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include <fmt/format.h>

#include "actors/node.hpp"
#include "cluster/commands.hpp"
#include "cluster/options.hpp"
#include "cluster/peer_connector.hpp"
#include "cluster/signals.hpp"
#include "config/cluster_spec.hpp"
#include "kv/kv_state_machine.hpp"
#include "messages/registry.hpp"

namespace raft::cli {

namespace {

using namespace std::chrono_literals;

constexpr const char* node_usage =
  "usage: caf-raft node --id=N --members=1=HOST:PORT,2=HOST:PORT,... [options]\n"
  "   or: caf-raft node --config-file=node.ini   (keys in a [raft] section, see README)";

struct node_options : caf::actor_system_config {
  uint64_t id = 0;
  std::string listen;
  std::string data_dir;
  std::string members;                   // command-line form: "1=h:p,2=h:p"
  std::vector<std::string> member_list;  // config-file form: members=["1=h:p", "2=h:p"]
  std::string cluster_id = "caf-raft";
  caf::timespan heartbeat = std::chrono::milliseconds(50);
  caf::timespan election = std::chrono::milliseconds(500);
  bool no_sync = false;

  node_options() {
    // The same settings under "global" (plain --id=... flags, shown by --help) and "raft" (the
    // [raft] section of a config file); both bind the same members, and CLI values win.
    opt_group{custom_options_, "global"}
      .add(id, "id", "this node's id (a positive integer listed in --members)")
      .add(members, "members", "all voters as id=host:port,id=host:port,...")
      .add(listen, "listen", "host:port to listen on (default: this node's member address)")
      .add(data_dir, "data-dir", "LMDB directory (default: caf-raft-data/node-<id>)")
      .add(cluster_id, "cluster-id", "cluster name stored in the data dir (default caf-raft)")
      .add(heartbeat, "heartbeat-interval", "leader heartbeat period (default 50ms)")
      .add(election, "election-timeout", "base election timeout, randomized to [T,2T) (500ms)")
      .add(no_sync, "unsafe-no-sync", "skip fsync: acknowledged writes may be lost on power loss");
    opt_group{custom_options_, "raft"}
      .add(id, "id", "this node's id")
      .add(member_list, "members", "all voters, e.g. [\"1=h:7101\", \"2=h:7102\"]")
      .add(listen, "listen", "host:port to listen on")
      .add(data_dir, "data-dir", "LMDB directory")
      .add(cluster_id, "cluster-id", "cluster name stored in the data dir")
      .add(heartbeat, "heartbeat-interval", "leader heartbeat period")
      .add(election, "election-timeout", "base election timeout")
      .add(no_sync, "unsafe-no-sync", "skip fsync");
  }
};

struct node_plan {
  node_config cfg;
  endpoint listen;
  std::map<node_id, endpoint> members;
};

caf::expected<node_plan> make_plan(const node_options& opts) {
  auto invalid = [](std::string msg) {
    return caf::make_error(caf::sec::invalid_argument, std::move(msg));
  };
  if (opts.id == 0)
    return invalid("--id is required and must be a positive integer");
  auto items = opts.members.empty() ? opts.member_list : std::vector<std::string>{opts.members};
  if (items.empty())
    return invalid("--members is required (id=host:port,...)");
  auto members = parse_members(items);
  if (!members)
    return invalid("invalid --members: " + error_text(members.error()));
  auto self = members->find(opts.id);
  if (self == members->end())
    return invalid(fmt::format("node id {} is not one of the members ({})", opts.id,
                               format_members(*members)));
  node_plan plan;
  plan.members = *members;
  plan.listen = self->second;
  if (!opts.listen.empty()) {
    auto ep = parse_endpoint(opts.listen);
    if (!ep)
      return invalid("invalid --listen: " + error_text(ep.error()));
    // Peers and clients reach this node through its member address; a different port here
    // would make it unreachable, so it is certainly a mistake.
    if (ep->port != self->second.port)
      return invalid(fmt::format("--listen port {} differs from the member address {}",
                                 ep->port, self->second.to_string()));
    plan.listen = *ep;
  }
  if (opts.heartbeat <= caf::timespan{0} || opts.election <= opts.heartbeat)
    return invalid("need 0 < --heartbeat-interval < --election-timeout");
  auto& cfg = plan.cfg;
  cfg.id = opts.id;
  cfg.cluster_id = opts.cluster_id;
  for (auto& [id, ep] : plan.members) {
    cfg.bootstrap.voters.push_back(id);  // std::map iterates sorted, as membership requires
    cfg.bootstrap.addresses.emplace(id, ep.to_string());
  }
  cfg.data_dir = opts.data_dir.empty() ? fmt::format("caf-raft-data/node-{}", opts.id)
                                       : opts.data_dir;
  cfg.sync = !opts.no_sync;
  cfg.heartbeat_interval = opts.heartbeat;
  cfg.election_timeout = opts.election;
  return plan;
}

// Waits for the node's down_msg; false if it did not arrive in time.
bool await_down(caf::scoped_actor& self, caf::error& reason, caf::timespan timeout) {
  bool got = false;
  self->receive([&](caf::down_msg& dm) { reason = std::move(dm.reason); got = true; },
                caf::after(timeout) >> [] {});
  return got;
}

} // namespace

int run_node(const arg_list& args) {
  auto split = split_arguments(args);
  if (!split.positional.empty()) {
    print_error(fmt::format("unexpected argument \"{}\" (options are --name=value)",
                            split.positional.front()));
    return exit_failure;
  }
  node_options opts;
  set_network_defaults(opts);
  switch (parse_options(opts, split.options, node_usage)) {
    case parse_outcome::help_printed: return exit_ok;
    case parse_outcome::failed: return exit_failure;
    case parse_outcome::ok: break;
  }
  auto plan = make_plan(opts);
  if (!plan) {
    print_error(error_text(plan.error()));
    return exit_failure;
  }
  std::error_code ec;
  std::filesystem::create_directories(plan->cfg.data_dir, ec);
  if (ec) {
    print_error(fmt::format("cannot create data dir {}: {}", plan->cfg.data_dir, ec.message()));
    return exit_failure;
  }
  add_message_types(opts);
  opts.load<caf::io::middleman>();
  auto signals = block_signals({SIGINT, SIGTERM});
  caf::actor_system sys{opts};
  auto id = plan->cfg.id;
  auto api = spawn_node(sys, plan->cfg, std::make_unique<kv_state_machine>());
  if (!api) {
    print_error(fmt::format("cannot start node {} with data dir {}: {}", id, plan->cfg.data_dir,
                            sys.render(api.error())));
    return exit_failure;
  }
  auto node = caf::actor_cast<caf::actor>(*api);
  int rc = exit_ok;
  {
    caf::scoped_actor self{sys};
    self->monitor(node);
    caf::error reason;
    auto stop_node = [&] {
      self->send_exit(node, caf::exit_reason::user_shutdown);
      if (!await_down(self, reason, 30s)) {
        // Never hang forever in ~actor_system: the node failed to stop, so give up loudly.
        print_error(fmt::format("node {} did not stop within 30s; exiting", id));
        std::_Exit(exit_failure);
      }
    };
    auto port = sys.middleman().publish(node, plan->listen.port, plan->listen.host.c_str(), true);
    if (!port) {
      print_error(fmt::format("cannot listen on {}: {}", plan->listen.to_string(),
                              sys.render(port.error())));
      stop_node();
      return exit_failure;
    }
    std::vector<caf::actor> connectors;
    for (auto& [peer, where] : plan->members)
      if (peer != id)
        connectors.push_back(spawn_peer_connector(sys, node, peer, where));
    std::fprintf(stderr, "caf-raft: node %llu serving on %s (data dir %s, members %s)\n",
                 static_cast<unsigned long long>(id), plan->listen.to_string().c_str(),
                 plan->cfg.data_dir.c_str(), format_members(plan->members).c_str());
    bool died = false;
    for (;;) {
      if (int sig = wait_for_signal(signals, 100ms); sig != 0) {
        std::fprintf(stderr, "caf-raft: node %llu stopping (%s)\n",
                     static_cast<unsigned long long>(id), sig == SIGINT ? "SIGINT" : "SIGTERM");
        break;
      }
      died = await_down(self, reason, caf::timespan{0});
      if (died)
        break;
    }
    for (auto& c : connectors)
      self->send_exit(c, caf::exit_reason::user_shutdown);
    if (died) {
      print_error(fmt::format("node {} terminated: {}", id, sys.render(reason)));
      rc = exit_failure;
    } else {
      sys.middleman().unpublish(node, *port);
      stop_node();
      std::fprintf(stderr, "caf-raft: node %llu stopped\n", static_cast<unsigned long long>(id));
    }
  }
  return rc;
}

} // namespace raft::cli
