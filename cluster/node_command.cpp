// `caf-raft node`: runs one Raft node in the foreground. Publishes the node through the
// middleman, keeps one connector per member of its configuration, and stops cleanly on
// SIGINT/SIGTERM, handing leadership to another voter first if it leads.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "actors/node.hpp"
#include "cluster/commands.hpp"
#include "cluster/options.hpp"
#include "cluster/peer_directory.hpp"
#include "cluster/signals.hpp"
#include "config/cluster_spec.hpp"
#include "kv/kv_state_machine.hpp"
#include "messages/registry.hpp"

namespace raft::cli {

namespace {

using namespace std::chrono_literals;

constexpr const char* node_usage =
  "usage: caf-raft node --id=N --members=1=HOST:PORT,2=HOST:PORT,... [options]\n"
  "   or: caf-raft node --id=N --join --listen=HOST:PORT --members=<existing members> [options]\n"
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
  bool join = false;
  uint64_t snapshot_entries = node_config{}.snapshot_entries;
  uint64_t snapshot_bytes = node_config{}.snapshot_bytes;
  uint64_t snapshot_trailing = node_config{}.snapshot_trailing_entries;
  double snapshot_ratio = node_config{}.snapshot_log_ratio;

  node_options() {
    // The same settings under "global" (plain --id=... flags, shown by --help) and "raft" (the
    // [raft] section of a config file); both bind the same members, and CLI values win.
    opt_group{custom_options_, "global"}
      .add(id, "id", "this node's id (a positive integer listed in --members)")
      .add(members, "members", "all voters as id=host:port,id=host:port,...")
      .add(listen, "listen", "host:port to listen on (default: this node's member address)")
      .add(data_dir, "data-dir", "data directory (default: caf-raft-data/node-<id>)")
      .add(cluster_id, "cluster-id", "cluster name stored in the data dir (default caf-raft)")
      .add(heartbeat, "heartbeat-interval", "leader heartbeat period (default 50ms)")
      .add(election, "election-timeout", "base election timeout, randomized to [T,2T) (500ms)")
      .add(no_sync, "unsafe-no-sync", "skip fsync: acknowledged writes may be lost on power loss")
      .add(join, "join", "start as a non-member of the running cluster listed in --members and "
                         "wait to be added (caf-raft member add); needs --listen")
      .add(snapshot_entries, "snapshot-entries",
           "snapshot after this many applied entries (default 10000; 0: no count trigger)")
      .add(snapshot_bytes, "snapshot-bytes",
           "snapshot after this many bytes of applied commands (default 64 MiB; 0: none)")
      .add(snapshot_trailing, "snapshot-trailing",
           "log entries kept below a snapshot for lagging followers (default 5000)")
      .add(snapshot_ratio, "snapshot-ratio",
           "snapshot only once the commands since the last one reach this many times its size "
           "(default 1.0; 0: the count and byte triggers alone)");
    opt_group{custom_options_, "raft"}
      .add(id, "id", "this node's id")
      .add(member_list, "members", "all voters, e.g. [\"1=h:7101\", \"2=h:7102\"]")
      .add(listen, "listen", "host:port to listen on")
      .add(data_dir, "data-dir", "data directory")
      .add(cluster_id, "cluster-id", "cluster name stored in the data dir")
      .add(heartbeat, "heartbeat-interval", "leader heartbeat period")
      .add(election, "election-timeout", "base election timeout")
      .add(no_sync, "unsafe-no-sync", "skip fsync")
      .add(join, "join", "start as a non-member and wait to be added")
      .add(snapshot_entries, "snapshot-entries", "snapshot after this many applied entries")
      .add(snapshot_bytes, "snapshot-bytes", "snapshot after this many bytes of commands")
      .add(snapshot_trailing, "snapshot-trailing", "log entries kept below a snapshot")
      .add(snapshot_ratio, "snapshot-ratio", "commands since the last snapshot / its size");
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
  if (self == members->end() && !opts.join)
    return invalid(fmt::format("node id {} is not one of the members ({}); to add a node to a "
                               "running cluster, start it with --join",
                               opts.id, format_members(*members)));
  if (self == members->end() && opts.listen.empty())
    return invalid("--join needs --listen=HOST:PORT: the address the node will be added with");
  node_plan plan;
  plan.members = *members;
  if (opts.join) {
    // A joining node is no voter of its bootstrap configuration: it must not elect itself or
    // count in anybody's quorum before the leader's configuration that adds it reaches it.
    plan.members.erase(opts.id);
    if (plan.members.empty())
      return invalid("--join needs --members to list at least one existing member");
  }
  if (self != members->end())
    plan.listen = self->second;
  if (!opts.listen.empty()) {
    auto ep = parse_endpoint(opts.listen);
    if (!ep)
      return invalid("invalid --listen: " + error_text(ep.error()));
    // Peers and clients reach this node through its member address; a different port here
    // would make it unreachable, so it is certainly a mistake.
    if (self != members->end() && ep->port != self->second.port)
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
  cfg.snapshot_entries = opts.snapshot_entries;
  cfg.snapshot_bytes = opts.snapshot_bytes;
  cfg.snapshot_trailing_entries = opts.snapshot_trailing;
  if (!(opts.snapshot_ratio >= 0))
    return invalid("--snapshot-ratio must be a number >= 0");
  cfg.snapshot_log_ratio = opts.snapshot_ratio;
  return plan;
}

// Waits for the node's down_msg; false if it did not arrive in time.
bool await_down(caf::scoped_actor& self, caf::error& reason, caf::timespan timeout) {
  bool got = false;
  self->receive([&](caf::down_msg& dm) { reason = std::move(dm.reason); got = true; },
                caf::after(timeout) >> [] {});
  return got;
}

// Asks the node for its status; nullopt (and a message) if it does not answer in time.
std::optional<node_status> query_status(caf::scoped_actor& self, const node_api& api,
                                        caf::timespan timeout) {
  std::optional<node_status> out;
  self->request(api, timeout, status_atom::value)
    .receive([&](node_status& st) { out = std::move(st); },
             [&](caf::error& err) {
               print_error("cannot read the node's status: " + self->system().render(err));
             });
  return out;
}

// On shutdown, a leader hands over to the most up-to-date voter so the cluster does not sit
// through an election timeout. Bounded: the node gives up after one election timeout itself.
void hand_over_leadership(caf::scoped_actor& self, const node_api& api, node_id id,
                          caf::timespan election_timeout) {
  auto st = query_status(self, api, 1s);
  if (!st || st->role != "leader")
    return;
  auto voters = st->config.voters;
  if (voters.size() == 1 && voters.front() == id) {
    std::fprintf(stderr, "caf-raft: node %llu is the only voter; no leadership transfer\n",
                 static_cast<unsigned long long>(id));
    return;
  }
  std::fprintf(stderr, "caf-raft: node %llu is the leader; transferring leadership before "
                       "stopping\n", static_cast<unsigned long long>(id));
  self->request(api, election_timeout + 1s, transfer_atom::value, no_node)
    .receive(
      [&](node_id successor) {
        std::fprintf(stderr, "caf-raft: node %llu handed leadership to node %llu\n",
                     static_cast<unsigned long long>(id),
                     static_cast<unsigned long long>(successor));
      },
      [&](caf::error& err) {
        std::fprintf(stderr, "caf-raft: leadership transfer failed (%s); stopping anyway\n",
                     self->system().render(err).c_str());
      });
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
  set_network_defaults(opts, 1);  // see config/scheduler_tuning.hpp
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
  // Past a file size limit (ulimit -f) a write fails (EFBIG, or a short write reported as EIO)
  // instead of SIGXFSZ killing the process mid-commit, so the node stops with a storage error
  // and its reason, as on a full disk.
  ::signal(SIGXFSZ, SIG_IGN);
  caf::actor_system sys{opts};
  auto id = plan->cfg.id;
  // The directory exists before the node so that the node's observer can report every
  // configuration change to it; it connects once it knows the node.
  auto directory = spawn_peer_directory(sys, id);
  plan->cfg.observer = peer_directory_observer(directory);
  // The node's diagnostics (step-downs, storage failures) belong with our other log lines on
  // stderr; without this they would go to stdout through CAF's aout.
  plan->cfg.log = [](const std::string& line) { print_error(line); };
  auto api = spawn_node(sys, plan->cfg, std::make_unique<kv_state_machine>());
  if (!api) {
    print_error(fmt::format("cannot start node {} with data dir {}: {}", id, plan->cfg.data_dir,
                            sys.render(api.error())));
    caf::anon_send_exit(directory, caf::exit_reason::user_shutdown);
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
      self->send_exit(directory, caf::exit_reason::user_shutdown);
      stop_node();
      return exit_failure;
    }
    attach_peer_directory(directory, node);
    std::fprintf(stderr, "caf-raft: node %llu serving on %s (data dir %s, members %s)\n",
                 static_cast<unsigned long long>(id), plan->listen.to_string().c_str(),
                 plan->cfg.data_dir.c_str(), format_members(plan->members).c_str());
    // The stored configuration wins over --members after a restart; say which one is in effect.
    if (auto st = query_status(self, *api, 10s)) {
      if (st->config.contains(id))
        std::fprintf(stderr, "caf-raft: node %llu is a %s of the configuration (voters %s)\n",
                     static_cast<unsigned long long>(id),
                     st->config.is_voter(id) ? "voter" : "learner",
                     fmt::format("{}", fmt::join(st->config.voters, ",")).c_str());
      else
        std::fprintf(stderr,
                     "caf-raft: node %llu is not a member yet; add it with: caf-raft member add "
                     "%llu=%s --cluster=...\n",
                     static_cast<unsigned long long>(id), static_cast<unsigned long long>(id),
                     plan->listen.to_string().c_str());
    }
    bool died = false;
    for (;;) {
      if (int sig = wait_for_signal(signals, 100ms); sig != 0) {
        std::fprintf(stderr, "caf-raft: node %llu stopping (%s)\n",
                     static_cast<unsigned long long>(id), sig == SIGINT ? "SIGINT" : "SIGTERM");
        hand_over_leadership(self, *api, id, plan->cfg.election_timeout);
        break;
      }
      died = await_down(self, reason, caf::timespan{0});
      if (died)
        break;
    }
    self->send_exit(directory, caf::exit_reason::user_shutdown);
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
