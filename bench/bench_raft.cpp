// Load generator for caf-raft (issue #7): N proposals in flight (closed loop) or R per second
// (open loop, --rate) against an in-process 3-node cluster or remote `caf-raft node` processes;
// also failover, restart-recovery and snapshot probes.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <sys/types.h>
#include <unistd.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <filesystem>

#include <fmt/format.h>

#include "actors/node.hpp"
#include "actors/proposer.hpp"
#include "config/scheduler_tuning.hpp"
#include "kv/kv_state_machine.hpp"
#include "messages/codec.hpp"
#include "messages/errc.hpp"
#include "messages/kv.hpp"
#include "messages/registry.hpp"

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

using brun_atom = caf::atom_constant<caf::atom("brun")>;
using bwatch_atom = caf::atom_constant<caf::atom("bwatch")>;
using btick_atom = caf::atom_constant<caf::atom("btick")>;

struct config : caf::actor_system_config {
  std::string mode = "inproc";  // inproc | remote | failover | recovery | snapshot
  std::string dir = "/tmp/caf-raft-bench";
  std::string cluster;          // remote/failover: host:port,host:port,... in node-id order
  std::string pids;             // remote/failover: node pids in the same order (CPU/RSS, kill)
  size_t inflight = 64;
  double rate = 0;              // > 0: open loop at this many requests/s (inflight = cap)
  size_t batches = 0;           // > 0: through a raft::proposer with this many batches in flight
  size_t value_size = 64;
  size_t ops = 200000;          // measured operations (upper bound)
  size_t warmup = 0;            // unmeasured operations first; default ops/10
  double seconds = 10;          // measured window (upper bound)
  size_t keyspace = 100000;
  double snapshot_ratio = raft::node_config{}.snapshot_log_ratio;
  size_t entries = 1000000;     // recovery: log length to build
  size_t state_mb = 256;        // snapshot: size of the replicated state to build
  bool no_sync = false;
  std::string label;
  config() {
    opt_group{custom_options_, "global"}
      .add(mode, "mode", "inproc | remote | failover | recovery | snapshot")
      .add(state_mb, "state-mb", "snapshot: MiB of state (values of --value-size bytes)")
      .add(dir, "dir", "data dir root (inproc, recovery)")
      .add(cluster, "cluster", "remote: comma-separated host:port in node-id order")
      .add(pids, "pids", "remote: comma-separated node pids, same order")
      .add(inflight, "inflight",
           "requests kept in flight (with --rate: the most that may be outstanding)")
      .add(rate, "rate",
           "open loop: issue this many requests/s on a fixed schedule, whether or not earlier "
           "ones were answered; latency counts from each request's scheduled time (0: closed "
           "loop, the default)")
      .add(batches, "batches",
           "client-side batching: requests go through a raft::proposer that keeps this many "
           "batch proposals in flight (0: one message per request, the default)")
      .add(value_size, "value-size", "value bytes (key is 16 bytes)")
      .add(ops, "ops", "measured operations (upper bound)")
      .add(warmup, "warmup", "unmeasured operations before the window (default ops/10)")
      .add(seconds, "seconds", "measured window in seconds (upper bound)")
      .add(keyspace, "keyspace", "distinct keys")
      .add(entries, "entries", "recovery: entries to write before the restart")
      .add(no_sync, "no-sync", "inproc/recovery: node_config.sync=false")
      .add(snapshot_ratio, "snapshot-ratio", "in-process modes: node_config.snapshot_log_ratio")
      .add(label, "label", "free text copied to the result line");
    raft::add_message_types(*this);
    // Nodes drop connections that send no middleman heartbeats (cluster/README-cli.md).
    set("middleman.heartbeat-interval", caf::timespan{std::chrono::milliseconds(100)});
    raft::tune_scheduler(*this);  // as the CLI's nodes and clients
  }
};

void sh(const std::string& cmd) {
  if (std::system(cmd.c_str()) != 0)
    fmt::print(stderr, "command failed: {}\n", cmd);
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now().time_since_epoch())
    .count();
}

int64_t process_cpu_ns() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

long self_maxrss_kb() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

// utime+stime of a process in ns, from /proc/<pid>/stat; -1 if gone.
int64_t pid_cpu_ns(pid_t pid) {
  std::ifstream in{fmt::format("/proc/{}/stat", pid)};
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto p = s.rfind(')');
  if (p == std::string::npos)
    return -1;
  std::istringstream rest{s.substr(p + 2)};
  std::string tok;
  unsigned long long ut = 0, st = 0;
  for (int field = 3; rest >> tok; ++field) {
    if (field == 14)
      ut = std::stoull(tok);
    else if (field == 15) {
      st = std::stoull(tok);
      break;
    }
  }
  return static_cast<int64_t>((ut + st) * (1000000000ull / sysconf(_SC_CLK_TCK)));
}

long pid_hwm_kb(pid_t pid) {
  std::ifstream in{fmt::format("/proc/{}/status", pid)};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0)
      return std::stol(line.substr(6));
  return -1;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      if (!cur.empty())
        out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty())
    out.push_back(cur);
  return out;
}

// --- the load generator ---------------------------------------------------------------------
// Closed loop (default): `inflight` requests outstanding, each answer sends the next one.
// Open loop (rate > 0): request i is due at t_begin + i/rate; due requests go out every
// millisecond, at most `inflight` outstanding. A request held back by that cap keeps its due
// time, so queueing in the client is part of its latency (no coordinated omission).

struct gen_params {
  size_t inflight, value_size, ops, warmup, keyspace;
  double seconds;
  double rate;              // requests/s; 0 = closed loop
  std::vector<pid_t> pids;  // remote nodes to sample (empty in-process)
};

struct gen_state {
  static inline const char* name = "bench.gen";
  gen_params p;
  raft::proposal_api target;
  raft::kv_command command;  // a put; issue() writes each request's key into it
  caf::response_promise rp;
  size_t issued = 0, completed = 0, measured = 0, errors = 0, outstanding = 0;
  bool in_window = false, stop_issuing = false;
  int64_t t_begin = 0, t_start = 0, t_end = 0, deadline = 0, cpu_start = 0;
  int64_t last_progress = 0;
  bool finished = false;
  std::vector<int64_t> node_cpu_start;
  std::vector<int64_t> lat;  // ns, measured window only
  std::string first_error;
};

using gen_actor = caf::stateful_actor<gen_state>;

std::string finish(gen_actor* self);

void issue(gen_actor* self, int64_t t0);

// Open loop: sends every request that is due, as far as the cap on outstanding ones allows.
void pump(gen_actor* self) {
  auto& st = self->state;
  auto ns_per_req = 1e9 / st.p.rate;
  auto due = static_cast<size_t>(static_cast<double>(now_ns() - st.t_begin) / ns_per_req) + 1;
  while (!st.stop_issuing && st.issued < due && st.outstanding < st.p.inflight)
    issue(self, st.t_begin + static_cast<int64_t>(static_cast<double>(st.issued) * ns_per_req));
}

void issue(gen_actor* self, int64_t t0) {
  auto& st = self->state;
  auto i = st.issued++;
  ++st.outstanding;
  // The command is built in place, so that the load costs the client one allocation per write
  // (the payload) on top of the message.
  st.command.key.resize(16);
  fmt::format_to_n(st.command.key.data(), 16, "{:016d}", (i * 2654435761u) % st.p.keyspace);
  auto cmd = raft::encode(st.command);
  bool counted = st.in_window;
  auto done = [self, t0, counted](bool ok) {
    auto& st = self->state;
    if (st.finished)
      return;
    --st.outstanding;
    auto t1 = now_ns();
    st.last_progress = t1;
    if (ok) {
      ++st.completed;
      if (counted && st.in_window) {
        st.lat.push_back(t1 - t0);
        ++st.measured;
      }
    } else {
      ++st.errors;
    }
    // The window opens after `warmup` completions or one second, whichever comes first.
    if (!st.in_window && !st.stop_issuing
        && (st.completed >= st.p.warmup || t1 - st.t_begin >= 1000000000)) {
      st.in_window = true;
      st.t_start = t1;
      st.deadline = t1 + static_cast<int64_t>(st.p.seconds * 1e9);
      st.cpu_start = process_cpu_ns();
      for (auto pid : st.p.pids)
        st.node_cpu_start.push_back(pid_cpu_ns(pid));
    }
    if (st.in_window && !st.stop_issuing
        && (st.issued >= st.p.warmup + st.p.ops || t1 >= st.deadline || st.errors > 1000))
      st.stop_issuing = true;
    if (!st.stop_issuing && st.p.rate <= 0)
      issue(self, now_ns());
    else if (!st.stop_issuing)
      pump(self);
    else if (st.outstanding == 0)
      st.rp.deliver(finish(self));
  };
  // No per-request timeout: CAF arms one timer per request on its clock thread, which would
  // dominate the client's CPU. The watchdog in generator() ends a run that stops progressing.
  self->request(st.target, caf::infinite, raft::propose_atom::value, std::move(cmd))
    .then([done](std::string&) { done(true); },
          [self, done](caf::error& err) {
            if (self->state.first_error.empty())
              self->state.first_error = self->system().render(err);
            std::replace(self->state.first_error.begin(), self->state.first_error.end(), '"',
                         '\'');
            done(false);
          });
}

int64_t pct(std::vector<int64_t>& v, double q) {
  if (v.empty())
    return 0;
  auto k = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

std::string finish(gen_actor* self) {
  auto& st = self->state;
  st.finished = true;
  st.t_end = now_ns();
  auto cpu = process_cpu_ns() - st.cpu_start;
  auto secs = static_cast<double>(st.t_end - st.t_start) / 1e9;
  auto n = static_cast<double>(std::max<size_t>(st.measured, 1));
  std::string out = fmt::format(
    "\"ops\":{},\"errors\":{},\"secs\":{:.3f},\"ops_per_s\":{:.0f},\"p50_us\":{:.1f},"
    "\"p99_us\":{:.1f},\"p999_us\":{:.1f},\"client_cpu_us_per_op\":{:.2f}",
    st.measured, st.errors, secs, static_cast<double>(st.measured) / secs,
    pct(st.lat, 0.5) / 1e3, pct(st.lat, 0.99) / 1e3, pct(st.lat, 0.999) / 1e3,
    static_cast<double>(cpu) / 1e3 / n);
  if (!st.p.pids.empty()) {
    int64_t total = 0;
    std::string per;
    for (size_t i = 0; i < st.p.pids.size(); ++i) {
      auto c = pid_cpu_ns(st.p.pids[i]) - st.node_cpu_start[i];
      total += c;
      per += fmt::format("{}{{\"pid\":{},\"cpu_s\":{:.3f},\"hwm_kb\":{}}}", i ? "," : "",
                         st.p.pids[i], c / 1e9, pid_hwm_kb(st.p.pids[i]));
    }
    out += fmt::format(",\"nodes_cpu_us_per_op\":{:.2f},\"total_cpu_us_per_op\":{:.2f},"
                       "\"nodes\":[{}]",
                       total / 1e3 / n, (total + cpu) / 1e3 / n, per);
  } else {
    out += fmt::format(",\"process_cpu_s\":{:.3f},\"total_cpu_us_per_op\":{:.2f}", cpu / 1e9,
                       static_cast<double>(cpu) / 1e3 / n);
  }
  if (!st.first_error.empty())
    out += fmt::format(",\"first_error\":\"{}\"", st.first_error);
  return out;
}

caf::behavior generator(gen_actor* self, gen_params p, raft::proposal_api target) {
  self->state.p = std::move(p);
  self->state.target = std::move(target);
  self->state.command = raft::kv_command::put({}, std::string(self->state.p.value_size, 'v'));
  self->state.lat.reserve(std::min<size_t>(self->state.p.ops, 4000000));
  return {[self](brun_atom) -> caf::result<std::string> {
    auto& st = self->state;
    st.rp = self->make_response_promise();
    st.t_begin = st.last_progress = now_ns();
    self->delayed_send(self, std::chrono::seconds(1), bwatch_atom::value);
    if (st.p.warmup == 0) {
      st.in_window = true;
      st.t_start = now_ns();
      st.deadline = st.t_start + static_cast<int64_t>(st.p.seconds * 1e9);
      st.cpu_start = process_cpu_ns();
      for (auto pid : st.p.pids)
        st.node_cpu_start.push_back(pid_cpu_ns(pid));
    }
    if (st.p.rate > 0) {
      pump(self);
      self->delayed_send(self, std::chrono::milliseconds(1), btick_atom::value);
    } else {
      for (size_t i = 0; i < st.p.inflight; ++i)
        issue(self, now_ns());
    }
    return st.rp;
  },
  [self](btick_atom) {
    auto& st = self->state;
    if (st.finished || st.stop_issuing)
      return;
    // The window may also close by time while nothing is answered (a stalled cluster).
    if (st.in_window && now_ns() >= st.deadline) {
      st.stop_issuing = true;
      if (st.outstanding == 0)
        st.rp.deliver(finish(self));
      return;
    }
    pump(self);
    self->delayed_send(self, std::chrono::milliseconds(1), btick_atom::value);
  },
  [self](bwatch_atom) {
    auto& st = self->state;
    if (st.finished)
      return;
    if (now_ns() - st.last_progress > 30'000'000'000) {
      st.errors += st.outstanding;
      st.first_error = fmt::format("no reply for 30 s ({} requests outstanding)", st.outstanding);
      st.rp.deliver(finish(self));
      return;
    }
    self->delayed_send(self, std::chrono::seconds(1), bwatch_atom::value);
  }};
}

std::string run_load(caf::actor_system& sys, gen_params p, const raft::node_api& leader,
                     size_t batches) {
  auto rate = p.rate;
  raft::proposal_api target = leader;
  if (batches > 0) {
    raft::proposer_options opts;
    opts.max_batches_in_flight = batches;
    target = raft::spawn_proposer(sys, leader, opts);
  }
  auto gen = sys.spawn(generator, std::move(p), target);
  caf::scoped_actor self{sys};
  std::string out;
  self->request(gen, caf::infinite, brun_atom::value)
    .receive([&](std::string& s) { out = std::move(s); },
             [&](caf::error& err) { out = "\"error\":\"" + sys.render(err) + "\""; });
  self->send_exit(gen, caf::exit_reason::user_shutdown);
  if (batches > 0)
    self->send_exit(target, caf::exit_reason::user_shutdown);
  return fmt::format("\"batches\":{},\"rate\":{:.0f},{}", batches, rate, out);
}

// --- cluster helpers --------------------------------------------------------------------------

caf::optional<raft::node_status> status_of(caf::scoped_actor& self, const raft::node_api& n,
                                           caf::timespan tmo = std::chrono::seconds(1)) {
  caf::optional<raft::node_status> out;
  self->request(n, tmo, raft::status_atom::value)
    .receive([&](raft::node_status& s) { out = std::move(s); }, [&](caf::error&) {});
  return out;
}

// Index of the node that reports itself leader and commits a write, or -1 after `tmo`.
int wait_leader(caf::scoped_actor& self, std::vector<raft::node_api>& nodes,
                std::chrono::milliseconds tmo = 20s) {
  auto until = steady::now() + tmo;
  while (steady::now() < until) {
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (!nodes[i])
        continue;
      auto s = status_of(self, nodes[i], std::chrono::milliseconds(300));
      if (s && s->role == "leader") {
        bool ok = false;
        self
          ->request(nodes[i], 2s, raft::propose_atom::value,
                    raft::encode(raft::kv_command::put("warmup-key-0000", "x")))
          .receive([&](std::string&) { ok = true; }, [&](caf::error&) {});
        if (ok)
          return static_cast<int>(i);
      }
    }
    std::this_thread::sleep_for(20ms);
  }
  return -1;
}

struct inproc_cluster {
  caf::actor_system& sys;
  const config& cfg;
  std::string root;
  std::vector<raft::node_api> nodes;
  double snapshot_ratio = cfg.snapshot_ratio;
  // Snapshots each node restored (at start-up or installed from the leader); counted only when
  // asked, since the observer runs for every applied entry.
  bool count_restores = false;
  std::array<std::atomic<int>, 3> restores{};

  caf::expected<raft::node_api> start(raft::node_id id) {
    raft::membership members;
    members.voters = {1, 2, 3};
    raft::node_config nc;
    nc.id = id;
    nc.bootstrap = members;
    nc.data_dir = fmt::format("{}/node-{}", root, id);
    nc.sync = !cfg.no_sync;
    nc.snapshot_log_ratio = snapshot_ratio;
    nc.log = [](const std::string&) {};
    if (count_restores)
      nc.observer = [this, id](const raft::node_event& ev) {
        if (ev.kind == raft::node_event::snapshot_restored)
          ++restores[id - 1];
      };
    return raft::spawn_node(sys, nc, std::make_unique<raft::kv_state_machine>());
  }

  void wire() {
    for (size_t i = 0; i < nodes.size(); ++i)
      for (size_t j = 0; j < nodes.size(); ++j)
        if (i != j && nodes[i] && nodes[j])
          caf::anon_send(caf::actor_cast<caf::actor>(nodes[i]), raft::peer_atom::value,
                         raft::node_id{j + 1}, caf::actor_cast<caf::actor>(nodes[j]));
  }

  bool start_all() {
    for (raft::node_id id = 1; id <= 3; ++id) {
      auto n = start(id);
      if (!n) {
        fmt::print(stderr, "cannot start node {}: {}\n", id, sys.render(n.error()));
        return false;
      }
      nodes.push_back(*n);
    }
    wire();
    return true;
  }

  void stop(size_t i) {
    caf::scoped_actor self{sys};
    self->monitor(nodes[i]);
    self->send_exit(nodes[i], caf::exit_reason::user_shutdown);
    self->receive([](caf::down_msg&) {}, caf::after(30s) >> [] {});
    nodes[i] = raft::node_api{};
  }

  void stop_all() {
    for (size_t i = 0; i < nodes.size(); ++i)
      if (nodes[i])
        stop(i);
  }
};

gen_params params_of(const config& cfg) {
  return gen_params{cfg.inflight, cfg.value_size, cfg.ops,
                    cfg.warmup ? cfg.warmup : std::max<size_t>(cfg.ops / 10, cfg.inflight),
                    cfg.keyspace, cfg.seconds, cfg.rate, {}};
}

void run_inproc(caf::actor_system& sys, const config& cfg) {
  auto root = fmt::format("{}/inproc-{}", cfg.dir, getpid());
  sh(fmt::format("rm -rf '{}' && mkdir -p '{}'", root, root));
  inproc_cluster c{sys, cfg, root, {}};
  if (!c.start_all())
    return;
  caf::scoped_actor self{sys};
  auto leader = wait_leader(self, c.nodes);
  if (leader < 0) {
    fmt::print(stderr, "no leader\n");
    c.stop_all();
    return;
  }
  auto res = run_load(sys, params_of(cfg), c.nodes[static_cast<size_t>(leader)], cfg.batches);
  fmt::print("{{\"mode\":\"inproc\",\"sync\":{},\"inflight\":{},\"value\":{},{},"
             "\"peak_rss_kb\":{},\"label\":\"{}\"}}\n",
             !cfg.no_sync, cfg.inflight, cfg.value_size, res, self_maxrss_kb(), cfg.label);
  std::fflush(stdout);
  c.stop_all();
  sh(fmt::format("rm -rf '{}'", root));
}

// --- remote -----------------------------------------------------------------------------------

std::vector<raft::node_api> connect_all(caf::actor_system& sys, const std::vector<std::string>& eps) {
  std::vector<raft::node_api> out;
  caf::scoped_actor self{sys};
  auto mm = sys.middleman().actor_handle();
  for (auto& ep : eps) {
    auto colon = ep.rfind(':');
    auto host = ep.substr(0, colon);
    auto port = static_cast<uint16_t>(std::stoi(ep.substr(colon + 1)));
    raft::node_api h;
    for (int attempt = 0; attempt < 100 && !h; ++attempt) {
      self->request(mm, 2s, caf::connect_atom::value, host, port)
        .receive(
          [&](const caf::node_id&, caf::strong_actor_ptr& p, const std::set<std::string>&) {
            if (p)
              h = caf::actor_cast<raft::node_api>(std::move(p));
          },
          [&](caf::error&) {});
      if (!h)
        std::this_thread::sleep_for(100ms);
    }
    out.push_back(h);
  }
  return out;
}

std::vector<pid_t> parse_pids(const std::string& s) {
  std::vector<pid_t> out;
  for (auto& x : split(s, ','))
    out.push_back(static_cast<pid_t>(std::stol(x)));
  return out;
}

void run_remote(caf::actor_system& sys, const config& cfg) {
  auto nodes = connect_all(sys, split(cfg.cluster, ','));
  caf::scoped_actor self{sys};
  auto leader = wait_leader(self, nodes);
  if (leader < 0) {
    fmt::print(stderr, "no leader\n");
    return;
  }
  auto p = params_of(cfg);
  p.pids = parse_pids(cfg.pids);
  auto res = run_load(sys, p, nodes[static_cast<size_t>(leader)], cfg.batches);
  fmt::print("{{\"mode\":\"remote\",\"inflight\":{},\"value\":{},\"leader\":{},{},"
             "\"client_peak_rss_kb\":{},\"label\":\"{}\"}}\n",
             cfg.inflight, cfg.value_size, leader + 1, res, self_maxrss_kb(), cfg.label);
}

// Kills the leader's process and times until some other node acknowledges a write.
void run_failover(caf::actor_system& sys, const config& cfg) {
  auto nodes = connect_all(sys, split(cfg.cluster, ','));
  auto pids = parse_pids(cfg.pids);
  caf::scoped_actor self{sys};
  auto leader = wait_leader(self, nodes, 60s);
  if (leader < 0 || pids.size() != nodes.size()) {
    fmt::print(stderr, "no leader or bad --pids\n");
    return;
  }
  // Let every follower catch up so that any of them can win.
  std::this_thread::sleep_for(300ms);
  auto t0 = now_ns();
  ::kill(pids[static_cast<size_t>(leader)], SIGKILL);
  size_t next = (static_cast<size_t>(leader) + 1) % nodes.size();
  int64_t t1 = 0;
  int winner = -1;
  size_t tries = 0;
  while (t1 == 0 && now_ns() - t0 < int64_t{60} * 1000000000) {
    if (next == static_cast<size_t>(leader))
      next = (next + 1) % nodes.size();
    ++tries;
    bool ok = false;
    raft::node_id hint = 0;
    self
      ->request(nodes[next], 500ms, raft::propose_atom::value,
                raft::encode(raft::kv_command::put("failover-key-000", "x")))
      .receive([&](std::string&) { ok = true; },
               [&](caf::error& err) { hint = raft::leader_hint(err); });
    if (ok) {
      t1 = now_ns();
      winner = static_cast<int>(next);
      break;
    }
    if (hint != 0 && hint - 1 != static_cast<raft::node_id>(leader))
      next = hint - 1;
    else {
      next = (next + 1) % nodes.size();
      std::this_thread::sleep_for(5ms);
    }
  }
  fmt::print("{{\"mode\":\"failover\",\"killed\":{},\"new_leader\":{},\"failover_ms\":{:.1f},"
             "\"tries\":{},\"label\":\"{}\"}}\n",
             leader + 1, winner + 1, t1 ? (t1 - t0) / 1e6 : -1.0, tries, cfg.label);
}

// Builds a log of `entries` entries, stops one follower and times its restart: open + load,
// then catching up with the leader's commit index (every entry re-applied: no snapshots yet).
void run_recovery(caf::actor_system& sys, const config& cfg) {
  auto root = fmt::format("{}/recovery-{}", cfg.dir, getpid());
  sh(fmt::format("rm -rf '{}' && mkdir -p '{}'", root, root));
  inproc_cluster c{sys, cfg, root, {}};
  if (!c.start_all())
    return;
  caf::scoped_actor self{sys};
  auto leader = wait_leader(self, c.nodes);
  if (leader < 0)
    return;
  auto p = params_of(cfg);
  p.ops = cfg.entries;
  p.warmup = 0;
  p.seconds = 3600;
  p.inflight = 256;
  p.rate = 0;  // filling is closed loop
  auto t_fill = now_ns();
  auto res = run_load(sys, p, c.nodes[static_cast<size_t>(leader)], cfg.batches);
  auto fill_s = (now_ns() - t_fill) / 1e9;
  std::this_thread::sleep_for(1s);
  auto victim = (static_cast<size_t>(leader) + 1) % 3;
  auto ls = status_of(self, c.nodes[static_cast<size_t>(leader)]);
  c.stop(victim);
  sh(fmt::format("du -sm '{}/node-{}' >&2", root, victim + 1));
  auto t0 = now_ns();
  auto n = c.start(static_cast<raft::node_id>(victim + 1));
  auto t_spawn = now_ns();
  if (!n) {
    fmt::print(stderr, "restart failed: {}\n", sys.render(n.error()));
    return;
  }
  c.nodes[victim] = *n;
  auto s = status_of(self, *n, 600s);
  auto t_status = now_ns();
  c.wire();
  int64_t t_caught = 0;
  raft::index_t target = ls ? ls->commit : 0;
  while (now_ns() - t0 < int64_t{1200} * 1000000000) {
    auto s2 = status_of(self, *n, 10s);
    if (s2 && s2->applied >= target) {
      t_caught = now_ns();
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  fmt::print("{{\"mode\":\"recovery\",\"sync\":{},\"entries\":{},\"fill_s\":{:.1f},\"fill\":{{{}}},"
             "\"log_last\":{},\"spawn_ms\":{:.1f},\"first_status_ms\":{:.1f},"
             "\"applied_to_commit_ms\":{:.1f},\"target_commit\":{}}}\n",
             !cfg.no_sync, cfg.entries, fill_s, res, s ? s->last.index : 0, (t_spawn - t0) / 1e6,
             (t_status - t0) / 1e6, t_caught ? (t_caught - t0) / 1e6 : -1.0, target);
  c.stop_all();
  sh(fmt::format("rm -rf '{}'", root));
}

uint64_t snapshot_bytes_in(const std::string& node_dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator(node_dir + "/snapshots", ec))
    if (e.path().extension() == ".snap")
      total += e.file_size(ec);
  return total;
}

// Polls `n` until it has applied `target`; returns the milliseconds since `t0`, or -1.
double await_applied(caf::scoped_actor& self, const raft::node_api& n, raft::index_t target,
                     int64_t t0) {
  auto next_report = now_ns() + int64_t{10} * 1000000000;
  while (now_ns() - t0 < int64_t{1200} * 1000000000) {
    auto s = status_of(self, n, 10s);
    if (s && s->applied >= target)
      return (now_ns() - t0) / 1e6;
    if (now_ns() > next_report) {  // progress on stderr, so a stuck catch-up is visible
      next_report += int64_t{10} * 1000000000;
      if (s)
        fmt::print(stderr, "waiting: node {} {} applied {} commit {} last {} snapshot {} (target {})\n",
                   s->id, s->role, s->applied, s->commit, s->last.index, s->snapshot_index, target);
      else
        fmt::print(stderr, "waiting: no status (target {})\n", target);
    }
    std::this_thread::sleep_for(5ms);
  }
  return -1;
}

// Builds a state of --state-mb MiB while one follower is down with an empty data dir, then
// times that follower's catch-up (InstallSnapshot: chunked transfer, checksum, restore) and
// a restart from the installed snapshot.
void run_snapshot(caf::actor_system& sys, const config& cfg) {
  auto root = fmt::format("{}/snapshot-{}", cfg.dir, getpid());
  sh(fmt::format("rm -rf '{}' && mkdir -p '{}'", root, root));
  inproc_cluster c{sys, cfg, root, {}};
  // This mode measures the transfer of a snapshot of the whole state, so the leader snapshots
  // at every threshold instead of waiting for its log to outweigh the last snapshot.
  c.snapshot_ratio = 0;
  c.count_restores = true;
  if (!c.start_all())
    return;
  caf::scoped_actor self{sys};
  auto leader = wait_leader(self, c.nodes);
  if (leader < 0)
    return;
  auto victim = (static_cast<size_t>(leader) + 1) % 3;
  auto victim_dir = fmt::format("{}/node-{}", root, victim + 1);
  c.stop(victim);
  sh(fmt::format("rm -rf '{}'", victim_dir));
  auto p = params_of(cfg);
  p.keyspace = (cfg.state_mb << 20) / cfg.value_size;
  p.ops = p.keyspace;  // every key once: the multiplicative key order is a permutation
  p.warmup = 0;
  p.seconds = 3600;
  p.inflight = 256;
  p.rate = 0;  // filling is closed loop
  auto t_fill = now_ns();
  auto fill = run_load(sys, p, c.nodes[static_cast<size_t>(leader)], cfg.batches);
  auto fill_s = (now_ns() - t_fill) / 1e9;
  // Wait for the leader's snapshot to cover most of the log, so the follower needs it.
  auto leader_dir = fmt::format("{}/node-{}", root, leader + 1);
  caf::optional<raft::node_status> ls;
  for (int i = 0; i < 600; ++i) {
    ls = status_of(self, c.nodes[static_cast<size_t>(leader)]);
    if (ls && ls->snapshot_index + 20000 >= ls->commit && snapshot_bytes_in(leader_dir) > 0)
      break;
    std::this_thread::sleep_for(100ms);
  }
  auto snap_bytes = snapshot_bytes_in(leader_dir);
  auto target = ls ? ls->commit : 0;
  c.restores[victim] = 0;
  auto t0 = now_ns();
  auto n = c.start(static_cast<raft::node_id>(victim + 1));
  if (!n) {
    fmt::print(stderr, "restart failed: {}\n", sys.render(n.error()));
    return;
  }
  c.nodes[victim] = *n;
  c.wire();
  auto catch_ms = await_applied(self, *n, target, t0);
  auto installed = snapshot_bytes_in(victim_dir);
  int restored = c.restores[victim];  // more than 1: sent a newer snapshot after the first
  c.stop(victim);
  auto t1 = now_ns();
  auto again = c.start(static_cast<raft::node_id>(victim + 1));
  if (!again) {
    fmt::print(stderr, "restart failed: {}\n", sys.render(again.error()));
    return;
  }
  c.nodes[victim] = *again;
  c.wire();
  auto restart_ms = await_applied(self, *again, target, t1);
  fmt::print("{{\"mode\":\"snapshot\",\"sync\":{},\"state_mb\":{},\"value\":{},"
             "\"fill_s\":{:.1f},\"fill\":{{{}}},\"snapshot_bytes\":{},\"installed_bytes\":{},"
             "\"catch_up_ms\":{:.1f},\"restores\":{},\"transfer_mib_s\":{:.1f},\"restart_ms\":{:.1f},"
             "\"peak_rss_kb\":{}}}\n",
             !cfg.no_sync, cfg.state_mb, cfg.value_size, fill_s, fill, snap_bytes, installed,
             catch_ms, restored, catch_ms > 0 ? snap_bytes / 1048576.0 / (catch_ms / 1000) : 0.0,
             restart_ms, self_maxrss_kb());
  c.stop_all();
  sh(fmt::format("rm -rf '{}'", root));
}

} // namespace

void caf_main(caf::actor_system& sys, const config& cfg) {
  if (cfg.mode == "inproc")
    run_inproc(sys, cfg);
  else if (cfg.mode == "remote")
    run_remote(sys, cfg);
  else if (cfg.mode == "failover")
    run_failover(sys, cfg);
  else if (cfg.mode == "recovery")
    run_recovery(sys, cfg);
  else if (cfg.mode == "snapshot")
    run_snapshot(sys, cfg);
  else
    fmt::print(stderr, "unknown --mode={}\n", cfg.mode);
}

CAF_MAIN(caf::io::middleman)
