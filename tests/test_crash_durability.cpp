// Crash durability with real processes: a forked child writes to the store and reports every
// acknowledged commit through a pipe; the parent SIGKILLs it at a random moment and checks that
// everything acknowledged survived, untorn and contiguous. Replay a run with CAF_RAFT_SEED=<seed>.
#define BOOST_TEST_MODULE crash_durability
#include <boost/test/unit_test.hpp>


#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "messages/errc.hpp"
#include "persistence/log_store.hpp"
#include "persistence/persistence.hpp"

using namespace raft;

namespace {

constexpr int iterations = 30;
constexpr int actor_iterations = 5;  // the last ones go through the persistence actor

// What the child reports after each acknowledged write: the whole acknowledged state.
struct ack_record {
  uint64_t last_index;
  uint64_t last_term;  // term of the entries (prev last_index, last_index]
  uint64_t hard_term;
  uint64_t voted_for;
  uint64_t commit;
};

// Payload of entry (index, term): size and bytes follow from the pair, so the parent can check
// any recovered entry without knowing what the child wrote. Every 7th entry exceeds one LMDB
// page (overflow pages), every 11th is empty.
std::string payload_for(index_t idx, term_t term) {
  size_t size = (idx * 2654435761u) % 700;
  if (idx % 7 == 0)
    size += 6000;
  if (idx % 11 == 0)
    size = 0;
  std::string s(size, '\0');
  uint64_t x = idx * 1000003u + term * 7919u;
  for (auto& c : s) {
    x = x * 6364136223846793005u + 1442695040888963407u;
    c = static_cast<char>(x >> 56);
  }
  return s;
}

log_entries make_entries(index_t from, size_t n, term_t term) {
  log_entries xs;
  for (size_t i = 0; i < n; ++i) {
    log_entry e;
    e.index = from + i;
    e.term = term;
    e.kind = (e.index % 13 == 0) ? entry_kind::noop : entry_kind::normal;
    e.payload = payload_for(e.index, term);
    xs.push_back(std::move(e));
  }
  return xs;
}

storage_options options(const std::string& dir) {
  storage_options opts;
  opts.dir = dir;
  opts.id = 3;
  opts.cluster_id = "crash";
  opts.bootstrap.voters = {1, 2, 3};
  opts.initial_map_bytes = 256 << 10;  // small: the map also grows while the child gets killed
  opts.max_read_bytes = uint64_t{1} << 40;
  return opts;
}

void report(int fd, const ack_record& r) {
  // Records are far below PIPE_BUF, so each write is atomic.
  if (::write(fd, &r, sizeof(r)) != static_cast<ssize_t>(sizeof(r)))
    ::_exit(5);
}

// Child: log_store directly. Never returns.
[[noreturn]] void child_store(const std::string& dir, uint64_t seed, int fd) {
  std::mt19937_64 rng{seed};
  auto s = log_store::open(options(dir));
  if (!s)
    ::_exit(2);
  ack_record r{0, 0, 1, 1, 0};
  {
    write_batch b;
    b.save_hard_state({1, 1});
    if (!s->commit(b))
      ::_exit(3);
  }
  report(fd, r);
  for (;;) {
    write_batch b;
    auto dice = rng() % 10;
    if (dice == 0) {
      r.hard_term += 1;
      r.voted_for = 1 + rng() % 5;
      b.save_hard_state({r.hard_term, r.voted_for});
    }
    auto n = 1 + rng() % 64;
    b.append(make_entries(r.last_index + 1, n, r.hard_term));
    auto commit = r.commit;
    if (dice == 1) {
      commit = r.last_index;
      b.set_commit(commit);
    }
    auto res = s->commit(b);
    if (!res)
      ::_exit(3);
    for (auto& x : *res)
      if (x.error)
        ::_exit(4);
    r.last_index += n;
    r.last_term = r.hard_term;
    r.commit = commit;
    report(fd, r);
  }
}

// Child: the persistence actor on a real (detached) actor system, several requests in flight so
// that group commit batches them. Never returns.
[[noreturn]] void child_actor(const std::string& dir, uint64_t seed, int fd) {
  std::mt19937_64 rng{seed};
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto h = spawn_persistence(sys, options(dir), true);
  if (!h)
    ::_exit(2);
  caf::scoped_actor self{sys};
  ack_record r{0, 0, 0, 0, 0};
  auto fail = [](caf::error&) { ::_exit(4); };
  for (;;) {
    if (rng() % 8 == 0 || r.hard_term == 0) {
      hard_state hs{r.hard_term + 1, 1 + rng() % 5};
      self->request(*h, caf::infinite, vote_atom::value, hs)
        .receive(
          [&](hard_state&) {
            r.hard_term = hs.term;
            r.voted_for = hs.voted_for;
          },
          fail);
      report(fd, r);
    }
    index_t commit = r.commit;
    if (rng() % 4 == 0) {
      commit = r.last_index;
      self->send(*h, commit_atom::value, commit);
    }
    using handle = decltype(self->request(*h, caf::infinite, append_atom::value, log_entries{}));
    std::vector<std::pair<handle, index_t>> inflight;
    auto next = r.last_index + 1;
    auto k = 1 + rng() % 4;
    for (size_t i = 0; i < k; ++i) {
      auto n = 1 + rng() % 32;
      inflight.emplace_back(self->request(*h, caf::infinite, append_atom::value,
                                          make_entries(next, n, r.hard_term)),
                            next + n - 1);
      next += n;
    }
    for (auto& [rh, last] : inflight) {
      rh.receive([&](log_id& x) {
        if (x.index != last)
          ::_exit(6);
      }, fail);
      r.last_index = last;
      r.last_term = r.hard_term;
      r.commit = commit;  // staged before these appends, so in their batch or an earlier one
      report(fd, r);
    }
  }
}

uint64_t base_seed() {
  if (auto env = std::getenv("CAF_RAFT_SEED"))
    return std::strtoull(env, nullptr, 10);
  return std::random_device{}();
}

// Reads whole records from `fd` into `out` until `deadline` (or, with `until_first`, until at
// least one record arrived); returns false on EOF.
bool drain(int fd, std::string& buf, std::vector<ack_record>& out,
           std::chrono::steady_clock::time_point deadline, bool until_first = false) {
  for (;;) {
    if (until_first && !out.empty())
      return true;
    auto now = std::chrono::steady_clock::now();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
    if (ms < 0)
      ms = 0;
    pollfd p{fd, POLLIN, 0};
    auto rc = ::poll(&p, 1, static_cast<int>(ms));
    if (rc < 0 && errno == EINTR)
      continue;
    if (rc <= 0)
      return true;  // deadline
    char tmp[4096];
    auto n = ::read(fd, tmp, sizeof(tmp));
    if (n <= 0)
      return false;
    buf.append(tmp, static_cast<size_t>(n));
    while (buf.size() >= sizeof(ack_record)) {
      ack_record r;
      std::memcpy(&r, buf.data(), sizeof(r));
      buf.erase(0, sizeof(r));
      out.push_back(r);
    }
  }
}

void verify(const std::string& dir, const std::vector<ack_record>& acks, int iter) {
  auto s = log_store::open(options(dir));
  BOOST_REQUIRE_MESSAGE(s, "iteration " << iter << ": reopen failed");
  auto st = s->load();
  BOOST_REQUIRE_MESSAGE(st, "iteration " << iter << ": load failed");
  ack_record acked{0, 0, 0, 0, 0};
  if (!acks.empty())
    acked = acks.back();
  // The term of every acknowledged entry, from the sequence of acknowledgments.
  std::vector<term_t> term_of(acked.last_index + 1, 0);
  index_t prev = 0;
  for (auto& a : acks) {
    for (auto i = prev + 1; i <= a.last_index; ++i)
      term_of[i] = a.last_term;
    prev = std::max(prev, a.last_index);
  }
  BOOST_CHECK_MESSAGE(st->last.index >= acked.last_index,
                      "iteration " << iter << ": lost entries: last " << st->last.index
                                   << " < acknowledged " << acked.last_index);
  BOOST_CHECK_MESSAGE(st->hard.term > acked.hard_term
                        || (st->hard.term == acked.hard_term
                            && st->hard.voted_for == acked.voted_for),
                      "iteration " << iter << ": lost vote: term " << st->hard.term << "/"
                                   << st->hard.voted_for << " vs acknowledged "
                                   << acked.hard_term << "/" << acked.voted_for);
  BOOST_CHECK_MESSAGE(st->commit >= acked.commit,
                      "iteration " << iter << ": lost commit index");
  BOOST_CHECK_EQUAL(st->first_index, 1u);
  auto xs = s->entries(1, st->last.index + 1, uint64_t{1} << 40);
  BOOST_REQUIRE_MESSAGE(xs, "iteration " << iter << ": reading the log failed");
  BOOST_REQUIRE_MESSAGE(xs->size() == st->last.index,
                        "iteration " << iter << ": log not contiguous: " << xs->size()
                                     << " entries up to index " << st->last.index);
  term_t last_term = 0;
  size_t bad = 0;
  for (size_t k = 0; k < xs->size(); ++k) {
    auto& e = (*xs)[k];
    bool ok = e.index == k + 1 && e.term >= last_term && e.payload == payload_for(e.index, e.term)
              && (e.index > acked.last_index || e.term == term_of[e.index]);
    if (!ok && bad++ < 5)
      BOOST_ERROR("iteration " << iter << ": bad entry " << e.index << " term " << e.term
                               << " size " << e.payload.size());
    last_term = e.term;
  }
  BOOST_CHECK(st->last.term == last_term);
}

} // namespace

BOOST_AUTO_TEST_CASE(acknowledged_writes_survive_sigkill) {
  auto seed = base_seed();
  BOOST_TEST_MESSAGE("seed " << seed << " (replay with CAF_RAFT_SEED=" << seed << ")");
  std::mt19937_64 rng{seed};
  size_t total_acks = 0;
  index_t max_last = 0;
  for (int iter = 0; iter < iterations; ++iter) {
    bool use_actor = iter >= iterations - actor_iterations;
    char tmpl[] = "/tmp/caf-raft-crash-XXXXXX";
    BOOST_REQUIRE(::mkdtemp(tmpl) != nullptr);
    std::string dir = tmpl;
    int fds[2];
    BOOST_REQUIRE_EQUAL(::pipe(fds), 0);
    auto child_seed = rng();
    auto kill_after = std::chrono::milliseconds(rng() % 300);
    auto pid = ::fork();
    BOOST_REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(fds[0]);
      if (use_actor)
        child_actor(dir, child_seed, fds[1]);
      child_store(dir, child_seed, fds[1]);
    }
    ::close(fds[1]);
    std::string buf;
    std::vector<ack_record> acks;
    // Start the clock once the child has acknowledged something, so start-up time (an actor
    // system under ASan) does not eat the window; then kill at a random moment.
    auto alive = drain(fds[0], buf, acks,
                       std::chrono::steady_clock::now() + std::chrono::seconds(20), true);
    if (alive)
      drain(fds[0], buf, acks, std::chrono::steady_clock::now() + kill_after);
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    // Whatever reached the pipe before the kill was acknowledged.
    drain(fds[0], buf, acks, std::chrono::steady_clock::now() + std::chrono::seconds(5));
    ::close(fds[0]);
    BOOST_REQUIRE_MESSAGE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                          "iteration " << iter << ": child died on its own, status " << status);
    BOOST_CHECK_MESSAGE(!acks.empty(), "iteration " << iter << ": child acknowledged nothing");
    verify(dir, acks, iter);
    total_acks += acks.size();
    if (!acks.empty())
      max_last = std::max(max_last, acks.back().last_index);
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  BOOST_TEST_MESSAGE(iterations << " kills, " << total_acks << " acknowledged commits checked, "
                                << "longest log " << max_last);
}
