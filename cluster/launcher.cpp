// `caf-raft launch`: starts N node processes of this very binary on 127.0.0.1, reports children
// that die (never restarting them silently), and stops them all on SIGINT/SIGTERM.
#include <chrono>
#include <cerrno>
#include <climits>
#include <cstring>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <caf/actor_system_config.hpp>
#include <fmt/format.h>

#include "cluster/commands.hpp"
#include "cluster/options.hpp"
#include "cluster/signals.hpp"
#include "config/cluster_spec.hpp"

namespace raft::cli {

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

constexpr const char* launch_usage =
  "usage: caf-raft launch [--nodes=3] [--dir=./caf-raft-data] [--base-port=7101] [options]\n"
  "starts node i on 127.0.0.1:(base-port + i - 1) with data dir DIR/node-i;\n"
  "--middleman.* and --snapshot-* options are passed on to the nodes";

struct launch_config : caf::actor_system_config {
  size_t nodes = 3;
  std::string dir = "./caf-raft-data";
  uint16_t base_port = 7101;
  std::string host = "127.0.0.1";
  caf::timespan heartbeat = std::chrono::milliseconds(50);
  caf::timespan election = std::chrono::milliseconds(500);
  bool no_sync = false;
  bool exit_on_failure = false;
  // Parsed here only to validate them; the nodes get the options verbatim (see run_launch).
  uint64_t snapshot_entries = 0;
  uint64_t snapshot_bytes = 0;
  uint64_t snapshot_trailing = 0;
  double snapshot_ratio = 0;

  launch_config() {
    opt_group{custom_options_, "global"}
      .add(nodes, "nodes", "number of node processes (default 3)")
      .add(dir, "dir", "base directory for the data dirs (default ./caf-raft-data)")
      .add(base_port, "base-port", "port of node 1; node i uses base-port + i - 1 (7101)")
      .add(host, "host", "address to listen on (default 127.0.0.1)")
      .add(heartbeat, "heartbeat-interval", "passed to every node (default 50ms)")
      .add(election, "election-timeout", "passed to every node (default 500ms)")
      .add(no_sync, "unsafe-no-sync", "passed to every node: skip fsync")
      .add(exit_on_failure, "exit-on-failure", "stop everything when one node dies")
      .add(snapshot_entries, "snapshot-entries", "passed to every node (see node --help)")
      .add(snapshot_bytes, "snapshot-bytes", "passed to every node")
      .add(snapshot_trailing, "snapshot-trailing", "passed to every node")
      .add(snapshot_ratio, "snapshot-ratio", "passed to every node");
  }
};

struct child {
  node_id id = 0;
  pid_t pid = -1;
  bool running = false;
};

std::string self_exe() {
  char buf[PATH_MAX];
  auto n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0)
    return "caf-raft";
  return std::string(buf, static_cast<size_t>(n));
}

std::string describe_status(int status) {
  if (WIFEXITED(status))
    return fmt::format("exited with status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return fmt::format("was killed by signal {} ({})", WTERMSIG(status),
                       strsignal(WTERMSIG(status)));
  return "stopped";
}

pid_t spawn_child(const std::string& exe, const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  auto parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    unblock_all_signals();
    // Nodes must not outlive a launcher that was killed hard (e.g. SIGKILL from a test).
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
      _exit(1);
    execv("/proc/self/exe", argv.data());
    std::fprintf(stderr, "caf-raft: cannot exec %s: %s\n", exe.c_str(), strerror(errno));
    _exit(127);
  }
  return pid;
}

} // namespace

int run_launch(const arg_list& args) {
  auto split = split_arguments(args);
  if (!split.positional.empty()) {
    print_error(fmt::format("unexpected argument \"{}\"", split.positional.front()));
    return exit_failure;
  }
  launch_config cfg;
  // Pass --middleman.* and --snapshot-* to the nodes verbatim, so that a node's own defaults
  // apply when they are not given; the launcher itself parses them only to validate.
  std::vector<std::string> forwarded;
  for (auto& opt : split.options)
    if (opt.rfind("--middleman.", 0) == 0 || opt.rfind("--snapshot-", 0) == 0)
      forwarded.push_back(opt);
  switch (parse_options(cfg, split.options, launch_usage)) {
    case parse_outcome::help_printed: return exit_ok;
    case parse_outcome::failed: return exit_failure;
    case parse_outcome::ok: break;
  }
  if (cfg.nodes < 1 || cfg.nodes > 99) {
    print_error("--nodes must be between 1 and 99");
    return exit_failure;
  }
  if (cfg.base_port == 0 || size_t{cfg.base_port} + cfg.nodes - 1 > 65535) {
    print_error("--base-port must leave room for all nodes below 65536");
    return exit_failure;
  }
  std::map<node_id, endpoint> members;
  for (size_t i = 1; i <= cfg.nodes; ++i)
    members.emplace(i, endpoint{cfg.host, static_cast<uint16_t>(cfg.base_port + i - 1)});
  auto exe = self_exe();
  auto member_spec = format_members(members);
  std::string cluster;
  for (auto& [id, ep] : members)
    cluster += (cluster.empty() ? "" : ",") + ep.to_string();
  auto signals = block_signals({SIGINT, SIGTERM, SIGCHLD});
  std::vector<child> children;
  for (auto& [id, ep] : members) {
    std::vector<std::string> argv{"caf-raft", "node", fmt::format("--id={}", id),
                                  "--members=" + member_spec,
                                  fmt::format("--data-dir={}/node-{}", cfg.dir, id),
                                  "--heartbeat-interval=" + caf::deep_to_string(cfg.heartbeat),
                                  "--election-timeout=" + caf::deep_to_string(cfg.election)};
    if (cfg.no_sync)
      argv.emplace_back("--unsafe-no-sync");
    argv.insert(argv.end(), forwarded.begin(), forwarded.end());
    auto pid = spawn_child(exe, argv);
    if (pid < 0) {
      print_error(fmt::format("cannot fork node {}: {}", id, strerror(errno)));
      for (auto& c : children)
        kill(c.pid, SIGTERM);
      for (auto& c : children)
        waitpid(c.pid, nullptr, 0);
      return exit_failure;
    }
    children.push_back(child{id, pid, true});
  }
  std::printf("caf-raft: launched %zu nodes\n", cfg.nodes);
  for (auto& c : children)
    std::printf("  node %llu: %s  pid %d  data %s/node-%llu\n",
                static_cast<unsigned long long>(c.id), members[c.id].to_string().c_str(),
                static_cast<int>(c.pid), cfg.dir.c_str(), static_cast<unsigned long long>(c.id));
  std::printf("members: %s\n", member_spec.c_str());
  std::printf("client:  %s client --cluster=%s\n", exe.c_str(), cluster.c_str());
  std::printf("Ctrl-C stops all nodes.\n");
  std::fflush(stdout);
  bool stopping = false;
  bool failed = false;
  size_t running = children.size();
  steady::time_point kill_at{};
  auto stop_all = [&](bool failure) {
    if (stopping)
      return;
    stopping = true;
    failed = failed || failure;
    kill_at = steady::now() + 20s;
    for (auto& c : children)
      if (c.running)
        kill(c.pid, SIGTERM);
  };
  while (running > 0) {
    int sig = wait_for_signal(signals, 200ms);
    if (sig == SIGINT || sig == SIGTERM) {
      if (!stopping)
        std::fprintf(stderr, "caf-raft: stopping all nodes\n");
      stop_all(false);
    }
    int status = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      for (auto& c : children) {
        if (c.pid != pid || !c.running)
          continue;
        c.running = false;
        --running;
        bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (!stopping || !clean)
          std::fprintf(stderr, "caf-raft: node %llu (pid %d) %s%s\n",
                       static_cast<unsigned long long>(c.id), static_cast<int>(pid),
                       describe_status(status).c_str(),
                       stopping ? "" : "; it is NOT restarted");
        if (!clean)
          failed = true;
        if (!stopping && cfg.exit_on_failure)
          stop_all(true);
      }
    }
    if (stopping && running > 0 && steady::now() >= kill_at) {
      std::fprintf(stderr, "caf-raft: nodes did not stop within 20s; killing them\n");
      for (auto& c : children)
        if (c.running)
          kill(c.pid, SIGKILL);
      kill_at = steady::now() + 1h;
    }
  }
  if (!stopping)
    std::fprintf(stderr, "caf-raft: all nodes have exited\n");
  return failed || !stopping ? exit_failure : exit_ok;
}

} // namespace raft::cli
