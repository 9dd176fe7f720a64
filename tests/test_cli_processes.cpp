// End-to-end tests of the caf-raft CLI with real processes on loopback: bad input, config files,
// a full disk, failover after kill -9, SIGSTOP of a leader, restart and convergence, `launch`, membership
// changes with joining nodes, leadership transfer, and a leader's graceful shutdown.
// CAF_RAFT_BIN (set by CMake) names the binary under test.
#define BOOST_TEST_MODULE cli_processes
#include <boost/test/unit_test.hpp>

#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace cli_test {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

inline std::string binary() {
  // CAF 0.17's middleman leaks a few objects at shutdown; under ASan that would turn every clean
  // node exit into a failure. Callers can still opt in by setting ASAN_OPTIONS themselves.
  ::setenv("ASAN_OPTIONS", "detect_leaks=0", 0);
  const char* bin = std::getenv("CAF_RAFT_BIN");
  if (bin == nullptr || *bin == '\0')
    throw std::runtime_error("CAF_RAFT_BIN is not set (ctest sets it)");
  return bin;
}

/// A child process; stdin/stdout are pipes when requested, stderr goes to a pipe or a file.
class process {
public:
  process() = default;
  process(const process&) = delete;
  process& operator=(const process&) = delete;
  process(process&& other) noexcept { *this = std::move(other); }
  process& operator=(process&& other) noexcept {
    std::swap(pid_, other.pid_);
    std::swap(in_, other.in_);
    std::swap(out_, other.out_);
    std::swap(err_, other.err_);
    std::swap(buf_, other.buf_);
    return *this;
  }
  ~process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    for (int fd : {in_, out_, err_})
      if (fd >= 0)
        ::close(fd);
  }

  /// Starts CAF_RAFT_BIN with `args`. stdin and stdout are pipes if requested. stderr goes to
  /// `err_file` (appended; stdout too unless piped) or, without a file, to a pipe for read_all.
  /// A non-zero `max_file_bytes` caps every file the child writes (RLIMIT_FSIZE, `ulimit -f`).
  static process start(const std::vector<std::string>& args, bool pipe_stdin, bool pipe_stdout,
                       const std::string& err_file = {}, rlim_t max_file_bytes = 0) {
    int in[2] = {-1, -1};
    int out[2] = {-1, -1};
    int err[2] = {-1, -1};
    if (pipe_stdin && ::pipe(in) != 0)
      throw std::runtime_error("pipe failed");
    if (pipe_stdout && ::pipe(out) != 0)
      throw std::runtime_error("pipe failed");
    if (err_file.empty() && ::pipe(err) != 0)
      throw std::runtime_error("pipe failed");
    auto exe = binary();
    std::vector<std::string> argv_s{exe};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid < 0)
      throw std::runtime_error("fork failed");
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // no stray nodes if the test dies
      if (pipe_stdin) {
        ::dup2(in[0], 0);
        ::close(in[0]);
        ::close(in[1]);
      } else {
        int devnull = ::open("/dev/null", O_RDONLY);
        ::dup2(devnull, 0);
      }
      int file = err_file.empty() ? -1 : ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (pipe_stdout) {
        ::dup2(out[1], 1);
        ::close(out[0]);
        ::close(out[1]);
      } else if (file >= 0) {
        ::dup2(file, 1);
      }
      if (file >= 0) {
        ::dup2(file, 2);
        ::close(file);
      } else {
        ::dup2(err[1], 2);
        ::close(err[0]);
        ::close(err[1]);
      }
      if (max_file_bytes > 0) {
        rlimit lim{max_file_bytes, max_file_bytes};
        ::setrlimit(RLIMIT_FSIZE, &lim);
      }
      ::execv(exe.c_str(), argv.data());
      ::_exit(127);
    }
    process p;
    p.pid_ = pid;
    if (pipe_stdin) {
      ::close(in[0]);
      p.in_ = in[1];
    }
    if (pipe_stdout) {
      ::close(out[1]);
      p.out_ = out[0];
    }
    if (err_file.empty()) {
      ::close(err[1]);
      p.err_ = err[0];
    }
    return p;
  }

  pid_t pid() const { return pid_; }

  void signal(int sig) const {
    if (pid_ > 0)
      ::kill(pid_, sig);
  }

  /// Waits for exit; returns the exit status (128 + signal if killed) or nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout) {
    auto deadline = steady::now() + timeout;
    for (;;) {
      int status = 0;
      auto r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      if (steady::now() >= deadline)
        return std::nullopt;
      std::this_thread::sleep_for(10ms);
    }
  }

  void write_line(const std::string& line) {
    std::string data = line + "\n";
    if (::write(in_, data.data(), data.size()) != static_cast<ssize_t>(data.size()))
      throw std::runtime_error("write to child failed");
  }

  void close_stdin() {
    if (in_ >= 0)
      ::close(in_);
    in_ = -1;
  }

  /// One stdout line (without '\n'), or nullopt on timeout / EOF.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout) {
    auto deadline = steady::now() + timeout;
    for (;;) {
      if (auto nl = buf_.find('\n'); nl != std::string::npos) {
        auto line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
      if (left.count() <= 0)
        return std::nullopt;
      pollfd pfd{out_, POLLIN, 0};
      if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0)
        continue;
      char tmp[4096];
      auto n = ::read(out_, tmp, sizeof(tmp));
      if (n <= 0)
        return std::nullopt;
      buf_.append(tmp, static_cast<size_t>(n));
    }
  }

  /// Reads stdout and stderr to EOF (or the deadline).
  void read_all(std::string& out, std::string& err, std::chrono::milliseconds timeout) {
    auto deadline = steady::now() + timeout;
    out = buf_;
    buf_.clear();
    bool out_open = out_ >= 0;
    bool err_open = err_ >= 0;
    while ((out_open || err_open) && steady::now() < deadline) {
      pollfd pfds[2] = {{out_open ? out_ : -1, POLLIN, 0}, {err_open ? err_ : -1, POLLIN, 0}};
      if (::poll(pfds, 2, 50) <= 0)
        continue;
      char tmp[4096];
      for (int i = 0; i < 2; ++i) {
        if (pfds[i].revents == 0)
          continue;
        auto n = ::read(pfds[i].fd, tmp, sizeof(tmp));
        if (n <= 0)
          (i == 0 ? out_open : err_open) = false;
        else
          (i == 0 ? out : err).append(tmp, static_cast<size_t>(n));
      }
    }
  }

private:
  pid_t pid_ = -1;
  int in_ = -1;
  int out_ = -1;
  int err_ = -1;
  std::string buf_;
};

struct run_result {
  int code = -1;  // -1: did not finish in time (and was killed)
  std::string out;
  std::string err;
};

/// Runs CAF_RAFT_BIN with `args` to completion.
inline run_result run(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 30s) {
  auto p = process::start(args, false, true);
  run_result r;
  p.read_all(r.out, r.err, timeout);
  auto code = p.wait(2s);
  r.code = code ? *code : -1;
  return r;
}

/// `n` distinct ports that were free a moment ago (bound to port 0 simultaneously).
inline std::vector<uint16_t> free_ports(size_t n) {
  std::vector<int> fds;
  std::vector<uint16_t> ports;
  for (size_t i = 0; i < n; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ports.push_back(ntohs(addr.sin_port));
    fds.push_back(fd);
  }
  for (int fd : fds)
    ::close(fd);
  return ports;
}

/// A base port such that base .. base+n-1 were all free a moment ago.
inline uint16_t free_port_range(size_t n) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    auto base = free_ports(1).front();
    if (base + n > 65535)
      continue;
    bool ok = true;
    std::vector<int> fds;
    for (size_t i = 0; i < n && ok; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(static_cast<uint16_t>(base + i));
      ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
      fds.push_back(fd);
    }
    for (int fd : fds)
      ::close(fd);
    if (ok)
      return base;
  }
  throw std::runtime_error("no free port range");
}

/// A fresh temporary directory, removed on destruction.
struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    auto base = std::filesystem::temp_directory_path() / "caf-raft-cli-XXXXXX";
    std::string tmpl = base.string();
    if (::mkdtemp(tmpl.data()) == nullptr)
      throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

/// The raw text of `"key":<value>` in a flat JSON line: strings keep their quotes, null is
/// "null"; nullopt if absent. Good enough for the shell's one-level objects.
inline std::optional<std::string> json_field(const std::string& line, const std::string& key) {
  auto needle = "\"" + key + "\":";
  auto pos = line.find(needle);
  if (pos == std::string::npos)
    return std::nullopt;
  pos += needle.size();
  if (pos < line.size() && line[pos] == '"') {
    auto end = pos + 1;
    while (end < line.size() && line[end] != '"')
      end += line[end] == '\\' ? 2 : 1;
    return line.substr(pos, end + 1 - pos);
  }
  auto end = line.find_first_of(",}", pos);
  return line.substr(pos, end - pos);
}

inline bool is_ok(const std::string& line) {
  return line.rfind("{\"ok\":true", 0) == 0;
}

inline std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

} // namespace cli_test

using namespace cli_test;

namespace {

// Fast timings so elections and failure detection fit the test budget (also under ASan).
const std::vector<std::string> fast_timing = {"--heartbeat-interval=50ms",
                                              "--election-timeout=300ms"};

/// N nodes on free loopback ports, each with its own data dir and log file. The first
/// `initial` of them (default: all) form the bootstrap configuration; the others can join.
struct local_cluster {
  temp_dir dir;
  std::vector<uint16_t> ports;
  std::map<uint64_t, process> nodes;
  std::string members;  // the bootstrap members, id=host:port,...
  std::string seeds;    // host:port,... of all N nodes, for --cluster
  size_t initial;
  std::vector<std::string> node_args;  // extra options for every node

  explicit local_cluster(size_t n, size_t initial_members = 0)
    : ports(free_ports(n)), initial(initial_members == 0 ? n : initial_members) {
    for (size_t i = 0; i < n; ++i) {
      if (i < initial)
        members += (i ? "," : "") + std::to_string(i + 1) + "=" + addr(i + 1);
      seeds += (i ? "," : "") + addr(i + 1);
    }
  }

  std::string addr(uint64_t id) const { return "127.0.0.1:" + std::to_string(ports[id - 1]); }
  std::string log(uint64_t id) const { return dir / ("node-" + std::to_string(id) + ".log"); }

  void start(uint64_t id) {
    std::vector<std::string> args{"node", "--id=" + std::to_string(id), "--members=" + members,
                                  "--data-dir=" + dir / ("node-" + std::to_string(id))};
    args.insert(args.end(), fast_timing.begin(), fast_timing.end());
    args.insert(args.end(), node_args.begin(), node_args.end());
    nodes[id] = process::start(args, false, false, log(id));
  }

  std::string data_dir(uint64_t id) const { return dir / ("node-" + std::to_string(id)); }

  /// Starts a node that is not in the bootstrap configuration and waits to be added.
  void start_joining(uint64_t id) {
    std::vector<std::string> args{"node", "--id=" + std::to_string(id), "--join",
                                  "--listen=" + addr(id), "--members=" + members,
                                  "--data-dir=" + dir / ("node-" + std::to_string(id))};
    args.insert(args.end(), fast_timing.begin(), fast_timing.end());
    nodes[id] = process::start(args, false, false, log(id));
  }

  /// Starts the bootstrap members.
  void start_all() {
    for (uint64_t id = 1; id <= initial; ++id)
      start(id);
  }

  void kill9(uint64_t id) {
    nodes[id].signal(SIGKILL);
    nodes[id].wait(10s);
  }

  /// SIGTERM and wait; the exit status (0 = clean stop).
  int stop(uint64_t id) {
    nodes[id].signal(SIGTERM);
    auto rc = nodes[id].wait(30s);
    BOOST_REQUIRE_MESSAGE(rc, "node " << id << " did not stop on SIGTERM:\n" << slurp(log(id)));
    BOOST_WARN_MESSAGE(*rc == 0, "node " << id << " exited with " << *rc << ":\n" << slurp(log(id)));
    return *rc;
  }
};

/// A `caf-raft client` shell process.
struct shell {
  process p;
  explicit shell(const std::string& seeds, const std::string& err_file,
                 std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"client", "--cluster=" + seeds};
    args.insert(args.end(), extra.begin(), extra.end());
    p = process::start(args, true, true, err_file);
  }
  std::string ask(const std::string& cmd, std::chrono::milliseconds timeout = 40s) {
    p.write_line(cmd);
    auto line = p.read_line(timeout);
    BOOST_REQUIRE_MESSAGE(line, "no reply to \"" << cmd << "\"");
    BOOST_TEST_MESSAGE(cmd << " -> " << *line);
    return *line;
  }
};

/// Polls `status` until a leader is known; returns its id.
uint64_t await_leader(shell& sh, uint64_t not_this = 0, std::chrono::seconds limit = 30s) {
  auto deadline = steady::now() + limit;
  while (steady::now() < deadline) {
    auto line = sh.ask("status");
    auto leader = json_field(line, "leader");
    if (is_ok(line) && leader && *leader != "null" && std::stoull(*leader) != not_this)
      return std::stoull(*leader);
    std::this_thread::sleep_for(100ms);
  }
  BOOST_FAIL("no leader elected in time");
  return 0;
}

/// One node's own status line, asked directly (no redirect to the leader).
std::string node_status(const local_cluster& c, uint64_t id) {
  auto r = run({"status", "--direct", "--timeout=3s", "--cluster=" + c.addr(id)}, 20s);
  return r.code == 0 ? r.out : "";
}

/// Waits until every node of `ids` (default: all) reports the same applied index and last log
/// id with commit == applied: with Raft's log matching and a deterministic state machine, equal
/// states.
void await_convergence(const local_cluster& c, std::chrono::seconds limit = 30s,
                       std::vector<uint64_t> ids = {}) {
  if (ids.empty())
    for (uint64_t id = 1; id <= c.ports.size(); ++id)
      ids.push_back(id);
  auto deadline = steady::now() + limit;
  std::string last_seen;
  while (steady::now() < deadline) {
    std::optional<std::string> ref;
    bool same = true;
    last_seen.clear();
    for (auto id : ids) {
      auto st = node_status(c, id);
      last_seen += st;
      auto key = json_field(st, "applied").value_or("?") + "/"
                 + json_field(st, "last_index").value_or("?") + "/"
                 + json_field(st, "last_term").value_or("?");
      same = same && !st.empty() && json_field(st, "commit") == json_field(st, "applied");
      if (!ref)
        ref = key;
      same = same && key == *ref;
    }
    if (same)
      return;
    std::this_thread::sleep_for(200ms);
  }
  BOOST_FAIL("nodes did not converge:\n" << last_seen);
}

/// Each node's own content digest (`digest --direct`) must be the same: equal replicas.
void check_equal_digests(const local_cluster& c, const std::vector<uint64_t>& ids) {
  std::optional<std::string> ref;
  for (auto id : ids) {
    auto r = run({"digest", "--direct", "--timeout=5s", "--cluster=" + c.addr(id)}, 20s);
    BOOST_CHECK_MESSAGE(r.code == 0, "digest of node " << id << " failed: " << r.err);
    BOOST_TEST_MESSAGE("digest of node " << id << ": " << r.out);
    if (!ref)
      ref = r.out;
    BOOST_CHECK_MESSAGE(r.out == *ref, "node " << id << " digest " << r.out << " != " << *ref);
  }
}

/// Writes w<i>=v<i> through its own client shell on a thread until stopped, and records which
/// writes were acknowledged. No Boost assertions on the thread (they are not thread-safe).
class background_writer {
public:
  background_writer(const std::string& seeds, const std::string& err_file)
    : sh_(process::start({"client", "--cluster=" + seeds, "--timeout=10s"}, true, true, err_file)) {
    thread_ = std::thread([this] { loop(); });
  }
  ~background_writer() { stop(); }

  /// Stops after the write in flight; returns the acknowledged key/value pairs.
  std::map<std::string, std::string> stop() {
    stop_ = true;
    if (thread_.joinable())
      thread_.join();
    sh_.close_stdin();
    std::lock_guard<std::mutex> guard{mtx_};
    return acked_;
  }

  size_t acked_count() {
    std::lock_guard<std::mutex> guard{mtx_};
    return acked_.size();
  }

  /// Waits until `n` more writes were acknowledged than when called.
  void await_progress(size_t n, std::chrono::seconds limit = 30s) {
    auto target = acked_count() + n;
    auto deadline = steady::now() + limit;
    while (acked_count() < target && steady::now() < deadline)
      std::this_thread::sleep_for(20ms);
    BOOST_REQUIRE_MESSAGE(acked_count() >= target, "writes made no progress; " << report());
  }

  /// Outcomes other than success, for the test log; `broken` is a shell that stopped answering.
  std::string report() {
    std::lock_guard<std::mutex> guard{mtx_};
    return "acked " + std::to_string(acked_.size()) + ", unknown " + std::to_string(unknown_)
           + ", failed " + std::to_string(failed_) + (broken_ ? ", shell broken: " : "")
           + last_error_;
  }

  bool broken() {
    std::lock_guard<std::mutex> guard{mtx_};
    return broken_;
  }

private:
  void loop() {
    for (uint64_t i = 0; !stop_; ++i) {
      auto key = "w" + std::to_string(i);
      auto value = "v" + std::to_string(i);
      sh_.write_line("put " + key + " " + value);
      auto line = sh_.read_line(60s);
      std::lock_guard<std::mutex> guard{mtx_};
      if (!line) {
        broken_ = true;
        return;
      }
      if (is_ok(*line)) {
        acked_[key] = value;
        continue;
      }
      // Unknown outcomes are allowed (the key may or may not exist at the end); each key is
      // written once, so an acknowledged value can be checked exactly.
      auto err = json_field(*line, "error").value_or("");
      (err == "\"timeout\"" || err == "\"unavailable\"" ? unknown_ : failed_) += 1;
      last_error_ = *line;
    }
  }

  process sh_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mtx_;
  std::map<std::string, std::string> acked_;
  size_t unknown_ = 0;
  size_t failed_ = 0;
  bool broken_ = false;
  std::string last_error_;
};

/// Runs a client command against the whole cluster (leader found by the client).
run_result admin(const local_cluster& c, std::vector<std::string> words) {
  words.push_back("--cluster=" + c.seeds);
  words.push_back("--timeout=20s");
  auto r = run(words, 60s);
  std::string joined;
  for (auto& w : words)
    joined += " " + w;
  BOOST_TEST_MESSAGE("caf-raft" << joined << " -> " << r.code << " " << r.out << r.err);
  return r;
}

/// The leader's `member list` line (retried until a leader answers).
std::string member_list(const local_cluster& c, std::chrono::seconds limit = 30s) {
  auto deadline = steady::now() + limit;
  std::string last;
  while (steady::now() < deadline) {
    auto r = admin(c, {"member", "list"});
    last = r.out + r.err;
    if (r.code == 0 && is_ok(r.out) && json_field(r.out, "leader") != std::string{"null"})
      return r.out;
    std::this_thread::sleep_for(100ms);
  }
  BOOST_FAIL("no member list from a leader: " << last);
  return {};
}

/// The members array of a member list or change reply: [{"id":1,"role":"voter",...},...].
std::string members_of(const std::string& line) {
  auto pos = line.find("\"members\":[");
  if (pos == std::string::npos)
    return {};
  return line.substr(pos, line.find(']', pos) + 1 - pos);
}

/// "voter", "learner", or "" (not a member) according to a member list line.
std::string role_of(const std::string& line, uint64_t id) {
  auto needle = "{\"id\":" + std::to_string(id) + ",\"role\":\"";
  auto pos = line.find(needle);
  if (pos == std::string::npos)
    return {};
  pos += needle.size();
  return line.substr(pos, line.find('"', pos) - pos);
}

/// Applies a membership change as a careful operator would: a refusal that asks to wait (an
/// election or another change in progress, a learner still catching up) or an unknown outcome is
/// followed by a look at the member list, and the change is re-sent only if it is not in effect.
/// `in_effect` tells from a member list line whether the change took effect.
void change_membership(const local_cluster& c, const std::vector<std::string>& words,
                       const std::function<bool(const std::string&)>& in_effect,
                       std::chrono::seconds limit = 40s) {
  auto deadline = steady::now() + limit;
  std::string last;
  while (steady::now() < deadline) {
    auto r = admin(c, words);
    if (r.code == 0) {
      BOOST_CHECK_MESSAGE(in_effect(r.out), "the reply does not show the change: " << r.out);
      return;
    }
    last = r.err;
    // Anything else than "wait" or "unknown" is a failure of the test.
    bool retryable = r.code == 2 || r.err.find("in progress") != std::string::npos
                     || r.err.find("behind") != std::string::npos
                     || r.err.find("no_leader") != std::string::npos;
    BOOST_REQUIRE_MESSAGE(retryable, "membership change failed: " << r.code << " " << r.err);
    if (in_effect(member_list(c)))
      return;
    std::this_thread::sleep_for(200ms);
  }
  BOOST_FAIL("membership change did not take effect in time: " << last);
}

/// The leader's commit index from a status line.
uint64_t commit_of(const std::string& status_line) {
  auto commit = json_field(status_line, "commit");
  return commit ? std::stoull(*commit) : 0;
}

/// Waits until node `id` has applied everything the leader had committed when called.
void await_caught_up(const local_cluster& c, shell& sh, uint64_t id,
                     std::chrono::seconds limit = 30s) {
  auto target = commit_of(sh.ask("status"));
  auto deadline = steady::now() + limit;
  std::string st;
  while (steady::now() < deadline) {
    st = node_status(c, id);
    auto applied = json_field(st, "applied");
    if (applied && std::stoull(*applied) >= target)
      return;
    std::this_thread::sleep_for(100ms);
  }
  BOOST_FAIL("node " << id << " did not catch up to " << target << ": " << st);
}

/// Makes `target` the leader with `transfer-leader`. A transfer the target did not complete
/// within an election timeout is an unknown outcome (exit 2): look, and ask again if needed.
void transfer_leadership(const local_cluster& c, shell& sh, uint64_t target,
                         std::chrono::seconds limit = 40s) {
  auto deadline = steady::now() + limit;
  while (await_leader(sh) != target && steady::now() < deadline) {
    auto r = admin(c, {"transfer-leader", std::to_string(target)});
    if (r.code == 0) {
      BOOST_CHECK_EQUAL(r.out, "{\"ok\":true,\"leader\":" + std::to_string(target) + "}\n");
      continue;
    }
    BOOST_REQUIRE_MESSAGE(r.code == 2, "transfer-leader failed: " << r.err);
    std::this_thread::sleep_for(200ms);
  }
  BOOST_REQUIRE_EQUAL(await_leader(sh), target);
}

/// Waits until the log of node `id`, from byte `offset` on, contains `needle`.
void await_log(const local_cluster& c, uint64_t id, size_t offset, const std::string& needle,
               std::chrono::seconds limit = 30s) {
  auto deadline = steady::now() + limit;
  std::string log;
  while (steady::now() < deadline) {
    log = slurp(c.log(id));
    if (log.size() > offset && log.find(needle, offset) != std::string::npos)
      return;
    std::this_thread::sleep_for(100ms);
  }
  BOOST_FAIL("node " << id << " never logged \"" << needle << "\":\n" << log.substr(offset));
}

/// Reads every acknowledged write back through the leader.
void check_acked(shell& sh, const std::map<std::string, std::string>& acked) {
  size_t wrong = 0;
  for (auto& [k, v] : acked) {
    auto line = sh.ask("get " + k);
    if (line != "{\"ok\":true,\"value\":\"" + v + "\"}") {
      ++wrong;
      BOOST_CHECK_MESSAGE(false, "acknowledged write " << k << "=" << v << " reads as " << line);
    }
  }
  BOOST_TEST_MESSAGE(acked.size() << " acknowledged writes checked, " << wrong << " wrong");
}

} // namespace

BOOST_AUTO_TEST_CASE(bad_input_fails_with_a_message) {
  auto expect_failure = [](std::vector<std::string> args, const std::string& needle) {
    auto r = run(args, 30s);
    std::string joined;
    for (auto& a : args)
      joined += " " + a;
    BOOST_TEST_MESSAGE("caf-raft" << joined << " -> " << r.code << " " << r.err);
    BOOST_CHECK_MESSAGE(r.code != 0 && r.code != -1, "exit code " << r.code);
    BOOST_CHECK_MESSAGE(r.err.find(needle) != std::string::npos,
                        "stderr lacks \"" << needle << "\": " << r.err);
  };
  auto port = std::to_string(free_ports(1).front());
  expect_failure({}, "usage");
  expect_failure({"frobnicate"}, "unknown command");
  expect_failure({"node"}, "--id is required");
  expect_failure({"node", "--id=4", "--members=1=127.0.0.1:" + port}, "start it with --join");
  expect_failure({"node", "--id=4", "--join", "--members=1=127.0.0.1:" + port}, "--join needs --listen");
  expect_failure({"node", "--id=1", "--join", "--members=1=127.0.0.1:" + port},
                 "at least one existing member");
  expect_failure({"node", "--id=1", "--snapshot-entries=many"}, "malformed value");
  expect_failure({"launch", "--snapshot-bytes=-1"}, "malformed value");
  expect_failure({"node", "--id=1", "--members=1=127.0.0.1:" + port, "--snapshot-ratio=-0.5"},
                 "--snapshot-ratio must be");
  expect_failure({"member", "add", "4=127.0.0.1:" + port, "--cluster=127.0.0.1:" + port,
                  "--voter"},
                 "unknown option --voter");
  expect_failure({"node", "--id=1", "--members=1=127.0.0.1"}, "invalid --members");
  expect_failure({"node", "--id=0", "--members=1=127.0.0.1:" + port}, "positive");
  expect_failure({"node", "--id=x"}, "malformed value");
  expect_failure({"node", "--bogus=1"}, "unknown option --bogus");
  expect_failure({"node", "--id", "1"}, "unexpected argument");
  expect_failure({"node", "--config-file=/nonexistent/x.ini"}, "cannot open config file");
  expect_failure({"put", "k"}, "usage: put KEY VALUE");
  expect_failure({"put", "k", "v"}, "--cluster");
  expect_failure({"get", "k", "--cluster=nohostport"}, "invalid --cluster");
  expect_failure({"launch", "--nodes=0"}, "--nodes");
  // Nothing listens there: a clear "unreachable" within the deadline, and a failure exit code
  // (1: certainly not applied, as no connection was ever made).
  auto r = run({"put", "k", "v", "--timeout=1s", "--cluster=127.0.0.1:" + port}, 30s);
  BOOST_CHECK_EQUAL(r.code, 1);
  BOOST_CHECK_MESSAGE(r.err.find("unreachable") != std::string::npos, r.err);
  // Help works and exits 0.
  BOOST_CHECK_EQUAL(run({"--help"}).code, 0);
  BOOST_CHECK_EQUAL(run({"node", "--help"}).code, 0);
}

BOOST_AUTO_TEST_CASE(config_file_port_in_use_and_foreign_data_dir) {
  temp_dir dir;
  auto port = free_ports(1).front();
  auto member = "1=127.0.0.1:" + std::to_string(port);
  // A malformed config file is rejected with its line and column.
  {
    std::ofstream(dir / "bad.ini") << "[raft]\nid=abc\n";
    auto r = run({"node", "--config-file=" + dir / "bad.ini"});
    BOOST_CHECK_EQUAL(r.code, 1);
    BOOST_CHECK_MESSAGE(r.err.find("malformed config file") != std::string::npos, r.err);
  }
  // A single-node cluster configured entirely from a [raft] section.
  std::ofstream(dir / "node.ini") << "[raft]\nid=1\nmembers=[\"" << member << "\"]\n"
                                  << "data-dir=\"" << dir / "data" << "\"\n"
                                  << "heartbeat-interval=50ms\nelection-timeout=300ms\n"
                                  << "snapshot-entries=100\nsnapshot-bytes=1000000\n"
                                  << "snapshot-trailing=10\n";
  auto node = process::start({"node", "--config-file=" + dir / "node.ini"}, false, false,
                             dir / "node.log");
  auto seeds = "--cluster=127.0.0.1:" + std::to_string(port);
  auto put = run({"put", "cfg", "works", seeds, "--timeout=20s"});
  BOOST_CHECK_MESSAGE(put.code == 0, put.err << slurp(dir / "node.log"));
  auto get = run({"get", "cfg", seeds});
  BOOST_CHECK_EQUAL(get.out, "works\n");
  auto absent = run({"get", "nope", seeds});
  BOOST_CHECK_EQUAL(absent.code, 3);
  // The port is taken by the running node.
  {
    auto r = run({"node", "--id=1", "--members=" + member, "--data-dir=" + dir / "other"});
    BOOST_CHECK_EQUAL(r.code, 1);
    BOOST_CHECK_MESSAGE(r.err.find("cannot listen") != std::string::npos, r.err);
  }
  node.signal(SIGTERM);
  auto rc = node.wait(30s);
  BOOST_REQUIRE(rc);
  BOOST_CHECK_EQUAL(*rc, 0);
  // Node 2 must refuse node 1's data dir.
  {
    auto r = run({"node", "--id=2", "--members=2=127.0.0.1:" + std::to_string(port),
                  "--data-dir=" + dir / "data"});
    BOOST_CHECK_EQUAL(r.code, 1);
    BOOST_CHECK_MESSAGE(r.err.find("cannot start node") != std::string::npos, r.err);
  }
}

BOOST_AUTO_TEST_CASE(a_full_disk_stops_the_node_with_an_error_and_loses_no_acknowledged_write) {
  // A file size limit stands in for a full disk and needs no privileges: past 2 MB, LMDB's data
  // file cannot grow, so a log append fails mid-commit.
  temp_dir dir;
  auto port = std::to_string(free_ports(1).front());
  std::vector<std::string> args{"node", "--id=1", "--members=1=127.0.0.1:" + port,
                                "--data-dir=" + dir / "data"};
  auto node = process::start(args, false, false, dir / "node.log", 2'000'000);
  std::map<std::string, std::string> acked;
  std::string refusal;
  {
    shell sh("127.0.0.1:" + port, dir / "client.err", {"--timeout=5s"});
    await_leader(sh);
    const std::string value(2000, 'v');
    for (int i = 0; i < 5000 && refusal.empty(); ++i) {
      auto key = "k" + std::to_string(i);
      auto line = sh.ask("put " + key + " " + value);
      if (is_ok(line))
        acked[key] = value;
      else
        refusal = line;
    }
  }
  BOOST_REQUIRE_MESSAGE(!refusal.empty(), "2 MB never filled up:\n" << slurp(dir / "node.log"));
  BOOST_TEST_MESSAGE(acked.size() << " writes acknowledged, then: " << refusal);
  BOOST_CHECK_GT(acked.size(), 100u);
  // The write that failed was never acknowledged, and the client says its outcome is unknown.
  BOOST_CHECK_MESSAGE(json_field(refusal, "error") == std::optional<std::string>{"\"unavailable\""},
                      refusal);
  // The node stops by itself, non-zero, saying why.
  auto rc = node.wait(30s);
  BOOST_REQUIRE_MESSAGE(rc, "the node kept running:\n" << slurp(dir / "node.log"));
  BOOST_CHECK_EQUAL(*rc, 1);
  auto log = slurp(dir / "node.log");
  BOOST_CHECK_MESSAGE(log.find("raft::disk_full") != std::string::npos
                        || log.find("raft::storage_io") != std::string::npos,
                      log);
  // With room again, it restarts with every acknowledged write and takes new ones.
  node = process::start(args, false, false, dir / "node.log");
  shell sh("127.0.0.1:" + port, dir / "client.err");
  await_leader(sh);
  check_acked(sh, acked);
  BOOST_CHECK(is_ok(sh.ask("put after full")));
  node.signal(SIGTERM);
  rc = node.wait(30s);
  BOOST_REQUIRE(rc);
  BOOST_CHECK_EQUAL(*rc, 0);
}

BOOST_AUTO_TEST_CASE(failover_sigstop_restart_and_convergence) {
  local_cluster c{3};
  c.start_all();
  shell sh{c.seeds, c.dir / "shell.log"};
  auto leader = await_leader(sh);
  std::map<std::string, std::string> acked;
  // Writes and reads through the shell, including a bad line that must not stop it.
  for (int i = 0; i < 10; ++i) {
    auto k = "k" + std::to_string(i);
    auto v = "v" + std::to_string(i);
    BOOST_REQUIRE_EQUAL(sh.ask("put " + k + " " + v), "{\"ok\":true}");
    acked[k] = v;
  }
  BOOST_CHECK_EQUAL(sh.ask("get k3"), "{\"ok\":true,\"value\":\"v3\"}");
  BOOST_CHECK_EQUAL(sh.ask("get missing"), "{\"ok\":true,\"value\":null}");
  BOOST_CHECK(sh.ask("frob x").rfind("{\"ok\":false,\"error\":\"bad_request\"", 0) == 0);
  BOOST_CHECK_EQUAL(sh.ask("cas k3 nope x"), "{\"ok\":false,\"error\":\"cas_failed\",\"value\":\"v3\"}");
  BOOST_CHECK_EQUAL(sh.ask("cas k3 v3 w3"), "{\"ok\":true}");
  acked["k3"] = "w3";
  BOOST_CHECK_EQUAL(sh.ask("put q \"a\\b"), "{\"ok\":true}");
  BOOST_CHECK_EQUAL(sh.ask("get q"), "{\"ok\":true,\"value\":\"\\\"a\\\\b\"}");

  // kill -9 the leader: a new leader takes over and writes continue.
  c.kill9(leader);
  for (int i = 10; i < 20; ++i) {
    auto k = "k" + std::to_string(i);
    auto v = "v" + std::to_string(i);
    auto line = sh.ask("put " + k + " " + v);
    if (is_ok(line)) {
      acked[k] = v;
    } else {
      // Only the first write may hit the dead leader; its outcome is then unknown.
      auto err = json_field(line, "error").value_or("");
      BOOST_CHECK_MESSAGE(i == 10 && (err == "\"unavailable\"" || err == "\"timeout\""), line);
    }
  }
  auto leader2 = await_leader(sh, leader);
  BOOST_CHECK_NE(leader2, leader);
  for (auto& [k, v] : acked)
    BOOST_CHECK_EQUAL(sh.ask("get " + k), "{\"ok\":true,\"value\":\"" + v + "\"}");

  // The old leader restarts from its data dir and catches up; all three converge.
  c.start(leader);
  BOOST_REQUIRE(is_ok(sh.ask("put after_restart 1")));
  acked["after_restart"] = "1";
  await_convergence(c);

  // SIGSTOP the leader. A client pinned to it (--direct) must never see a write acknowledged
  // or a stale read served by it while the others elected a new leader and moved on.
  auto l3 = await_leader(sh);
  BOOST_REQUIRE(is_ok(sh.ask("put sk 0")));
  shell pinned{c.addr(l3), c.dir / "pinned.log", {"--direct", "--timeout=8s"}};
  BOOST_REQUIRE(is_ok(pinned.ask("status")));  // connected before the stop
  c.nodes[l3].signal(SIGSTOP);
  auto l4 = await_leader(sh, l3);
  BOOST_CHECK_NE(l4, l3);
  BOOST_REQUIRE_EQUAL(sh.ask("cas sk 0 b1"), "{\"ok\":true}");
  BOOST_REQUIRE_EQUAL(sh.ask("cas sk b1 b2"), "{\"ok\":true}");
  pinned.p.write_line("get sk");
  pinned.p.write_line("cas sk 0 stale");
  std::this_thread::sleep_for(200ms);
  c.nodes[l3].signal(SIGCONT);
  auto stale_get = pinned.p.read_line(40s);
  auto stale_cas = pinned.p.read_line(40s);
  BOOST_REQUIRE(stale_get && stale_cas);
  BOOST_TEST_MESSAGE("pinned get -> " << *stale_get << ", pinned cas -> " << *stale_cas);
  BOOST_CHECK_MESSAGE(!is_ok(*stale_get) || *stale_get == "{\"ok\":true,\"value\":\"b2\"}",
                      "stale read from a deposed leader: " << *stale_get);
  BOOST_CHECK_MESSAGE(!is_ok(*stale_cas), "deposed leader acknowledged a write: " << *stale_cas);
  BOOST_CHECK_EQUAL(sh.ask("get sk"), "{\"ok\":true,\"value\":\"b2\"}");
  acked["sk"] = "b2";
  BOOST_REQUIRE(is_ok(sh.ask("put after_cont 1")));
  acked["after_cont"] = "1";
  await_convergence(c);
  auto digest = json_field(sh.ask("digest"), "digest");
  BOOST_REQUIRE(digest);

  // Restart the whole cluster: clean exits, then every acknowledged write is still there.
  pinned.p.close_stdin();
  for (uint64_t id = 1; id <= 3; ++id)
    BOOST_CHECK_EQUAL(c.stop(id), 0);
  c.start_all();
  shell sh2{c.seeds, c.dir / "shell2.log"};
  await_leader(sh2);
  for (auto& [k, v] : acked)
    BOOST_CHECK_EQUAL(sh2.ask("get " + k), "{\"ok\":true,\"value\":\"" + v + "\"}");
  BOOST_CHECK(json_field(sh2.ask("digest"), "digest") == digest);
  sh.p.close_stdin();
  sh2.p.close_stdin();
  BOOST_CHECK(sh2.p.wait(20s) == std::optional<int>{0});
  for (uint64_t id = 1; id <= 3; ++id)
    BOOST_CHECK_EQUAL(c.stop(id), 0);
}

BOOST_AUTO_TEST_CASE(launch_starts_reports_and_stops_nodes) {
  temp_dir dir;
  auto base = free_port_range(3);
  std::vector<std::string> args{"launch", "--nodes=3", "--dir=" + dir / "data",
                                "--base-port=" + std::to_string(base)};
  args.insert(args.end(), fast_timing.begin(), fast_timing.end());
  // Starts launch and reads its stdout up to the client command; returns the --cluster value
  // and fills `pids` from the "node N: host:port  pid P" lines.
  auto launch_and_read_cluster = [&](std::vector<std::string> a, process& p,
                                     std::map<int, pid_t>& pids) {
    p = process::start(a, false, true, dir / "launch.log");
    for (;;) {
      auto line = p.read_line(30s);
      BOOST_REQUIRE_MESSAGE(line, "launch printed no client command: " << slurp(dir / "launch.log"));
      int id = 0;
      int pid = 0;
      if (std::sscanf(line->c_str(), "  node %d: %*s pid %d", &id, &pid) == 2)
        pids[id] = pid;
      if (auto pos = line->find("--cluster="); pos != std::string::npos)
        return line->substr(pos + 10);
    }
  };
  std::map<int, pid_t> pids;
  process launcher;
  auto seeds = launch_and_read_cluster(args, launcher, pids);
  BOOST_REQUIRE(run({"put", "x", "1", "--timeout=20s", "--cluster=" + seeds}).code == 0);
  BOOST_CHECK_EQUAL(run({"get", "x", "--cluster=" + seeds}).out, "1\n");
  launcher.signal(SIGINT);
  auto rc = launcher.wait(40s);
  BOOST_REQUIRE_MESSAGE(rc, "launch did not stop on SIGINT");
  BOOST_CHECK_EQUAL(*rc, 0);
  // Again on the same data dirs; a killed node is reported, and --exit-on-failure stops all.
  args.push_back("--exit-on-failure");
  process launcher2;
  seeds = launch_and_read_cluster(args, launcher2, pids);
  BOOST_CHECK_EQUAL(run({"get", "x", "--timeout=20s", "--cluster=" + seeds}).out, "1\n");
  pid_t victim = pids[2];
  BOOST_REQUIRE(victim > 0);
  ::kill(victim, SIGKILL);
  rc = launcher2.wait(40s);
  BOOST_REQUIRE_MESSAGE(rc, "launch --exit-on-failure did not stop");
  BOOST_CHECK_NE(*rc, 0);
  auto log = slurp(dir / "launch.log");
  BOOST_CHECK_MESSAGE(log.find("node 2 (pid " + std::to_string(victim) + ") was killed by signal 9")
                        != std::string::npos,
                      log);
}

BOOST_AUTO_TEST_CASE(membership_grow_transfer_and_shrink_under_writes) {
  local_cluster c{5, 3};
  c.start_all();
  shell sh{c.seeds, c.dir / "shell.log"};
  await_leader(sh);
  background_writer writer{c.seeds, c.dir / "writer.log"};
  writer.await_progress(5);

  // Grow to 5: node 4 joins as a learner and is promoted, node 5 is added as a voter directly.
  c.start_joining(4);
  c.start_joining(5);
  auto joiner = node_status(c, 4);
  BOOST_CHECK_MESSAGE(json_field(joiner, "role") == std::string{"\"learner\""},
                      "a joining node must not be a voter: " << joiner);
  change_membership(c, {"member", "add", "4=" + c.addr(4), "--learner"},
                    [](const std::string& l) { return role_of(l, 4) == "learner"; });
  await_caught_up(c, sh, 4);
  change_membership(c, {"member", "promote", "4"},
                    [](const std::string& l) { return role_of(l, 4) == "voter"; });
  change_membership(c, {"member", "add", "5=" + c.addr(5)},
                    [](const std::string& l) { return role_of(l, 5) == "voter"; });
  await_caught_up(c, sh, 5);
  auto list = member_list(c);
  for (uint64_t id = 1; id <= 5; ++id)
    BOOST_CHECK_MESSAGE(role_of(list, id) == "voter", list);
  BOOST_CHECK_MESSAGE(list.find("\"address\":\"" + c.addr(5) + "\"") != std::string::npos, list);
  writer.await_progress(5);

  // Remove the leader itself: it commits its removal, steps down, and the others elect.
  auto old_leader = await_leader(sh);
  change_membership(c, {"member", "remove", std::to_string(old_leader)},
                    [&](const std::string& l) { return role_of(l, old_leader).empty(); });
  auto leader = await_leader(sh, old_leader);
  BOOST_CHECK_NE(leader, old_leader);
  BOOST_CHECK_EQUAL(c.stop(old_leader), 0);
  writer.await_progress(5);

  // Hand leadership to a specific voter, preferably one that joined.
  uint64_t target = leader == 5 ? 4 : 5;
  transfer_leadership(c, sh, target);
  writer.await_progress(5);

  // Shrink to 3 voters: remove a remaining original node that does not lead.
  uint64_t victim = 0;
  for (uint64_t id = 1; id <= 3 && victim == 0; ++id)
    if (id != old_leader && id != target)
      victim = id;
  change_membership(c, {"member", "remove", std::to_string(victim)},
                    [&](const std::string& l) { return role_of(l, victim).empty(); });
  BOOST_CHECK_EQUAL(c.stop(victim), 0);
  writer.await_progress(5);
  auto acked = writer.stop();
  BOOST_TEST_MESSAGE("writer: " << writer.report());
  BOOST_CHECK(!writer.broken());

  std::vector<uint64_t> remaining;
  list = member_list(c);
  for (uint64_t id = 1; id <= 5; ++id)
    if (id != old_leader && id != victim) {
      remaining.push_back(id);
      BOOST_CHECK_MESSAGE(role_of(list, id) == "voter", list);
    }
  BOOST_CHECK_EQUAL(remaining.size(), 3u);
  BOOST_CHECK_MESSAGE(role_of(list, old_leader).empty() && role_of(list, victim).empty(), list);
  check_acked(sh, acked);

  // Restart the one original node left: its --members names two removed servers, so it can
  // reach 4 and 5 only through its stored configuration. Leading proves it reaches them.
  auto original = remaining.front();
  BOOST_REQUIRE_LE(original, 3u);
  BOOST_CHECK_EQUAL(c.stop(original), 0);
  auto offset = slurp(c.log(original)).size();
  c.start(original);
  await_log(c, original, offset, "connected to peer 4");
  await_log(c, original, offset, "connected to peer 5");
  transfer_leadership(c, sh, original);
  BOOST_REQUIRE(is_ok(sh.ask("put after_restart 1")));
  await_convergence(c, 30s, remaining);
  check_equal_digests(c, remaining);
  sh.p.close_stdin();
  for (auto id : remaining)
    BOOST_CHECK_EQUAL(c.stop(id), 0);
}

BOOST_AUTO_TEST_CASE(bad_membership_changes_are_refused_and_change_nothing) {
  local_cluster c{1};
  c.start_all();
  shell sh{c.seeds, c.dir / "shell.log"};
  await_leader(sh);
  auto before = members_of(member_list(c));
  BOOST_REQUIRE(!before.empty());
  auto other = "127.0.0.1:" + std::to_string(free_ports(1).front());
  auto expect_refusal = [&](std::vector<std::string> words, const std::string& needle) {
    auto r = admin(c, std::move(words));
    BOOST_CHECK_EQUAL(r.code, 1);
    BOOST_CHECK_MESSAGE(r.err.find(needle) != std::string::npos,
                        "stderr lacks \"" << needle << "\": " << r.err);
    BOOST_CHECK_EQUAL(r.out, "");
  };
  expect_refusal({"member", "add", "1=" + other}, "node 1 is already a member");
  expect_refusal({"member", "add", "1=" + other, "--learner"}, "already a member");
  expect_refusal({"member", "remove", "1"}, "cannot remove the last voter");
  expect_refusal({"member", "remove", "7"}, "node 7 is not a member");
  expect_refusal({"member", "promote", "1"}, "node 1 is not a learner");
  expect_refusal({"member", "promote", "7"}, "not a learner");
  expect_refusal({"member", "add", "4=127.0.0.1"}, "expected host:port");
  expect_refusal({"member", "add", "4"}, "expected member id=host:port");
  expect_refusal({"member", "add", "x=" + other}, "positive integers");
  expect_refusal({"member", "add", "4=" + other, "5=" + other}, "usage: member add");
  expect_refusal({"member", "remove"}, "usage: member remove ID");
  expect_refusal({"member", "frob"}, "usage: member list");
  expect_refusal({"member"}, "usage: member list");
  expect_refusal({"transfer-leader", "7"}, "node 7 is not a voter");
  expect_refusal({"transfer-leader"}, "no other voter");
  expect_refusal({"transfer-leader", "0"}, "positive integers");
  // The shell answers the same refusals as JSON and keeps going.
  auto line = sh.ask("member add 1=" + other);
  BOOST_CHECK(line.rfind("{\"ok\":false,\"error\":\"config_change\"", 0) == 0);
  line = sh.ask("member add 4=nohostport");
  BOOST_CHECK(line.rfind("{\"ok\":false,\"error\":\"bad_request\"", 0) == 0);
  line = sh.ask("member remove 1");
  BOOST_CHECK_MESSAGE(line.find("cannot remove the last voter") != std::string::npos, line);
  line = sh.ask("member list");
  BOOST_CHECK_EQUAL(members_of(line), before);
  BOOST_CHECK(json_field(line, "leader") == std::string{"1"});
  BOOST_CHECK(is_ok(sh.ask("put still works")));
  // Nothing changed.
  BOOST_CHECK_EQUAL(members_of(member_list(c)), before);
  sh.p.close_stdin();
  BOOST_CHECK_EQUAL(c.stop(1), 0);
}

BOOST_AUTO_TEST_CASE(leader_hands_over_leadership_on_sigterm) {
  local_cluster c{3};
  c.start_all();
  shell sh{c.seeds, c.dir / "shell.log"};
  auto leader = await_leader(sh);
  background_writer writer{c.seeds, c.dir / "writer.log"};
  writer.await_progress(10);
  c.nodes[leader].signal(SIGTERM);
  auto rc = c.nodes[leader].wait(30s);
  BOOST_REQUIRE_MESSAGE(rc, "the leader did not stop on SIGTERM");
  BOOST_CHECK_EQUAL(*rc, 0);
  auto log = slurp(c.log(leader));
  BOOST_CHECK_MESSAGE(log.find("transferring leadership before stopping") != std::string::npos
                        && log.find("handed leadership to node") != std::string::npos,
                      log);
  // The successor is the one the old leader named, and it leads (transfer, not an election
  // after a timeout; the log check above is what proves it, this is the consequence).
  auto successor = await_leader(sh, leader, 10s);
  BOOST_CHECK_MESSAGE(log.find("handed leadership to node " + std::to_string(successor))
                        != std::string::npos,
                      log);
  writer.await_progress(10);
  auto acked = writer.stop();
  BOOST_TEST_MESSAGE("writer: " << writer.report());
  BOOST_CHECK(!writer.broken());
  check_acked(sh, acked);
  // The old leader rejoins as a follower and all three converge.
  c.start(leader);
  BOOST_REQUIRE(is_ok(sh.ask("put after_restart 1")));
  await_convergence(c);
  check_equal_digests(c, {1, 2, 3});
  sh.p.close_stdin();
  for (uint64_t id = 1; id <= 3; ++id)
    BOOST_CHECK_EQUAL(c.stop(id), 0);
}

namespace {

/// Bytes of all files under `dir` (or of the file `dir`).
uint64_t dir_bytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  if (std::filesystem::is_regular_file(dir, ec))
    return std::filesystem::file_size(dir, ec);
  for (auto& e : std::filesystem::recursive_directory_iterator(dir, ec))
    if (e.is_regular_file(ec))
      total += e.file_size(ec);
  return total;
}

size_t count_files(const std::string& dir, const std::string& ext) {
  size_t n = 0;
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator(dir, ec))
    n += e.path().extension() == ext;
  return n;
}

/// Puts k<prefix>-<s>-<i> for i < per_shell through `shells` client shells at once (each gets
/// all its lines up front, so the cluster sees `shells` writes in flight); returns the number
/// acknowledged.
size_t write_many(const local_cluster& c, const std::string& prefix, size_t shells,
                  size_t per_shell) {
  std::vector<process> ps;
  for (size_t s = 0; s < shells; ++s) {
    ps.push_back(process::start({"client", "--cluster=" + c.seeds, "--timeout=20s"}, true, true,
                                c.dir / ("writer-" + prefix + std::to_string(s) + ".log")));
    for (size_t i = 0; i < per_shell; ++i)
      ps.back().write_line(fmt::format("put k{}-{}-{} v{}", prefix, s, i, i));
    ps.back().close_stdin();
  }
  size_t acked = 0;
  for (auto& p : ps) {
    std::string out;
    std::string err;
    p.read_all(out, err, 300s);
    for (size_t pos = 0; (pos = out.find("{\"ok\":true}", pos)) != std::string::npos; ++pos)
      ++acked;
    p.wait(10s);
  }
  return acked;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_node_down_during_writes_catches_up_through_a_snapshot) {
  local_cluster c{3};
  // Small thresholds: 10,000 writes compact the log about 20 times while a node is down.
  c.node_args = {"--snapshot-entries=500", "--snapshot-trailing=100", "--snapshot-ratio=0"};
  c.start_all();
  shell sh{c.seeds, c.dir / "shell.log"};
  auto leader = await_leader(sh);
  auto victim = leader % 3 + 1;
  BOOST_REQUIRE_EQUAL(sh.ask("put before down"), "{\"ok\":true}");
  await_convergence(c);
  auto victim_last = std::stoull(json_field(node_status(c, victim), "last_index").value_or("0"));
  c.kill9(victim);
  std::vector<uint64_t> live;
  for (uint64_t id = 1; id <= 3; ++id)
    if (id != victim)
      live.push_back(id);
  // The log (LMDB metadata plus segment files) and the snapshots, separately: the snapshot
  // grows with the state (every write here adds a key), the log must not grow with the number
  // of writes beyond one segment (compaction deletes segments whole; one takes up to 16 MiB).
  auto largest = [&](const std::string& sub) {
    uint64_t m = 0;
    for (auto id : live)
      m = std::max(m, dir_bytes(c.data_dir(id) + sub));
    return m;
  };
  auto log_bytes = [&] { return largest("/data.mdb") + largest("/lock.mdb") + largest("/log"); };
  BOOST_CHECK_EQUAL(write_many(c, "a", 8, 625), 5000u);
  auto log_half = log_bytes();
  auto snap_half = largest("/snapshots");
  BOOST_CHECK_EQUAL(write_many(c, "b", 8, 625), 5000u);
  auto log_full = log_bytes();
  auto snap_full = largest("/snapshots");
  BOOST_TEST_MESSAGE("after 5,000 writes: log " << log_half << " B, snapshots " << snap_half
                     << " B; after 10,000: log " << log_full << " B, snapshots " << snap_full
                     << " B");
  BOOST_CHECK_LE(log_full, std::max(log_half + log_half / 4, uint64_t{18} << 20));
  BOOST_CHECK_LE(snap_full, 2 * (snap_half + snap_half / 2));  // <= 2 files, state doubled
  for (auto id : live)
    BOOST_CHECK_LE(count_files(c.data_dir(id) + "/snapshots", ".snap"), 2u);
  auto first = std::stoull(json_field(node_status(c, leader), "first_index").value_or("0"));
  BOOST_TEST_MESSAGE("victim's last index " << victim_last << ", leader's first " << first);
  BOOST_CHECK_GT(first, victim_last + 1);  // only a snapshot can bring the victim back
  c.start(victim);
  await_convergence(c, 120s);
  check_equal_digests(c, {1, 2, 3});
  auto st = node_status(c, victim);
  BOOST_CHECK_GT(std::stoull(json_field(st, "snapshot_index").value_or("0")), 5000u);
  BOOST_CHECK_EQUAL(sh.ask("get ka-0-0"), "{\"ok\":true,\"value\":\"v0\"}");
  BOOST_CHECK_EQUAL(sh.ask("get kb-7-624"), "{\"ok\":true,\"value\":\"v624\"}");
}
