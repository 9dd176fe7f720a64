// Each consensus actor alone on CAF's deterministic scheduler, talking to a recording stand-in:
// the election actor's timers and tallies, a replicator's probing, backtracking and pipelining, the
// apply actor's exactly-once, in-order application, the client-side proposer's batching, and a
// node that acknowledges, counts and votes only with what its store has made durable.
#define BOOST_TEST_MODULE actors
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <memory>

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "actors/applier.hpp"
#include "actors/election.hpp"
#include "actors/node.hpp"
#include "actors/proposer.hpp"
#include "actors/replicator.hpp"
#include "kv/kv_state_machine.hpp"
#include "messages/append.hpp"
#include "messages/codec.hpp"
#include "messages/errc.hpp"
#include "messages/internal.hpp"
#include "messages/registry.hpp"
#include "messages/vote.hpp"
#include "persistence/persistence.hpp"

using namespace raft;
using namespace std::chrono_literals;

namespace {

struct test_config : caf::actor_system_config {
  test_config() {
    set("scheduler.policy", caf::atom("testing"));
    set("logger.inline-output", true);
    raft::add_message_types(*this);
  }
};

// Records every message it receives, in order.
caf::behavior recorder(caf::event_based_actor* self, std::shared_ptr<std::vector<caf::message>> log) {
  self->set_default_handler(
    [log](caf::scheduled_actor*, caf::message_view& x) -> caf::result<caf::message> {
      log->push_back(x.move_content_to_message());
      return caf::message{};
    });
  return {[](caf::unit_t) {}};
}

struct fixture {
  test_config cfg;
  caf::actor_system sys{cfg};
  caf::scheduler::test_coordinator& sched
    = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  std::shared_ptr<std::vector<caf::message>> seen = std::make_shared<std::vector<caf::message>>();
  caf::actor probe = sys.spawn(recorder, seen);
  std::vector<caf::actor> to_kill{probe};

  ~fixture() {
    for (auto& a : to_kill)
      caf::anon_send_exit(a, caf::exit_reason::kill);
    sched.run();
  }

  // Messages the recorder got whose elements match Ts..., in arrival order.
  template <class... Ts>
  std::vector<caf::message> received() const {
    std::vector<caf::message> out;
    for (auto& m : *seen)
      if (m.match_elements<Ts...>())
        out.push_back(m);
    return out;
  }
};

} // namespace

// -- election ------------------------------------------------------------------------------------

BOOST_FIXTURE_TEST_SUITE(election_actor, fixture)

BOOST_AUTO_TEST_CASE(times_out_and_asks_for_a_pre_vote_then_reports_the_win) {
  election_options eo{1, 100ms, true, true, 7};
  auto e = spawn_election(sys, probe, eo);
  to_kill.push_back(e);
  sched.run();
  sched.advance_time(99ms);
  sched.run();
  BOOST_CHECK((received<campaign_atom, bool>().empty()));  // randomized in [100ms, 200ms)
  sched.advance_time(101ms);
  sched.run();
  auto asks = received<campaign_atom, bool>();
  BOOST_REQUIRE_EQUAL(asks.size(), 1u);
  BOOST_CHECK(asks[0].get_as<bool>(1));  // PreVote first
  // The node starts the pre-campaign for term 3 among voters {1,2,3}.
  membership m;
  m.voters = {1, 2, 3};
  caf::anon_send(e, campaign_atom::value, true, term_t{3}, m);
  caf::anon_send(e, vote_response{3, 2, false, true});
  sched.run();
  BOOST_CHECK((received<elected_atom, bool, term_t>().empty()));
  caf::anon_send(e, vote_response{3, 3, true, true});
  sched.run();
  auto won = received<elected_atom, bool, term_t>();
  BOOST_REQUIRE_EQUAL(won.size(), 1u);
  BOOST_CHECK(won[0].get_as<bool>(1));
  BOOST_CHECK_EQUAL(won[0].get_as<term_t>(2), 3u);
}

BOOST_AUTO_TEST_CASE(hearing_from_a_leader_postpones_the_election) {
  election_options eo{1, 100ms, true, true, 7};
  auto e = spawn_election(sys, probe, eo);
  to_kill.push_back(e);
  sched.run();
  for (int i = 0; i < 10; ++i) {
    sched.advance_time(60ms);
    caf::anon_send(e, heard_atom::value);
    sched.run();
  }
  BOOST_CHECK((received<campaign_atom, bool>().empty()));
  sched.advance_time(200ms);
  sched.run();
  BOOST_CHECK_EQUAL((received<campaign_atom, bool>().size()), 1u);
}

BOOST_AUTO_TEST_CASE(a_majority_of_refusals_loses_and_grants_for_other_terms_do_not_count) {
  election_options eo{1, 100ms, false, true, 7};
  auto e = spawn_election(sys, probe, eo);
  to_kill.push_back(e);
  membership m;
  m.voters = {1, 2, 3, 4, 5};
  caf::anon_send(e, campaign_atom::value, false, term_t{4}, m);
  caf::anon_send(e, vote_response{3, 2, true, false});  // a grant from an older campaign
  caf::anon_send(e, vote_response{4, 3, false, false});
  caf::anon_send(e, vote_response{4, 4, false, false});
  caf::anon_send(e, vote_response{4, 5, false, false});  // 3 of 5 refused: lost
  caf::anon_send(e, vote_response{4, 2, true, false});   // too late to count
  sched.run();
  BOOST_CHECK((received<elected_atom, bool, term_t>().empty()));
}

BOOST_AUTO_TEST_CASE(a_leader_checks_its_quorum_once_per_timeout) {
  election_options eo{1, 100ms, true, true, 7};
  auto e = spawn_election(sys, probe, eo);
  to_kill.push_back(e);
  caf::anon_send(e, role_atom::value, node_role::leader, term_t{2});
  sched.run();
  sched.advance_time(100ms);
  sched.run();
  sched.advance_time(100ms);
  sched.run();
  BOOST_CHECK_EQUAL(received<check_atom>().size(), 2u);
  BOOST_CHECK((received<campaign_atom, bool>().empty()));
}

BOOST_AUTO_TEST_SUITE_END()

// -- replicator ----------------------------------------------------------------------------------

namespace {

struct replicator_fixture : fixture {
  std::filesystem::path dir = std::filesystem::temp_directory_path()
                              / ("caf-raft-actors-" + std::to_string(::getpid()));
  persistence_actor store;

  replicator_fixture() {
    std::filesystem::remove_all(dir);
    storage_options so;
    so.dir = dir.string();
    so.id = 1;
    so.cluster_id = "test";
    so.bootstrap.voters = {1, 2};
    so.sync = false;
    auto s = spawn_persistence(sys, so, false);
    BOOST_REQUIRE(s);
    store = *s;
    to_kill.push_back(caf::actor_cast<caf::actor>(store));
  }

  ~replicator_fixture() {
    caf::anon_send_exit(store, caf::exit_reason::kill);
    sched.run();
    std::filesystem::remove_all(dir);
  }

  static log_entries entries(index_t from, index_t to, term_t term) {
    log_entries xs;
    for (auto i = from; i <= to; ++i)
      xs.push_back(log_entry{i, term, entry_kind::normal, "x" + std::to_string(i)});
    return xs;
  }

  std::vector<append_request> appends() const {
    std::vector<append_request> out;
    for (auto& m : received<append_request>())
      out.push_back(m.get_as<append_request>(0));
    return out;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(replicator_actor, replicator_fixture)

BOOST_AUTO_TEST_CASE(new_entries_go_out_in_batches_within_the_window) {
  replicator_options ro;
  ro.leader = 1;
  ro.follower = 2;
  ro.term = 1;
  ro.heartbeat_interval = 50ms;
  ro.max_batch_entries = 2;
  ro.max_inflight_msgs = 2;
  auto r = spawn_replicator(sys, ro, probe, store, log_terms{});
  to_kill.push_back(r);
  sched.run();
  // Probing: a single (here empty) request until the follower's position is known.
  auto sent = appends();
  BOOST_REQUIRE_EQUAL(sent.size(), 1u);
  BOOST_CHECK_EQUAL(sent[0].prev.index, 0u);
  BOOST_CHECK(sent[0].entries.empty());
  auto batch = std::make_shared<const log_entries>(entries(1, 7, 1));
  seen->clear();
  caf::anon_send(r, replicate_atom::value, entry_batch{batch});
  sched.run();
  BOOST_CHECK(appends().empty());  // the probe is still unanswered
  append_response yes;
  yes.term = 1;
  yes.from = 2;
  yes.success = true;
  yes.match = {0, 0};
  seen->clear();
  caf::anon_send(r, yes);
  sched.run();
  // Replicating: two requests in flight (the window), two entries each (the batch limit).
  sent = appends();
  BOOST_REQUIRE_EQUAL(sent.size(), 2u);
  BOOST_CHECK_EQUAL(sent[0].prev.index, 0u);
  BOOST_CHECK_EQUAL(sent[0].entries.back().index, 2u);
  BOOST_CHECK_EQUAL(sent[1].prev.index, 2u);
  BOOST_CHECK_EQUAL(sent[1].entries.back().index, 4u);
  // Each acknowledgement frees one slot.
  yes.match = {1, 2};
  seen->clear();
  caf::anon_send(r, yes);
  sched.run();
  sent = appends();
  BOOST_REQUIRE_EQUAL(sent.size(), 1u);
  BOOST_CHECK_EQUAL(sent[0].entries.back().index, 6u);
  yes.match = {1, 4};
  seen->clear();
  caf::anon_send(r, yes);
  sched.run();
  sent = appends();
  BOOST_REQUIRE_EQUAL(sent.size(), 1u);
  BOOST_CHECK_EQUAL(sent[0].entries.size(), 1u);
  BOOST_CHECK_EQUAL(sent[0].entries[0].index, 7u);
  BOOST_CHECK_EQUAL(sent[0].commit, 0u);
  // The commit index the node publishes goes out with the next request; no message tells us.
  ro.commit.raise(5);
  seen->clear();
  caf::anon_send(r, heartbeat_atom::value, uint64_t{1});
  sched.run();
  sent = appends();
  BOOST_REQUIRE_EQUAL(sent.size(), 1u);
  BOOST_CHECK_EQUAL(sent[0].commit, 5u);
}

BOOST_AUTO_TEST_CASE(jumps_over_a_conflicting_term_and_streams_within_the_window) {
  // Storage holds the leader's log 1..6: 1..3 in term 1, 4..6 in term 3.
  auto stored = entries(1, 3, 1);
  auto more = entries(4, 6, 3);
  stored.insert(stored.end(), more.begin(), more.end());
  caf::scoped_actor self{sys, true};
  auto h = self->request(store, caf::infinite, append_atom::value, stored);
  sched.run();
  h.receive([](log_id&) {}, [](caf::error& e) { BOOST_FAIL(caf::to_string(e)); });
  log_terms log{{0, 0}, {{1, 1}, {3, 4}}, {3, 6}};
  replicator_options ro;
  ro.leader = 1;
  ro.follower = 2;
  ro.term = 3;
  ro.heartbeat_interval = 50ms;
  ro.max_batch_entries = 1;
  ro.max_inflight_msgs = 2;
  auto r = spawn_replicator(sys, ro, probe, store, log);
  to_kill.push_back(r);
  sched.run();
  auto sent = appends();
  BOOST_REQUIRE(!sent.empty());
  BOOST_CHECK_EQUAL(sent.back().prev.index, 6u);  // the initial (empty) probe
  // Follower: entries 1..5 where 4..5 are of term 2; it rejects prev 6 (no entry there).
  append_response no;
  no.term = 3;
  no.from = 2;
  no.rejected = 6;
  no.conflict_index = 6;
  no.last_index = 5;
  seen->clear();
  caf::anon_send(r, no);
  sched.run();
  sent = appends();
  BOOST_REQUIRE_EQUAL(sent.size(), 1u);
  BOOST_CHECK_EQUAL(sent[0].prev.index, 5u);
  // It rejects prev 5 with its conflicting term 2, which starts at 4 in its log; the leader has
  // no term 2 at all, so it jumps straight to 4 instead of stepping back one index at a time.
  no.rejected = 5;
  no.conflict_term = 2;
  no.conflict_index = 4;
  seen->clear();
  caf::anon_send(r, no);
  sched.run();
  sent = appends();
  BOOST_REQUIRE_EQUAL(sent.size(), 1u);
  BOOST_CHECK_EQUAL(sent[0].prev.index, 3u);
  BOOST_CHECK_EQUAL(sent[0].prev.term, 1u);
  BOOST_REQUIRE_EQUAL(sent[0].entries.size(), 1u);
  BOOST_CHECK_EQUAL(sent[0].entries[0].index, 4u);
  // Accepted: replication switches to pipelining, two requests in flight, one entry each.
  append_response yes;
  yes.term = 3;
  yes.from = 2;
  yes.success = true;
  yes.match = {3, 4};
  seen->clear();
  caf::anon_send(r, yes);
  sched.run();
  sent = appends();
  BOOST_REQUIRE_EQUAL(sent.size(), 2u);
  BOOST_CHECK_EQUAL(sent[0].entries.at(0).index, 5u);
  BOOST_CHECK_EQUAL(sent[1].entries.at(0).index, 6u);
  // A duplicate of the first rejection (prev 3, below the match) is stale and changes nothing.
  no.rejected = 3;
  seen->clear();
  caf::anon_send(r, no);
  sched.run();
  BOOST_CHECK(appends().empty());
}

BOOST_AUTO_TEST_SUITE_END()

// -- applier -------------------------------------------------------------------------------------

namespace {

// Stands in for the node: hands a batch to the applier with one waiting client (the requester).
// (The applier is a spawn argument: CAF 0.17 trips UBSan when spawning a function without any.)
caf::actor spawn_feeder(caf::actor_system& sys, caf::actor applier) {
  return sys.spawn(
    [](caf::event_based_actor* self, caf::actor applier) -> caf::behavior {
      return {[self, applier](apply_atom, log_entries& xs, index_t wait_for) {
        waiting_writes ws;
        ws.list.push_back({wait_for, wait_for, false, self->make_response_promise()});
        self->send(applier, apply_atom::value, std::move(xs), std::move(ws));
        return caf::delegated<std::string>();
      }};
    },
    std::move(applier));
}

// Answers each command with "r<index>:<command>" and records every apply_batch() call as
// (first index, commands); `results_short` makes it break the one-result-per-command contract.
class recording_machine : public state_machine {
public:
  using calls = std::vector<std::pair<index_t, size_t>>;
  recording_machine(std::shared_ptr<calls> log, bool results_short = false)
    : log_(std::move(log)), short_(results_short) {}
  std::string apply(index_t index, const std::string& command) override {
    return "r" + std::to_string(index) + ":" + command;
  }
  void apply_batch(index_t first, const std::vector<const std::string*>& commands,
                   std::vector<std::string>& results) override {
    log_->emplace_back(first, commands.size());
    if (!short_)
      state_machine::apply_batch(first, commands, results);
  }
  std::string query(const std::string&) const override { return {}; }
  std::unique_ptr<state_snapshot> snapshot() const override { return nullptr; }
  bool restore(std::istream&) override { return true; }

private:
  std::shared_ptr<calls> log_;
  bool short_;
};

// Stands in for the node: hands a batch to the applier with one batch write first..last waiting.
caf::actor spawn_batch_feeder(caf::actor_system& sys, caf::actor applier) {
  return sys.spawn(
    [](caf::event_based_actor* self, caf::actor applier) -> caf::behavior {
      return {[self, applier](apply_atom, log_entries& xs, index_t first, index_t last) {
        waiting_writes ws;
        ws.list.push_back({first, last, true, self->make_response_promise()});
        self->send(applier, apply_atom::value, std::move(xs), std::move(ws));
        return caf::delegated<std::vector<std::string>>();
      }};
    },
    std::move(applier));
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(applier_actor, fixture)

BOOST_AUTO_TEST_CASE(applies_in_order_exactly_once_and_answers_waiting_clients) {
  auto a = spawn_applier(sys, probe, std::make_unique<kv_state_machine>(), applier_options{});
  to_kill.push_back(a);
  auto feeder = spawn_feeder(sys, a);
  to_kill.push_back(feeder);
  caf::scoped_actor self{sys, true};
  auto put = [](index_t i, std::string k, std::string v) {
    return log_entry{i, 1, entry_kind::normal, encode(kv_command::put(std::move(k), std::move(v)))};
  };
  auto rd = self->request(a, caf::infinite, query_atom::value, index_t{2},
                          encode(kv_command::get("a")));
  sched.run();
  log_entries batch{log_entry{1, 1, entry_kind::noop, {}}, put(2, "a", "1")};
  auto w1 = self->request(feeder, caf::infinite, apply_atom::value, batch, index_t{2});
  sched.run();
  caf::anon_send(a, apply_atom::value, batch, waiting_writes{});  // a duplicate feed is ignored
  sched.run();
  // A client whose entry is not in the batch learns at once that its outcome is unknown.
  auto w2 = self->request(feeder, caf::infinite, apply_atom::value, log_entries{put(3, "a", "2")},
                          index_t{4});
  sched.run();
  w1.receive([](std::string& r) { BOOST_CHECK(decode<kv_result>(r)->ok); },
             [](caf::error& e) { BOOST_FAIL(caf::to_string(e)); });
  w2.receive([](std::string&) { BOOST_FAIL("answered with a result"); },
             [](caf::error& e) { BOOST_CHECK(is(e, errc::unavailable)); });
  rd.receive([](std::string& r) { BOOST_CHECK_EQUAL(decode<kv_result>(r)->value, "1"); },
             [](caf::error& e) { BOOST_FAIL(caf::to_string(e)); });
  auto applied = received<applied_atom, index_t>();
  BOOST_REQUIRE(!applied.empty());
  BOOST_CHECK_EQUAL(applied.back().get_as<index_t>(1), 3u);
  auto final_read = self->request(a, caf::infinite, query_atom::value, index_t{0},
                                  encode(kv_command::get("a")));
  sched.run();
  final_read.receive([](std::string& r) { BOOST_CHECK_EQUAL(decode<kv_result>(r)->value, "2"); },
                     [](caf::error& e) { BOOST_FAIL(caf::to_string(e)); });
}

BOOST_AUTO_TEST_CASE(answers_a_batch_write_with_all_its_results_at_once) {
  auto a = spawn_applier(sys, probe, std::make_unique<kv_state_machine>(), applier_options{});
  to_kill.push_back(a);
  auto feeder = spawn_batch_feeder(sys, a);
  to_kill.push_back(feeder);
  caf::scoped_actor self{sys, true};
  auto entry = [](index_t i, kv_command c) {
    return log_entry{i, 1, entry_kind::normal, encode(c)};
  };
  log_entries batch{log_entry{1, 1, entry_kind::noop, {}}, entry(2, kv_command::put("a", "1")),
                    entry(3, kv_command::cas("a", "1", "2")), entry(4, kv_command::get("a"))};
  auto w1 = self->request(feeder, caf::infinite, apply_atom::value, batch, index_t{2},
                          index_t{4});
  sched.run();
  w1.receive(
    [](std::vector<std::string>& rs) {
      BOOST_REQUIRE_EQUAL(rs.size(), 3u);  // in order, one per command, not for the no-op
      BOOST_CHECK(decode<kv_result>(rs[0])->ok);
      BOOST_CHECK(decode<kv_result>(rs[1])->ok);
      BOOST_CHECK_EQUAL(decode<kv_result>(rs[2])->value, "2");
    },
    [](caf::error& e) { BOOST_FAIL(caf::to_string(e)); });
  // A batch write whose tail is not in the apply batch never gets a partial answer.
  auto w2 = self->request(feeder, caf::infinite, apply_atom::value,
                          log_entries{entry(5, kv_command::put("b", "1"))}, index_t{5},
                          index_t{6});
  // Nor one whose head was applied before.
  auto w3 = self->request(feeder, caf::infinite, apply_atom::value,
                          log_entries{entry(6, kv_command::put("b", "2"))}, index_t{5},
                          index_t{6});
  sched.run();
  for (auto* w : {&w2, &w3})
    w->receive([](std::vector<std::string>&) { BOOST_FAIL("answered with results"); },
               [](caf::error& e) { BOOST_CHECK(is(e, errc::unavailable)); });
}

BOOST_AUTO_TEST_CASE(hands_each_run_of_commands_to_the_state_machine_at_once) {
  auto calls = std::make_shared<recording_machine::calls>();
  auto a = spawn_applier(sys, probe, std::make_unique<recording_machine>(calls), applier_options{});
  to_kill.push_back(a);
  auto feeder = spawn_batch_feeder(sys, a);
  to_kill.push_back(feeder);
  caf::scoped_actor self{sys, true};
  auto cmd = [](index_t i) {
    return log_entry{i, 1, entry_kind::normal, "c" + std::to_string(i)};
  };
  auto noop = [](index_t i) { return log_entry{i, 1, entry_kind::noop, {}}; };
  // A no-op splits the commands into two runs; the write 5..7 gets its results in order.
  log_entries batch{noop(1), cmd(2), cmd(3), noop(4), cmd(5), cmd(6), cmd(7)};
  auto w1 = self->request(feeder, caf::infinite, apply_atom::value, batch, index_t{5},
                          index_t{7});
  sched.run();
  w1.receive(
    [](std::vector<std::string>& rs) {
      BOOST_CHECK((rs == std::vector<std::string>{"r5:c5", "r6:c6", "r7:c7"}));
    },
    [](caf::error& e) { BOOST_FAIL(caf::to_string(e)); });
  // A feed overlapping what was applied hands on only the entries past it.
  auto w2 = self->request(feeder, caf::infinite, apply_atom::value,
                          log_entries{cmd(6), cmd(7), cmd(8), cmd(9)}, index_t{8}, index_t{9});
  sched.run();
  w2.receive(
    [](std::vector<std::string>& rs) {
      BOOST_CHECK((rs == std::vector<std::string>{"r8:c8", "r9:c9"}));
    },
    [](caf::error& e) { BOOST_FAIL(caf::to_string(e)); });
  BOOST_CHECK((*calls == recording_machine::calls{{2, 2}, {5, 3}, {8, 2}}));
  auto applied = received<applied_atom, index_t>();
  BOOST_REQUIRE(!applied.empty());
  BOOST_CHECK_EQUAL(applied.back().get_as<index_t>(1), 9u);
}

BOOST_AUTO_TEST_CASE(stops_when_the_state_machine_breaks_the_batch_contract) {
  // Results that do not match the commands one to one cannot be handed to clients.
  auto calls = std::make_shared<recording_machine::calls>();
  auto a = spawn_applier(sys, probe, std::make_unique<recording_machine>(calls, true),
                         applier_options{});
  auto feeder = spawn_batch_feeder(sys, a);
  to_kill.push_back(feeder);
  caf::scoped_actor self{sys, true};
  self->monitor(a);
  auto w = self->request(feeder, caf::infinite, apply_atom::value,
                         log_entries{log_entry{1, 1, entry_kind::normal, "c1"}}, index_t{1},
                         index_t{1});
  sched.run();
  w.receive([](std::vector<std::string>&) { BOOST_FAIL("answered with results"); },
            [](caf::error& e) { BOOST_CHECK(is(e, errc::unavailable)); });
  self->receive([](caf::down_msg& dm) { BOOST_CHECK(is(dm.reason, errc::invalid_argument)); },
                caf::after(std::chrono::seconds(0)) >> [] { BOOST_FAIL("the applier kept going"); });
  BOOST_CHECK((received<applied_atom, index_t>().empty()));
}

BOOST_AUTO_TEST_CASE(stops_at_a_gap_and_tells_its_waiting_client) {
  // The node feeds in order; a gap is a bug, and applying past it would break "exactly once,
  // in order". The applier stops (taking the linked node with it) instead of guessing.
  auto a = spawn_applier(sys, probe, std::make_unique<kv_state_machine>(), applier_options{});
  auto feeder = spawn_feeder(sys, a);
  to_kill.push_back(feeder);
  caf::scoped_actor self{sys, true};
  self->monitor(a);
  auto w = self->request(feeder, caf::infinite, apply_atom::value,
                         log_entries{log_entry{2, 1, entry_kind::normal,
                                               encode(kv_command::put("b", "2"))}},
                         index_t{2});
  sched.run();
  w.receive([](std::string&) { BOOST_FAIL("applied past a gap"); },
            [](caf::error& e) { BOOST_CHECK(is(e, errc::unavailable)); });
  self->receive([](caf::down_msg& dm) { BOOST_CHECK(is(dm.reason, errc::log_conflict)); },
                caf::after(std::chrono::seconds(0)) >> [] { BOOST_FAIL("the applier kept going"); });
  BOOST_CHECK((received<applied_atom, index_t>().empty()));
}

BOOST_AUTO_TEST_SUITE_END()

// -- proposer ------------------------------------------------------------------------------------

namespace {

// Stands in for a leader: holds every batch proposal until told to answer the oldest one.
struct held_batches {
  std::vector<std::vector<std::string>> cmds;
  std::vector<caf::response_promise> rps;
};

caf::behavior fake_leader(caf::event_based_actor* self, std::shared_ptr<held_batches> held) {
  return {
    [self, held](propose_atom, std::vector<std::string>& cmds) {
      held->cmds.push_back(cmds);
      held->rps.push_back(self->make_response_promise());
      return caf::delegated<std::vector<std::string>>();
    },
    [held](caf::ok_atom, size_t i, caf::error& err) { held->rps[i].deliver(std::move(err)); },
    [held](caf::ok_atom, size_t i, bool refuse) {  // answer batch i: "r:" + each command
      if (refuse) {
        held->rps[i].deliver(make_error(errc::not_leader, node_id{3}, "not the leader"));
        return;
      }
      std::vector<std::string> rs;
      for (auto& c : held->cmds[i])
        rs.push_back("r:" + c);
      held->rps[i].deliver(std::move(rs));
    },
  };
}

} // namespace

// A proposer in front of a fake leader that holds every batch until the test answers it.
struct proposer_fixture : fixture {
  std::shared_ptr<held_batches> held = std::make_shared<held_batches>();
  caf::actor leader = sys.spawn(fake_leader, held);

  proposal_api spawn(size_t batches_in_flight, size_t max_batch = 1024) {
    to_kill.push_back(leader);
    proposer_options opts;
    opts.max_batches_in_flight = batches_in_flight;
    opts.max_batch = max_batch;
    return spawn_proposer(sys, caf::actor_cast<node_api>(leader), opts);
  }
};

BOOST_FIXTURE_TEST_SUITE(proposer_actor, proposer_fixture)

BOOST_AUTO_TEST_CASE(coalesces_callers_into_batches_and_answers_each_its_own_result) {
  auto p = spawn(2, 8);
  to_kill.push_back(caf::actor_cast<caf::actor>(p));
  caf::scoped_actor self{sys, true};
  using handle = decltype(self->request(p, caf::infinite, propose_atom::value, std::string{}));
  std::vector<handle> calls;
  auto call = [&](int i) {
    calls.push_back(self->request(p, caf::infinite, propose_atom::value, std::to_string(i)));
  };
  // Callers that arrive together leave together, up to max_batch per batch and two batches out.
  for (int i = 0; i < 10; ++i)
    call(i);
  sched.run();
  BOOST_REQUIRE_EQUAL(held->cmds.size(), 2u);
  BOOST_CHECK_EQUAL(held->cmds[0].size(), 8u);
  BOOST_CHECK_EQUAL(held->cmds[1].size(), 2u);
  BOOST_CHECK_EQUAL(held->cmds[1][1], "9");
  // Both slots taken: newcomers wait, and all of them leave with the next free slot.
  for (int i = 10; i < 15; ++i)
    call(i);
  sched.run();
  BOOST_CHECK_EQUAL(held->cmds.size(), 2u);
  caf::anon_send(leader, caf::ok_atom::value, size_t{1}, false);
  sched.run();
  BOOST_REQUIRE_EQUAL(held->cmds.size(), 3u);
  BOOST_CHECK_EQUAL(held->cmds[2].size(), 5u);
  // A refused batch refuses each of its callers with the leader's error.
  caf::anon_send(leader, caf::ok_atom::value, size_t{0}, true);
  caf::anon_send(leader, caf::ok_atom::value, size_t{2}, false);
  sched.run();
  for (int i = 0; i < 15; ++i) {
    calls[static_cast<size_t>(i)].receive(
      [i](std::string& r) {
        BOOST_CHECK(i >= 8);
        BOOST_CHECK_EQUAL(r, "r:" + std::to_string(i));
      },
      [i](caf::error& e) {
        BOOST_CHECK(i < 8);
        BOOST_CHECK(is(e, errc::not_leader));
      });
  }
}

// Two fake members, 1 and 3, in front of a proposer that follows leadership and starts at 1.
struct following_fixture : proposer_fixture {
  std::shared_ptr<held_batches> held3 = std::make_shared<held_batches>();
  caf::actor leader3 = sys.spawn(fake_leader, held3);
  caf::scoped_actor self{sys, true};
  using handle = decltype(self->request(std::declval<proposal_api>(), caf::infinite,
                                        propose_atom::value, std::string{}));

  proposal_api spawn_following(size_t batches_in_flight) {
    to_kill.push_back(leader);
    to_kill.push_back(leader3);
    proposer_options opts;
    opts.max_batches_in_flight = batches_in_flight;
    opts.max_batch = 1;
    std::map<node_id, node_api> members{{1, caf::actor_cast<node_api>(leader)},
                                        {3, caf::actor_cast<node_api>(leader3)}};
    auto p = spawn_proposer(sys, std::move(members), 1, opts);
    BOOST_REQUIRE(p);
    to_kill.push_back(caf::actor_cast<caf::actor>(*p));
    return *p;
  }

  static caf::error moved_to(node_id id) {
    return make_error(errc::not_leader, id, "not the leader");
  }

  // The results the callers got: "r:<cmd>", or the error's errc name.
  static std::vector<std::string> outcomes(std::vector<handle>& calls) {
    std::vector<std::string> out;
    for (auto& h : calls)
      h.receive([&](std::string& r) { out.push_back(r); },
                [&](caf::error& e) { out.push_back(to_string(static_cast<errc>(e.code()))); });
    return out;
  }
};

BOOST_FIXTURE_TEST_CASE(a_following_proposer_resends_refused_batches_in_order_to_the_named_leader,
                        following_fixture) {
  auto p = spawn_following(2);
  std::vector<handle> calls;
  for (auto c : {"a", "b", "c"})
    calls.push_back(self->request(p, caf::infinite, propose_atom::value, std::string{c}));
  sched.run();
  BOOST_REQUIRE_EQUAL(held->cmds.size(), 2u);  // a and b at member 1; c waits for a slot
  // Member 1 refuses a, naming 3: nothing moves until b is answered too, so a cannot fall
  // behind b (or c) at the new leader.
  caf::anon_send(leader, caf::ok_atom::value, size_t{0}, moved_to(3));
  sched.run();
  BOOST_CHECK_EQUAL(held3->cmds.size(), 0u);
  caf::anon_send(leader, caf::ok_atom::value, size_t{1}, moved_to(3));
  sched.run();
  BOOST_REQUIRE_EQUAL(held3->cmds.size(), 2u);
  BOOST_CHECK_EQUAL(held3->cmds[0].front(), "a");
  BOOST_CHECK_EQUAL(held3->cmds[1].front(), "b");
  for (size_t i = 0; i < 2; ++i)
    caf::anon_send(leader3, caf::ok_atom::value, i, false);
  sched.run();
  BOOST_REQUIRE_EQUAL(held3->cmds.size(), 3u);
  BOOST_CHECK_EQUAL(held3->cmds[2].front(), "c");
  caf::anon_send(leader3, caf::ok_atom::value, size_t{2}, false);
  sched.run();
  BOOST_CHECK_EQUAL(held->cmds.size(), 2u);  // member 1 was never asked again
  auto got = outcomes(calls);
  BOOST_CHECK((got == std::vector<std::string>{"r:a", "r:b", "r:c"}));
}

BOOST_FIXTURE_TEST_CASE(a_refused_batch_is_not_resent_behind_one_the_leader_took,
                        following_fixture) {
  auto p = spawn_following(2);
  std::vector<handle> calls;
  for (auto c : {"a", "b"})
    calls.push_back(self->request(p, caf::infinite, propose_atom::value, std::string{c}));
  sched.run();
  BOOST_REQUIRE_EQUAL(held->cmds.size(), 2u);
  // a is refused (busy), b is taken: resending a now would apply it after b.
  caf::anon_send(leader, caf::ok_atom::value, size_t{0}, make_error(errc::busy, "backlog"));
  caf::anon_send(leader, caf::ok_atom::value, size_t{1}, false);
  sched.run();
  BOOST_CHECK_EQUAL(held->cmds.size(), 2u);
  BOOST_CHECK_EQUAL(held3->cmds.size(), 0u);
  auto got = outcomes(calls);
  BOOST_CHECK((got == std::vector<std::string>{"busy", "r:b"}));
}

BOOST_FIXTURE_TEST_CASE(with_no_leader_named_a_following_proposer_waits_and_asks_the_next_member,
                        following_fixture) {
  auto p = spawn_following(1);
  std::vector<handle> calls;
  calls.push_back(self->request(p, caf::infinite, propose_atom::value, std::string{"a"}));
  sched.run();
  caf::anon_send(leader, caf::ok_atom::value, size_t{0}, moved_to(no_node));  // mid-election
  calls.push_back(self->request(p, caf::infinite, propose_atom::value, std::string{"b"}));
  sched.run();
  BOOST_CHECK_EQUAL(held3->cmds.size(), 0u);  // not before retry_delay
  BOOST_CHECK_EQUAL(held->cmds.size(), 1u);   // and b waits behind the parked a
  BOOST_REQUIRE(sched.trigger_timeout());
  sched.run();
  BOOST_REQUIRE_EQUAL(held3->cmds.size(), 1u);
  BOOST_CHECK_EQUAL(held3->cmds[0].front(), "a");
  caf::anon_send(leader3, caf::ok_atom::value, size_t{0}, false);
  sched.run();
  BOOST_REQUIRE_EQUAL(held3->cmds.size(), 2u);
  caf::anon_send(leader3, caf::ok_atom::value, size_t{1}, false);
  sched.run();
  auto got = outcomes(calls);
  BOOST_CHECK((got == std::vector<std::string>{"r:a", "r:b"}));
}

BOOST_FIXTURE_TEST_CASE(a_following_proposer_needs_a_member_to_ask, following_fixture) {
  BOOST_CHECK(is(spawn_proposer(sys, {}, no_node).error(), errc::invalid_argument));
  std::map<node_id, node_api> members{{1, caf::actor_cast<node_api>(leader)}};
  BOOST_CHECK(is(spawn_proposer(sys, members, 2).error(), errc::invalid_argument));
  to_kill.push_back(leader);
  to_kill.push_back(leader3);
}

BOOST_AUTO_TEST_CASE(an_unanswered_batch_times_out_and_its_late_answer_is_dropped) {
  to_kill.push_back(leader);
  proposer_options opts;
  opts.timeout = std::chrono::seconds(10);
  auto p = spawn_proposer(sys, caf::actor_cast<node_api>(leader), opts);
  to_kill.push_back(caf::actor_cast<caf::actor>(p));
  caf::scoped_actor self{sys, true};
  auto a = self->request(p, caf::infinite, propose_atom::value, std::string{"a"});
  sched.run();
  BOOST_REQUIRE_EQUAL(held->cmds.size(), 1u);
  auto start = sched.clock().now();
  BOOST_REQUIRE(sched.trigger_timeout());  // the watchdog, at the batch's deadline
  BOOST_CHECK(sched.clock().now() - start >= opts.timeout);
  sched.run();
  a.receive([](std::string&) { BOOST_FAIL("answered with a result"); },
            [](caf::error& e) { BOOST_CHECK(e == caf::sec::request_timeout); });
  // The leader answers late: nobody gets that answer, and the next command goes out as usual.
  caf::anon_send(leader, caf::ok_atom::value, size_t{0}, false);
  sched.run();
  auto b = self->request(p, caf::infinite, propose_atom::value, std::string{"b"});
  sched.run();
  BOOST_REQUIRE_EQUAL(held->cmds.size(), 2u);
  caf::anon_send(leader, caf::ok_atom::value, size_t{1}, false);
  sched.run();
  b.receive([](std::string& r) { BOOST_CHECK_EQUAL(r, "r:b"); },
            [](caf::error& e) { BOOST_FAIL("failed: " << to_string(e)); });
  // With nothing in flight the watchdog wakes once more (armed for b) and then stays off.
  BOOST_CHECK(sched.trigger_timeout());
  sched.run();
  BOOST_CHECK(!sched.trigger_timeout());
}

BOOST_AUTO_TEST_CASE(a_stopping_proposer_answers_every_caller) {
  auto p = spawn(1);
  caf::scoped_actor self{sys, true};
  auto sent1 = self->request(p, caf::infinite, propose_atom::value, std::string{"a"});
  auto sent2 = self->request(p, caf::infinite, propose_atom::value, std::string{"b"});
  sched.run();
  auto queued = self->request(p, caf::infinite, propose_atom::value, std::string{"c"});
  sched.run();
  BOOST_REQUIRE_EQUAL(held->cmds.size(), 1u);
  caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
  sched.run();
  for (auto* h : {&sent1, &sent2})
    h->receive([](std::string&) { BOOST_FAIL("answered with a result"); },
               [](caf::error& e) { BOOST_CHECK(is(e, errc::unavailable)); });
  queued.receive([](std::string&) { BOOST_FAIL("answered with a result"); },
                 [](caf::error& e) { BOOST_CHECK(is(e, errc::shutting_down)); });
}

BOOST_AUTO_TEST_SUITE_END()

// -- node ----------------------------------------------------------------------------------------

namespace {

log_entries entries_of_term(term_t term, index_t from, index_t to) {
  log_entries xs;
  for (auto i = from; i <= to; ++i) {
    log_entry e;
    e.index = i;
    e.term = term;
    e.payload = encode(kv_command::put("k" + std::to_string(i), "v"));
    xs.push_back(std::move(e));
  }
  return xs;
}

// Runs every ready actor except storage: what the node does while its disk has not answered.
void run_all_but_storage(caf::scheduler::test_coordinator& sched) {
  sched.run_jobs_filtered([](caf::resumable* job) {
    auto a = dynamic_cast<caf::local_actor*>(job);
    return a == nullptr || std::string(a->name()) != "raft.persistence";
  });
}

struct node_fixture : fixture {
  std::filesystem::path dir = std::filesystem::temp_directory_path()
                              / ("caf-raft-actors-" + std::to_string(::getpid()));
  caf::actor node;

  // Node `id` of {1, 2, 3}; the recorder stands in for both of the other members.
  void start(node_id id) {
    std::filesystem::remove_all(dir);
    node_config nc;
    nc.id = id;
    nc.bootstrap.voters = {1, 2, 3};
    nc.data_dir = dir.string();
    nc.detached = false;
    nc.seed = 1;
    nc.log = [](const std::string&) {};
    auto n = spawn_node(sys, nc, std::make_unique<kv_state_machine>());
    BOOST_REQUIRE(n);
    node = caf::actor_cast<caf::actor>(*n);
    to_kill.push_back(node);
    sched.run();
    for (node_id peer : {1, 2, 3})
      if (peer != id)
        caf::anon_send(node, peer_atom::value, peer, probe);
    sched.run();
  }

  ~node_fixture() {
    caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
    sched.run();
    std::filesystem::remove_all(dir);
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(node_actor, node_fixture)

// A follower's acknowledgment tells the leader the entries survive a crash, so it must wait for
// the store. The simulation's random crashes rarely land in that window; here it is held open:
// the node and the leader run while the follower's store does not.
BOOST_AUTO_TEST_CASE(a_follower_acknowledges_entries_only_once_its_store_has_them) {
  start(2);
  // A heartbeat of term 1 first, so the new term is stored before the entries arrive.
  caf::anon_send(node, append_request{1, 1, {}, {}, 0, 1});
  sched.run();
  BOOST_REQUIRE_EQUAL(received<append_response>().size(), 1u);
  seen->clear();
  caf::anon_send(node, append_request{1, 1, {}, entries_of_term(1, 1, 3), 0, 2});
  run_all_but_storage(sched);
  BOOST_CHECK_MESSAGE(received<append_response>().empty(),
                      "acknowledged before the store had the entries");
  sched.run();
  auto acks = received<append_response>();
  BOOST_REQUIRE_EQUAL(acks.size(), 1u);
  auto& ack = acks[0].get_as<append_response>(0);
  BOOST_CHECK(ack.success);
  BOOST_CHECK(ack.match == (log_id{1, 3}));
}

// A granted vote binds the voter for the whole term, across a crash: it goes out only once the
// store holds it, or a restarted voter could grant the term to a second candidate.
BOOST_AUTO_TEST_CASE(a_vote_is_granted_only_once_its_store_has_it) {
  start(2);
  caf::anon_send(node, vote_request{1, 3, {}, false, false});
  run_all_but_storage(sched);
  BOOST_CHECK_MESSAGE(received<vote_response>().empty(), "voted before the vote was stored");
  sched.run();
  auto votes = received<vote_response>();
  BOOST_REQUIRE_EQUAL(votes.size(), 1u);
  BOOST_CHECK(votes[0].get_as<vote_response>(0).granted);
}

// The leader's own copy counts toward a majority only once it is durable: one follower's
// acknowledgment out of two is not enough while the leader's store has not answered.
BOOST_AUTO_TEST_CASE(a_leader_counts_itself_toward_a_commit_only_once_its_store_has_the_entry) {
  start(1);
  sched.trigger_timeouts();  // the election timeout: a pre-vote, then the real one
  sched.run();
  caf::anon_send(node, vote_response{1, 2, true, true});
  sched.run();
  caf::anon_send(node, vote_response{1, 2, true, false});
  sched.run();
  BOOST_REQUIRE(!received<append_request>().empty());  // leading: its no-op goes out
  auto ack = [&](index_t match) {
    append_response r;
    r.term = 1;
    r.from = 2;
    r.success = true;
    r.match = {1, match};
    r.last_index = match;
    caf::anon_send(node, r);
  };
  ack(1);
  sched.run();
  seen->clear();
  caf::send_as(probe, node, propose_atom::value, encode(kv_command::put("k", "v")));
  run_all_but_storage(sched);
  ack(2);
  run_all_but_storage(sched);
  BOOST_CHECK_MESSAGE(received<std::string>().empty(),
                      "committed with one durable copy out of three");
  sched.run();
  BOOST_CHECK_EQUAL(received<std::string>().size(), 1u);
}

BOOST_AUTO_TEST_SUITE_END()
