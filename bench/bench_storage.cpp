// Storage benchmark: appends/s and commits (syncs)/s of log_store for 64 B and 4 KiB entries,
// batch sizes 1/16/256, sync on and off; plus the persistence actor with requests in flight.
//
// fsync-type syscalls per commit, measured on LMDB 0.9.24 with
//   strace -f -c -e trace=fsync,fdatasync,msync,sync_file_range,pwrite64,pwritev,write
//     ./bench_storage --probe=200
// sync on:  1 fdatasync per commit, plus 1 pwrite64 of the meta page through LMDB's O_DSYNC
//           descriptor (itself a synchronous device write): 2 ordered flushes per commit.
// sync off: 0 fdatasync/fsync/msync (MDB_NOSYNC|MDB_NOMETASYNC), UNSAFE on power failure.
// The numbers printed by --probe come from the store's own counters; the syscall counts above
// must be taken from strace (see bench/HISTORY.md for the exact output).
//
// --round-probe=N --probe-kind=K: N synced commits shaped like one cluster round at 64 writes in
// flight (64 entries of 90 bytes; the commit index rides along; a purge every 300 commits keeps
// 10,000 entries), printing wall time and CPU time per commit. K=store is our log_store; the
// file kinds are the floor of a log file of our own: the same bytes appended with pwrite and
// made durable with one fdatasync, into a file written with zeros beforehand (file), grown by
// each write (file-grow), or reserved with posix_fallocate (file-fallocate). Run 3 at once to
// see a 3-node cluster's disk contention (bench/HISTORY.md, session 8).
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fmt/core.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "messages/errc.hpp"
#include "persistence/log_store.hpp"
#include "persistence/persistence.hpp"

using namespace raft;
using clock_type = std::chrono::steady_clock;

namespace {

struct args {
  double seconds = 1.0;    // time budget per case
  uint64_t max_ops = 0;    // entry budget per case (0: time only)
  std::string base = "/tmp";
  uint64_t probe = 0;      // only run `probe` single-entry synced commits (for strace)
  uint64_t round_probe = 0;         // only run `round_probe` round-shaped commits (see top)
  std::string probe_kind = "store";  // store, file, file-grow, file-fallocate
  bool actor = true;       // include the actor rows
};

args parse(int argc, char** argv) {
  args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    auto val = [&](const char* prefix) -> const char* {
      auto n = std::strlen(prefix);
      return s.compare(0, n, prefix) == 0 ? s.c_str() + n : nullptr;
    };
    if (auto v = val("--seconds="))
      a.seconds = std::atof(v);
    else if (auto v = val("--ops="))
      a.max_ops = std::strtoull(v, nullptr, 10);
    else if (auto v = val("--dir="))
      a.base = v;
    else if (auto v = val("--probe="))
      a.probe = std::strtoull(v, nullptr, 10);
    else if (auto v = val("--round-probe="))
      a.round_probe = std::strtoull(v, nullptr, 10);
    else if (auto v = val("--probe-kind="))
      a.probe_kind = v;
    else if (s == "--no-actor")
      a.actor = false;
    else {
      fmt::print(stderr,
                 "usage: {} [--seconds=S] [--ops=N] [--dir=BASE] [--probe=N] [--no-actor]\n"
                 "       {} --round-probe=N [--probe-kind=store|file|file-grow|file-fallocate]"
                 " [--dir=BASE]\n",
                 argv[0],
                 argv[0]);
      std::exit(s == "--help" || s == "-h" ? 0 : 1);
    }
  }
  return a;
}

struct temp_dir {
  std::string path;
  explicit temp_dir(const std::string& base) {
    auto tmpl = base + "/caf-raft-bench-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) {
      fmt::print(stderr, "mkdtemp in {} failed\n", base);
      std::exit(1);
    }
    path = buf.data();
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

storage_options options(const std::string& dir, bool sync) {
  storage_options opts;
  opts.dir = dir;
  opts.id = 1;
  opts.cluster_id = "bench";
  opts.bootstrap.voters = {1};
  opts.sync = sync;
  opts.initial_map_bytes = uint64_t{1} << 30;
  return opts;
}

log_entries make_entries(index_t from, size_t n, size_t size) {
  log_entries xs(n);
  for (size_t i = 0; i < n; ++i) {
    xs[i].index = from + i;
    xs[i].term = 1;
    xs[i].payload = std::string(size, static_cast<char>('a' + (from + i) % 26));
  }
  return xs;
}

[[noreturn]] void die(const caf::error& e) {
  fmt::print(stderr, "storage error: {} / {}\n", to_string(static_cast<errc>(e.code())),
             caf::to_string(e.context()));
  std::exit(1);
}

struct result {
  uint64_t entries = 0;
  uint64_t commits = 0;
  uint64_t syncs = 0;
  double secs = 0;
};

result run_store(const args& a, size_t size, size_t batch, bool sync) {
  temp_dir dir{a.base};
  auto s = log_store::open(options(dir.path, sync));
  if (!s)
    die(s.error());
  index_t next = 1;
  auto start = clock_type::now();
  auto deadline = start + std::chrono::duration<double>(a.seconds);
  result r;
  while (clock_type::now() < deadline && (a.max_ops == 0 || r.entries < a.max_ops)) {
    write_batch b;
    b.append(make_entries(next, batch, size));
    auto res = s->commit(b);
    if (!res)
      die(res.error());
    next += batch;
    r.entries += batch;
  }
  r.secs = std::chrono::duration<double>(clock_type::now() - start).count();
  auto c = s->counters();
  r.commits = c.txns;
  r.syncs = c.syncs;
  return r;
}

// The actor with `inflight` single-entry append requests outstanding: group commit decides the
// batch size by itself.
result run_actor(caf::actor_system& sys, const args& a, size_t size, size_t inflight, bool sync) {
  temp_dir dir{a.base};
  auto h = spawn_persistence(sys, options(dir.path, sync), true);
  if (!h)
    die(h.error());
  caf::scoped_actor self{sys};
  index_t next = 1;
  result r;
  auto start = clock_type::now();
  auto deadline = start + std::chrono::duration<double>(a.seconds);
  using handle = decltype(self->request(*h, caf::infinite, append_atom::value, log_entries{}));
  while (clock_type::now() < deadline && (a.max_ops == 0 || r.entries < a.max_ops)) {
    std::vector<handle> hs;
    for (size_t i = 0; i < inflight; ++i)
      hs.push_back(self->request(*h, caf::infinite, append_atom::value,
                                 make_entries(next++, 1, size)));
    for (auto& rh : hs)
      rh.receive([](log_id&) {}, [](caf::error& e) { die(e); });
    r.entries += inflight;
  }
  r.secs = std::chrono::duration<double>(clock_type::now() - start).count();
  self->request(*h, caf::infinite, stats_atom::value)
    .receive(
      [&](uint64_t txns, uint64_t syncs, uint64_t, uint64_t) {
        r.commits = txns;
        r.syncs = syncs;
      },
      [](caf::error& e) { die(e); });
  self->send_exit(*h, caf::exit_reason::user_shutdown);
  return r;
}

void print_row(const char* path, size_t size, size_t batch, bool sync, const result& r) {
  fmt::print("| {:<5} | {:>6} | {:>5} | {:<4} | {:>12.0f} | {:>10.0f} | {:>8.1f} | {:>8.1f} |\n",
             path, size, batch, sync ? "on" : "off", r.entries / r.secs, r.commits / r.secs,
             r.syncs / r.secs, r.entries * double(size) / r.secs / 1e6);
}

double cpu_seconds() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec)
         + double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

// See the top of the file. Returns the process exit code.
int round_probe(const args& a) {
  constexpr size_t per_round = 64;
  constexpr size_t payload = 90;
  temp_dir dir{a.base};
  clock_type::time_point start;
  double cpu0 = 0;
  auto begin = [&] {
    start = clock_type::now();
    cpu0 = cpu_seconds();
  };
  if (a.probe_kind == "store") {
    auto s = log_store::open(options(dir.path, true));
    if (!s)
      die(s.error());
    index_t next = 1;
    begin();
    for (uint64_t i = 0; i < a.round_probe; ++i) {
      write_batch b;
      b.append(make_entries(next, per_round, payload));
      next += per_round;
      b.set_commit(next - per_round);
      if (i % 300 == 299 && next > 10000) {
        snapshot_meta m;
        m.last = {1, next - 10000};
        m.config.voters = {1};
        b.purge(m);
      }
      if (auto res = s->commit(b); !res)
        die(res.error());
    }
  } else {
    auto path = dir.path + "/log";
    int fd = ::open(path.c_str(), O_CREAT | O_RDWR, 0644);
    if (fd < 0) {
      fmt::print(stderr, "open {}: {}\n", path, std::strerror(errno));
      return 1;
    }
    // About what an entry costs in a log record: index, term, kind, length, checksum.
    std::string round(per_round * (payload + 24), 'r');
    uint64_t bytes = a.round_probe * round.size();
    if (a.probe_kind == "file") {
      std::string zeros(1 << 20, '\0');
      for (uint64_t done = 0; done < bytes; done += zeros.size())
        if (::write(fd, zeros.data(), zeros.size()) != static_cast<ssize_t>(zeros.size()))
          return 1;
    } else if (a.probe_kind == "file-fallocate") {
      if (::posix_fallocate(fd, 0, static_cast<off_t>(bytes)) != 0)
        return 1;
    } else if (a.probe_kind != "file-grow") {
      fmt::print(stderr, "unknown --probe-kind={}\n", a.probe_kind);
      return 1;
    }
    ::fdatasync(fd);
    begin();
    for (uint64_t i = 0; i < a.round_probe; ++i) {
      auto off = static_cast<off_t>(i * round.size());
      if (::pwrite(fd, round.data(), round.size(), off) != static_cast<ssize_t>(round.size())
          || ::fdatasync(fd) != 0) {
        fmt::print(stderr, "write {}: {}\n", path, std::strerror(errno));
        return 1;
      }
    }
    ::close(fd);
  }
  auto wall = std::chrono::duration<double>(clock_type::now() - start).count();
  auto n = static_cast<double>(a.round_probe);
  fmt::print("{{\"kind\":\"{}\",\"commits\":{},\"ms_per_commit\":{:.3f},"
             "\"cpu_us_per_commit\":{:.1f}}}\n",
             a.probe_kind, a.round_probe, wall * 1e3 / n, (cpu_seconds() - cpu0) * 1e6 / n);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  auto a = parse(argc, argv);
  if (a.round_probe > 0)
    return round_probe(a);
  if (a.probe > 0) {
    // For strace: exactly `probe` synced single-entry commits after opening the store.
    temp_dir dir{a.base};
    auto s = log_store::open(options(dir.path, true));
    if (!s)
      die(s.error());
    for (uint64_t i = 1; i <= a.probe; ++i) {
      write_batch b;
      b.append(make_entries(i, 1, 64));
      if (auto res = s->commit(b); !res)
        die(res.error());
    }
    auto c = s->counters();
    fmt::print("probe: {} commits, {} synced\n", c.txns, c.syncs);
    return 0;
  }
  fmt::print("| path  | entry  | batch | sync | appends/s    | commits/s  | syncs/s  | MB/s     |\n");
  fmt::print("|-------|-------:|------:|------|-------------:|-----------:|---------:|---------:|\n");
  for (bool sync : {true, false})
    for (size_t size : {size_t{64}, size_t{4096}})
      for (size_t batch : {size_t{1}, size_t{16}, size_t{256}})
        print_row("store", size, batch, sync, run_store(a, size, batch, sync));
  if (a.actor) {
    caf::actor_system_config cfg;
    caf::actor_system sys{cfg};
    for (bool sync : {true, false})
      for (size_t size : {size_t{64}, size_t{4096}})
        for (size_t inflight : {size_t{16}, size_t{256}})
          print_row("actor", size, inflight, sync, run_actor(sys, a, size, inflight, sync));
  }
  return 0;
}
