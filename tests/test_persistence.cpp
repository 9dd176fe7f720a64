// Tests of the persistence actor on CAF's deterministic test_coordinator: group commit (one
// transaction and one sync for everything queued), per-request errors, reads, restart; and, with
// real threads, that a stopped node has released its data dir by the time it is down.
#define BOOST_TEST_MODULE persistence
#include <boost/test/unit_test.hpp>


#include <filesystem>
#include <thread>
#include <vector>
#include <tuple>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/node.hpp"
#include "kv/kv_state_machine.hpp"
#include "messages/codec.hpp"
#include "messages/errc.hpp"
#include "messages/registry.hpp"
#include "persistence/log_store.hpp"
#include "persistence/persistence.hpp"

using namespace raft;

namespace {

struct temp_dir {
  std::string path;
  temp_dir() {
    char tmpl[] = "/tmp/caf-raft-persistence-XXXXXX";
    auto p = ::mkdtemp(tmpl);
    BOOST_REQUIRE(p != nullptr);
    path = p;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

log_entries range(index_t from, index_t to, term_t term) {
  log_entries xs;
  for (auto i = from; i <= to; ++i) {
    log_entry e;
    e.index = i;
    e.term = term;
    e.payload = "payload-" + std::to_string(i);
    xs.push_back(std::move(e));
  }
  return xs;
}

struct fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scoped_actor self;
  caf::scheduler::test_coordinator& sched;
  temp_dir dir;
  persistence_actor store;

  static caf::actor_system_config& init(caf::actor_system_config& c) {
    c.set("scheduler.policy", caf::atom("testing"));
    c.set("logger.inline-output", true);
    return c;
  }

  fixture()
    : sys(init(cfg)),
      self(sys, true),
      sched(dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())) {
    start();
  }

  ~fixture() {
    stop();
  }

  storage_options options() {
    storage_options opts;
    opts.dir = dir.path;
    opts.id = 7;
    opts.cluster_id = "test";
    opts.bootstrap.voters = {7};
    return opts;
  }

  void start() {
    auto h = spawn_persistence(sys, options(), false);
    BOOST_REQUIRE_MESSAGE(h, sys.render(h ? caf::error{} : h.error()));
    store = *h;
    sched.run();
  }

  // Stops the actor; its state (and with it the LMDB environment) is gone afterwards.
  void stop() {
    if (!store)
      return;
    self->send_exit(store, caf::exit_reason::user_shutdown);
    store = nullptr;
    sched.run();
  }

  std::string render(const caf::error& e) {
    return sys.render(e);
  }

  std::tuple<uint64_t, uint64_t, uint64_t, uint64_t> stats() {
    std::tuple<uint64_t, uint64_t, uint64_t, uint64_t> result;
    auto rh = self->request(store, caf::infinite, stats_atom::value);
    sched.run();
    rh.receive([&](uint64_t a, uint64_t b, uint64_t c,
                   uint64_t d) { result = std::make_tuple(a, b, c, d); },
               [&](caf::error& e) { BOOST_FAIL("stats failed: " << render(e)); });
    return result;
  }

  stored_state load() {
    stored_state result;
    auto rh = self->request(store, caf::infinite, load_atom::value);
    sched.run();
    rh.receive([&](stored_state& st) { result = std::move(st); },
               [&](caf::error& e) { BOOST_FAIL("load failed: " << render(e)); });
    return result;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(persistence_actor_tests, fixture)

BOOST_AUTO_TEST_CASE(group_commit_uses_one_transaction) {
  BOOST_CHECK(load().last == log_id{});
  // Queue 100 appends and 5 votes before the actor runs at all.
  constexpr size_t n = 100;
  using append_handle = decltype(self->request(store, caf::infinite, append_atom::value,
                                               log_entries{}));
  using vote_handle = decltype(self->request(store, caf::infinite, vote_atom::value,
                                             hard_state{}));
  std::vector<append_handle> appends;
  std::vector<vote_handle> votes;
  for (size_t i = 1; i <= n; ++i) {
    appends.push_back(self->request(store, caf::infinite, append_atom::value, range(i, i, 1)));
    if (i % 20 == 0)
      votes.push_back(self->request(store, caf::infinite, vote_atom::value,
                                    hard_state{i / 20, 7}));
  }
  self->send(store, commit_atom::value, index_t{50});
  sched.run();
  size_t ok = 0;
  for (size_t i = 0; i < appends.size(); ++i)
    appends[i].receive(
      [&](log_id& x) {
        BOOST_CHECK(x == (log_id{1, i + 1}));
        ++ok;
      },
      [&](caf::error& e) { BOOST_FAIL("append failed: " << render(e)); });
  BOOST_CHECK_EQUAL(ok, n);
  for (size_t i = 0; i < votes.size(); ++i)
    votes[i].receive([&](hard_state& hs) { BOOST_CHECK(hs == (hard_state{i + 1, 7})); },
                     [&](caf::error& e) { BOOST_FAIL("vote failed: " << render(e)); });
  uint64_t txns, syncs, entries, bytes;
  std::tie(txns, syncs, entries, bytes) = stats();
  BOOST_TEST_MESSAGE("txns " << txns << ", syncs " << syncs << ", entries " << entries
                             << ", bytes " << bytes);
  BOOST_CHECK_EQUAL(txns, 1u);
  BOOST_CHECK_EQUAL(syncs, 1u);
  BOOST_CHECK_EQUAL(entries, n);
  auto st = load();
  BOOST_CHECK(st.last == (log_id{1, n}));
  BOOST_CHECK(st.hard == (hard_state{5, 7}));
  BOOST_CHECK_EQUAL(st.commit, 50u);  // rode along with the batch
}

BOOST_AUTO_TEST_CASE(error_reaches_only_its_requester) {
  auto a = self->request(store, caf::infinite, append_atom::value, range(1, 5, 1));
  auto gap = self->request(store, caf::infinite, append_atom::value, range(7, 8, 1));
  auto b = self->request(store, caf::infinite, append_atom::value, range(6, 6, 1));
  sched.run();
  a.receive([&](log_id& x) { BOOST_CHECK(x == (log_id{1, 5})); },
            [&](caf::error& e) { BOOST_FAIL("append failed: " << render(e)); });
  gap.receive([&](log_id&) { BOOST_FAIL("non-contiguous append accepted"); },
              [&](caf::error& e) {
                BOOST_TEST_MESSAGE("refused: " << render(e));
                BOOST_CHECK(is(e, errc::log_conflict));
              });
  b.receive([&](log_id& x) { BOOST_CHECK(x == (log_id{1, 6})); },
            [&](caf::error& e) { BOOST_FAIL("append failed: " << render(e)); });
  BOOST_CHECK_EQUAL(std::get<0>(stats()), 1u);
  // The next batch works.
  auto c = self->request(store, caf::infinite, append_atom::value, range(7, 8, 2));
  sched.run();
  c.receive([&](log_id& x) { BOOST_CHECK(x == (log_id{2, 8})); },
            [&](caf::error& e) { BOOST_FAIL("append failed: " << render(e)); });
  BOOST_CHECK_EQUAL(std::get<0>(stats()), 2u);
}

BOOST_AUTO_TEST_CASE(reads_truncate_purge_and_restart) {
  auto a = self->request(store, caf::infinite, append_atom::value, range(1, 20, 1));
  sched.run();
  a.receive([](log_id&) {}, [&](caf::error& e) { BOOST_FAIL(render(e)); });
  // A read sees acknowledged entries, bounded by its byte budget (at least one entry).
  auto r = self->request(store, caf::infinite, read_atom::value, index_t{3}, index_t{10},
                         uint64_t{1});
  sched.run();
  r.receive(
    [&](log_entries& xs) {
      BOOST_REQUIRE_EQUAL(xs.size(), 1u);
      BOOST_CHECK_EQUAL(xs[0].index, 3u);
      BOOST_CHECK_EQUAL(xs[0].payload, "payload-3");
    },
    [&](caf::error& e) { BOOST_FAIL(render(e)); });
  // A read queued behind a staged write sees only committed state (documented semantics).
  auto w = self->request(store, caf::infinite, append_atom::value, range(21, 21, 1));
  auto r2 = self->request(store, caf::infinite, read_atom::value, index_t{21}, index_t{22},
                          uint64_t{1} << 20);
  sched.run();
  w.receive([](log_id&) {}, [&](caf::error& e) { BOOST_FAIL(render(e)); });
  r2.receive([&](log_entries& xs) { BOOST_CHECK(xs.empty()); },
             [&](caf::error& e) { BOOST_FAIL(render(e)); });
  self->send(store, commit_atom::value, index_t{10});
  auto t = self->request(store, caf::infinite, truncate_atom::value, index_t{8});
  auto t2 = self->request(store, caf::infinite, truncate_atom::value, index_t{15});
  snapshot_meta meta;
  meta.last = {1, 12};
  meta.config.voters = {7, 8};
  auto p = self->request(store, caf::infinite, purge_atom::value, meta, meta.last.index);
  sched.run();
  t.receive([&](log_id&) { BOOST_FAIL("truncate below commit accepted"); },
            [&](caf::error& e) { BOOST_CHECK(is(e, errc::log_conflict)); });
  t2.receive([&](log_id& x) { BOOST_CHECK(x == (log_id{1, 14})); },
             [&](caf::error& e) { BOOST_FAIL(render(e)); });
  p.receive([&](index_t first) { BOOST_CHECK_EQUAL(first, 13u); },
            [&](caf::error& e) { BOOST_FAIL(render(e)); });
  auto r3 = self->request(store, caf::infinite, read_atom::value, index_t{5}, index_t{10},
                          uint64_t{1} << 20);
  sched.run();
  r3.receive([&](log_entries&) { BOOST_FAIL("read of purged entries succeeded"); },
             [&](caf::error& e) { BOOST_CHECK(is(e, errc::snapshot_needed)); });
  // Restart on the same directory: everything acknowledged is still there.
  stop();
  start();
  auto st = load();
  BOOST_CHECK_EQUAL(st.id, 7u);
  BOOST_CHECK_EQUAL(st.first_index, 13u);
  BOOST_CHECK(st.last == (log_id{1, 14}));
  BOOST_CHECK_EQUAL(st.commit, 12u);
  BOOST_CHECK(st.config == meta.config);
  BOOST_CHECK(st.config_id == meta.last);
  BOOST_REQUIRE_EQUAL(st.term_starts.size(), 1u);
  BOOST_CHECK(st.term_starts[0] == (log_id{1, 13}));
}

BOOST_AUTO_TEST_CASE(spawn_refuses_foreign_directory) {
  stop();
  auto opts = options();
  opts.id = 8;
  auto h = spawn_persistence(sys, opts, false);
  BOOST_REQUIRE(!h);
  BOOST_TEST_MESSAGE(render(h.error()));
  BOOST_CHECK(is(h.error(), errc::foreign_data_dir));
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

// A real actor system, on threads, for a node that runs as in production.
struct threaded_system {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scoped_actor self;
  threaded_system() : sys{(add_message_types(cfg), cfg)}, self{sys} {
  }
};

node_config single_voter(const std::string& dir) {
  node_config nc;
  nc.id = 1;
  nc.bootstrap.voters = {1};
  nc.data_dir = dir;
  nc.log = [](const std::string&) {};
  return nc;
}

} // namespace

// With real threads: the storage actor closes LMDB on its own thread. A node ends only after it,
// so whoever sees the node go down can reopen its data dir at once (a restart in-process).
BOOST_AUTO_TEST_CASE(a_stopped_node_has_released_its_data_dir_when_it_is_down) {
  temp_dir dir;
  threaded_system threads;
  auto& sys = threads.sys;
  auto& self = threads.self;
  auto nc = single_voter(dir.path);
  nc.snapshot_entries = 3;  // snapshot writers at work while the node stops
  nc.snapshot_log_ratio = 0;
  auto temp_files = [&] {
    size_t n = 0;
    std::error_code ec;
    for (auto& f : std::filesystem::directory_iterator(dir.path + "/snapshots", ec))
      n += f.path().extension() == ".tmp";
    return n;
  };
  auto put = [&](const node_api& node, int i) {
    return self->request(caf::actor_cast<caf::actor>(node), std::chrono::seconds(10),
                         propose_atom::value,
                         encode(kv_command::put("k" + std::to_string(i), std::string(4096, 'v'))));
  };
  for (int round = 0; round < 12; ++round) {
    // Storage has a thread of its own with sync on and runs on the scheduler's workers with
    // sync off: either way it lets go of the data dir before the node is down.
    nc.sync = round % 4 < 2;
    BOOST_TEST_CONTEXT("round " << round << (nc.sync ? ", sync on" : ", sync off")) {
      auto node = spawn_node(sys, nc, std::make_unique<kv_state_machine>());
      BOOST_REQUIRE_MESSAGE(node, sys.render(node ? caf::error{} : node.error()));
      // A single voter elects itself after one election timeout.
      bool leads = false;
      for (int i = 0; i < 100 && !leads; ++i) {
        self->request(*node, std::chrono::seconds(5), status_atom::value)
          .receive([&](node_status& st) { leads = st.role == "leader"; }, [](caf::error&) {});
        if (!leads)
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      BOOST_CHECK(leads);
      // Round 0 builds a state of 4 MiB, so that later snapshots take a while to write.
      std::vector<caf::response_handle<caf::blocking_actor, caf::message, true>> writes;
      for (int i = 0; i < (round == 0 ? 1024 : 3); ++i)
        writes.push_back(put(*node, i));
      if (round % 2 == 1) {
        // Answered writes: a snapshot of the whole state has just started.
        for (auto& w : writes)
          w.receive([](std::string&) {},
                    [](caf::error& e) { BOOST_ERROR("write failed: " << caf::to_string(e)); });
        writes.clear();
      }
      self->monitor(*node);
      self->send_exit(*node, caf::exit_reason::user_shutdown);
      self->receive([](caf::down_msg&) {});
      // Down means done with the data dir: no snapshot writer is still filling a file.
      BOOST_CHECK_EQUAL(temp_files(), 0u);
      // Writes still in flight at the stop are answered, never left hanging.
      for (auto& w : writes)
        w.receive([](std::string&) {}, [](caf::error& e) {
          BOOST_CHECK(is(e, errc::unavailable) || is(e, errc::shutting_down)
                      || is(e, errc::not_leader));
        });
    }
  }
  auto last = spawn_node(sys, nc, std::make_unique<kv_state_machine>());
  BOOST_REQUIRE(last);
  self->send_exit(*last, caf::exit_reason::user_shutdown);
}

// The commit index reaches the store with the node's next append, or after a heartbeat interval
// when no append follows: a quiet node still leaves a restart hint that covers its last writes.
BOOST_AUTO_TEST_CASE(a_quiet_node_stores_its_commit_index_within_a_heartbeat) {
  temp_dir dir;
  index_t commit = 0;
  {
    threaded_system threads;
    auto& sys = threads.sys;
    auto& self = threads.self;
    auto nc = single_voter(dir.path);
    auto node = spawn_node(sys, nc, std::make_unique<kv_state_machine>());
    BOOST_REQUIRE_MESSAGE(node, sys.render(node ? caf::error{} : node.error()));
    auto status = [&] {
      node_status result;
      self->request(*node, std::chrono::seconds(5), status_atom::value)
        .receive([&](node_status& st) { result = std::move(st); },
                 [](caf::error& e) { BOOST_FAIL("status failed: " << caf::to_string(e)); });
      return result;
    };
    for (int i = 0; i < 100 && status().role != "leader"; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    for (int i = 0; i < 5; ++i)
      self->request(*node, std::chrono::seconds(10), propose_atom::value,
                    encode(kv_command::put("k" + std::to_string(i), "v")))
        .receive([](std::string&) {},
                 [](caf::error& e) { BOOST_FAIL("write failed: " << caf::to_string(e)); });
    commit = status().commit;
    BOOST_REQUIRE_GE(commit, 6u);  // the leader's no-op and the five writes
    std::this_thread::sleep_for(4 * nc.heartbeat_interval);
    self->monitor(*node);
    self->send_exit(*node, caf::exit_reason::user_shutdown);
    self->receive([](caf::down_msg&) {});
  }
  storage_options so;
  so.dir = dir.path;
  so.id = 1;
  so.cluster_id = "caf-raft";
  so.bootstrap.voters = {1};
  auto store = log_store::open(so);
  BOOST_REQUIRE_MESSAGE(store, caf::to_string(store ? caf::error{} : store.error()));
  auto loaded = store->load();
  BOOST_REQUIRE(loaded);
  BOOST_CHECK_EQUAL(loaded->commit, commit);
}
