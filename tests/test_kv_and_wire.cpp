// Unit tests of the replicated KV state machine (commands, snapshots, digests) and of the wire
// format: every message struct must survive a CAF binary round trip and reject truncated input.
#define BOOST_TEST_MODULE kv_and_wire
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <fmt/format.h>

#include "kv/kv_state_machine.hpp"
#include "kv/kv_table.hpp"
#include "messages/append.hpp"
#include "messages/codec.hpp"
#include "messages/errc.hpp"
#include "messages/hard_state.hpp"
#include "messages/kv.hpp"
#include "messages/log_entry.hpp"
#include "messages/log_id.hpp"
#include "messages/membership.hpp"
#include "messages/node_status.hpp"
#include "messages/snapshot_meta.hpp"
#include "messages/stored_state.hpp"
#include "messages/vote.hpp"

using namespace raft;

// Failed BOOST_TEST(a == b) prints both operands; log ids are the only struct compared that way.
namespace boost::test_tools::tt_detail {
template <>
struct print_log_value<raft::log_id> {
  void operator()(std::ostream& os, const raft::log_id& x) {
    os << "(term " << x.term << ", index " << x.index << ")";
  }
};
} // namespace boost::test_tools::tt_detail

namespace {

// ---------------------------------------------------------------------------------------------
// KV helpers.

kv_command cmd(kv_op op, std::string key = {}, std::string value = {}, std::string expected = {},
               bool expect_absent = false) {
  kv_command c;
  c.op = op;
  c.key = std::move(key);
  c.value = std::move(value);
  c.expected = std::move(expected);
  c.expect_absent = expect_absent;
  return c;
}

/// Runs a command the way the apply actor does: encoded bytes in, encoded result out.
kv_result apply_cmd(kv_state_machine& sm, const kv_command& c, index_t index = 1) {
  auto out = sm.apply(index, encode(c));
  auto r = decode<kv_result>(out);
  BOOST_REQUIRE_MESSAGE(r, "apply returned an undecodable result");
  return *r;
}

kv_result query_cmd(const kv_state_machine& sm, const std::string& request) {
  auto r = decode<kv_result>(sm.query(request));
  BOOST_REQUIRE_MESSAGE(r, "query returned an undecodable result");
  return *r;
}

/// The content of a kv_table or a frozen view as an ordered map; a key listed twice makes it
/// smaller than the content's size(). No Boost.Test macros: safe on any thread.
template <class Content>
std::map<std::string, std::string> as_map(const Content& content) {
  std::map<std::string, std::string> out;
  content.for_each([&out](std::string_view k, std::string_view v) { out.emplace(k, v); });
  return out;
}

/// The store's content as an ordered map, for comparing states.
std::map<std::string, std::string> contents(const kv_state_machine& sm) {
  auto out = as_map(sm.data());
  BOOST_REQUIRE_EQUAL(out.size(), sm.data().size());
  return out;
}

std::string saved(const kv_state_machine& sm) {
  std::stringstream out;
  sm.save(out);
  return out.str();
}

/// A store with awkward content: empty key and value, NUL bytes, a large value.
kv_state_machine sample_store() {
  kv_state_machine sm;
  sm.execute(cmd(kv_op::put, "alpha", "1"));
  sm.execute(cmd(kv_op::put, "", "empty key"));
  sm.execute(cmd(kv_op::put, "empty value", ""));
  sm.execute(cmd(kv_op::put, std::string("nul\0key", 7), std::string("v\0\0x", 4)));
  sm.execute(cmd(kv_op::put, "big", std::string(100'000, 'z')));
  return sm;
}

// ---------------------------------------------------------------------------------------------
// Wire helpers.

template <class T>
std::vector<char> to_bytes(const T& x) {
  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  auto err = sink(const_cast<T&>(x));  // the inspector API wants a mutable reference
  BOOST_REQUIRE_MESSAGE(!err, "serialization failed");
  return buf;
}

/// Deserializes the first `n` bytes of `buf`; a success must consume exactly those bytes.
template <class T>
bool from_bytes(const std::vector<char>& buf, size_t n, T& x) {
  caf::binary_deserializer source{nullptr, buf.data(), n};
  if (auto err = source(x))
    return false;
  BOOST_TEST(source.remaining() == 0u);
  return true;
}

// Field-by-field comparisons: each mismatch is reported with the field's name.

void check_eq(const log_id& a, const log_id& b) {
  BOOST_TEST(a == b);
}

void check_eq(const log_entry& a, const log_entry& b) {
  BOOST_TEST(a.index == b.index);
  BOOST_TEST(a.term == b.term);
  BOOST_TEST(static_cast<int>(a.kind) == static_cast<int>(b.kind));
  BOOST_TEST(a.payload == b.payload);
}

void check_eq(const log_entries& a, const log_entries& b) {
  BOOST_REQUIRE_EQUAL(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    check_eq(a[i], b[i]);
}

void check_eq(const membership& a, const membership& b) {
  BOOST_TEST(a.voters == b.voters, boost::test_tools::per_element());
  BOOST_TEST(a.learners == b.learners, boost::test_tools::per_element());
  BOOST_TEST(a.old_voters == b.old_voters, boost::test_tools::per_element());
  BOOST_TEST((a.addresses == b.addresses));
  BOOST_TEST((a == b));  // and the struct's own operator agrees
}

void check_eq(const hard_state& a, const hard_state& b) {
  BOOST_TEST(a.term == b.term);
  BOOST_TEST(a.voted_for == b.voted_for);
  BOOST_TEST((a == b));
}

void check_eq(const snapshot_meta& a, const snapshot_meta& b) {
  check_eq(a.last, b.last);
  check_eq(a.config, b.config);
  BOOST_TEST(a.size == b.size);
  BOOST_TEST(a.checksum == b.checksum);
  BOOST_TEST((a == b));
}

void check_eq(const stored_state& a, const stored_state& b) {
  BOOST_TEST(a.id == b.id);
  BOOST_TEST(a.cluster_id == b.cluster_id);
  check_eq(a.hard, b.hard);
  BOOST_TEST(a.first_index == b.first_index);
  check_eq(a.last, b.last);
  BOOST_TEST(a.commit == b.commit);
  check_eq(a.config, b.config);
  check_eq(a.config_id, b.config_id);
  check_eq(a.snapshot, b.snapshot);
  BOOST_REQUIRE_EQUAL(a.term_starts.size(), b.term_starts.size());
  for (size_t i = 0; i < a.term_starts.size(); ++i)
    check_eq(a.term_starts[i], b.term_starts[i]);
}

void check_eq(const vote_request& a, const vote_request& b) {
  BOOST_TEST(a.term == b.term);
  BOOST_TEST(a.candidate == b.candidate);
  check_eq(a.last, b.last);
  BOOST_TEST(a.pre_vote == b.pre_vote);
  BOOST_TEST(a.transfer == b.transfer);
}

void check_eq(const vote_response& a, const vote_response& b) {
  BOOST_TEST(a.term == b.term);
  BOOST_TEST(a.from == b.from);
  BOOST_TEST(a.granted == b.granted);
  BOOST_TEST(a.pre_vote == b.pre_vote);
}

void check_eq(const append_request& a, const append_request& b) {
  BOOST_TEST(a.term == b.term);
  BOOST_TEST(a.leader == b.leader);
  check_eq(a.prev, b.prev);
  check_eq(a.entries, b.entries);
  BOOST_TEST(a.commit == b.commit);
  BOOST_TEST(a.seq == b.seq);
}

void check_eq(const append_response& a, const append_response& b) {
  BOOST_TEST(a.term == b.term);
  BOOST_TEST(a.from == b.from);
  BOOST_TEST(a.success == b.success);
  check_eq(a.match, b.match);
  BOOST_TEST(a.rejected == b.rejected);
  BOOST_TEST(a.conflict_term == b.conflict_term);
  BOOST_TEST(a.conflict_index == b.conflict_index);
  BOOST_TEST(a.last_index == b.last_index);
  BOOST_TEST(a.seq == b.seq);
}

void check_eq(const node_status& a, const node_status& b) {
  BOOST_TEST(a.id == b.id);
  BOOST_TEST(a.role == b.role);
  BOOST_TEST(a.term == b.term);
  BOOST_TEST(a.leader == b.leader);
  BOOST_TEST(a.commit == b.commit);
  BOOST_TEST(a.applied == b.applied);
  BOOST_TEST(a.first_index == b.first_index);
  check_eq(a.last, b.last);
  check_eq(a.config, b.config);
  BOOST_TEST(a.snapshot_index == b.snapshot_index);
}

void check_eq(const kv_command& a, const kv_command& b) {
  BOOST_TEST(static_cast<int>(a.op) == static_cast<int>(b.op));
  BOOST_TEST(a.key == b.key);
  BOOST_TEST(a.value == b.value);
  BOOST_TEST(a.expected == b.expected);
  BOOST_TEST(a.expect_absent == b.expect_absent);
}

void check_eq(const kv_result& a, const kv_result& b) {
  BOOST_TEST(a.ok == b.ok);
  BOOST_TEST(a.found == b.found);
  BOOST_TEST(a.value == b.value);
}

/// Full round trip plus: every strict prefix of the encoding must fail to decode (not crash).
template <class T>
void round_trip(const T& x, const char* what) {
  BOOST_TEST_CONTEXT(what) {
    auto buf = to_bytes(x);
    BOOST_TEST(!buf.empty());
    T y;
    BOOST_REQUIRE(from_bytes(buf, buf.size(), y));
    check_eq(x, y);
    // Serialization is deterministic: re-encoding the copy yields the same bytes.
    BOOST_TEST((to_bytes(y) == buf));
    for (size_t n = 0; n < buf.size(); ++n) {
      T z;
      BOOST_TEST(!from_bytes(buf, n, z), "prefix of " << n << "/" << buf.size() << " bytes");
    }
    // codec.hpp goes through the same serializers with std::string buffers.
    auto bytes = encode(x);
    BOOST_TEST((bytes == std::string(buf.begin(), buf.end())));
    auto back = decode<T>(bytes);
    BOOST_REQUIRE(back);
    check_eq(x, *back);
    if (!bytes.empty()) {
      auto bad = decode<T>(bytes.substr(0, bytes.size() - 1));
      BOOST_REQUIRE(!bad);
      BOOST_TEST(is(bad.error(), errc::invalid_argument));
    }
  }
}

membership joint_config() {
  membership m;
  m.voters = {1, 2, 4};
  m.learners = {7};
  m.old_voters = {1, 2, 3};
  m.addresses = {{1, "10.0.0.1:4000"}, {2, "10.0.0.2:4000"}, {3, ""}, {4, "[::1]:4001"},
                 {7, "learner.example:4000"}};
  return m;
}

log_entry entry(index_t index, term_t term, entry_kind kind, std::string payload) {
  log_entry e;
  e.index = index;
  e.term = term;
  e.kind = kind;
  e.payload = std::move(payload);
  return e;
}

} // namespace

// =============================================================================================
BOOST_AUTO_TEST_SUITE(kv_tables)

// Random puts, overwrites of every size and erases against std::map. Small tables kept near
// their 3/4 limit make probe runs collide, wrap around the end and shift back on erase; one
// large table covers growth. The seed is printed; CAF_RAFT_KV_SEED replays one.
BOOST_AUTO_TEST_CASE(behaves_like_a_map_under_random_operations) {
  uint64_t seed = 20261124;
  if (const char* env = std::getenv("CAF_RAFT_KV_SEED"))
    seed = std::strtoull(env, nullptr, 10);
  std::cout << "kv_tables seed " << seed << " (replay: CAF_RAFT_KV_SEED=" << seed << ")\n";
  std::mt19937_64 rng(seed);
  auto check_all = [](const kv_table& table, const std::map<std::string, std::string>& model) {
    BOOST_REQUIRE_EQUAL(table.size(), model.size());
    BOOST_REQUIRE((as_map(table) == model));  // with the sizes equal: each key once
    size_t bytes = 0;
    for (const auto& [k, v] : model) {
      bytes += k.size() + v.size();
      auto found = table.find(k);
      BOOST_REQUIRE(found.has_value());
      BOOST_REQUIRE(*found == v);
    }
    BOOST_REQUIRE_EQUAL(table.content_bytes(), bytes);
  };
  // Frozen views live across the changes: each must keep the content of its moment.
  using view = std::pair<kv_table::frozen, std::map<std::string, std::string>>;
  auto check_view = [](const view& v) {
    BOOST_REQUIRE_EQUAL(v.first.size(), v.second.size());
    BOOST_REQUIRE((as_map(v.first) == v.second));
  };
  auto run = [&](size_t keyspace, int ops, int check_every) {
    kv_table table;
    std::map<std::string, std::string> model;
    std::vector<view> views;
    for (int op = 0; op < ops; ++op) {
      if (rng() % 64 == 0) {
        if (views.size() < 3 && rng() % 2 == 0) {
          views.emplace_back(table.freeze(), model);
        } else if (!views.empty()) {
          auto i = rng() % views.size();
          check_view(views[i]);
          views.erase(views.begin() + static_cast<long>(i));
        }
      }
      auto key = "k" + std::to_string(rng() % keyspace);
      if (rng() % 16 == 0)
        key.assign(rng() % 3, '\0');  // empty and NUL keys
      switch (rng() % 6) {
        case 0:
        case 1:
        case 2:
        case 3: {
          std::string value(static_cast<size_t>(rng() % 70), static_cast<char>('a' + rng() % 26));
          table.put(key, value);
          model[key] = value;
          break;
        }
        case 4:
          BOOST_REQUIRE_EQUAL(table.erase(key), model.erase(key) == 1);
          break;
        default: {
          auto found = table.find(key);
          auto it = model.find(key);
          BOOST_REQUIRE_EQUAL(found.has_value(), it != model.end());
          if (found)
            BOOST_REQUIRE(*found == it->second);
        }
      }
      if (op % check_every == 0)
        check_all(table, model);
    }
    check_all(table, model);
    for (const auto& v : views)
      check_view(v);
    while (!model.empty()) {  // erase everything, in key order
      BOOST_REQUIRE(table.erase(model.begin()->first));
      model.erase(model.begin());
    }
    check_all(table, model);
    table.put("again", "fine");
    BOOST_REQUIRE(*table.find("again") == "fine");
    table = kv_table{};  // the views outlive the entries' table
    for (const auto& v : views)
      check_view(v);
  };
  for (int trial = 0; trial < 800; ++trial)
    run(12 + rng() % 40, 150, 1);
  run(5000, 20000, 2000);
}

// A view taken on one thread is written out on another while the table changes: the snapshot
// writer's situation. ASan in CI turns a freed shared entry into a failure.
BOOST_AUTO_TEST_CASE(a_frozen_view_is_read_on_another_thread_while_the_table_changes) {
  kv_table table;
  for (int i = 0; i < 20000; ++i)
    table.put("key" + std::to_string(i), std::string(40, 'a'));
  auto expected = as_map(table);
  auto older = table.freeze();
  auto expected_older = expected;
  table.put("key0", "changed between the views");
  expected["key0"] = "changed between the views";
  auto view = table.freeze();
  std::map<std::string, std::string> seen;
  std::thread reader([&] {
    for (int pass = 0; pass < 3; ++pass)
      seen = as_map(view);
  });
  for (int i = 0; i < 20000; ++i) {
    auto key = "key" + std::to_string(i);
    if (i % 3 == 0)
      table.erase(key);
    else
      table.put(key, std::string(size_t(i % 50), 'b'));  // mostly fits the room: would be in place
  }
  reader.join();
  BOOST_TEST((seen == expected));
  table = kv_table{};
  { auto drop = std::move(view); }  // the newer view goes first; the older still reads its own
  BOOST_TEST((as_map(older) == expected_older));
}

BOOST_AUTO_TEST_CASE(reserve_and_move_keep_the_content) {
  kv_table table;
  table.reserve(1000);
  for (int i = 0; i < 1000; ++i)
    table.put(std::to_string(i), std::string(size_t(i % 40), 'x'));
  table.put("7", std::string(500, 'y'));  // grows out of its room
  kv_table moved(std::move(table));
  BOOST_TEST(table.empty());
  BOOST_TEST(!table.find("7"));
  BOOST_TEST(moved.size() == 1000u);
  BOOST_TEST(*moved.find("7") == std::string(500, 'y'));
  BOOST_TEST(*moved.find("999") == std::string(999 % 40, 'x'));
  table = std::move(moved);
  BOOST_TEST(table.size() == 1000u);
  BOOST_TEST(moved.empty());
  table.put("new", "v");  // a moved-from table is usable
  moved.put("new", "v");
  BOOST_TEST(moved.size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(kv_commands)

BOOST_AUTO_TEST_CASE(put_and_get) {
  kv_state_machine sm;
  auto miss = apply_cmd(sm, cmd(kv_op::get, "a"));
  BOOST_TEST(miss.ok);  // get always succeeds; `found` tells whether the key exists
  BOOST_TEST(!miss.found);
  BOOST_TEST(miss.value == "");
  auto p = apply_cmd(sm, cmd(kv_op::put, "a", "1"));
  BOOST_TEST(p.ok);
  auto g = apply_cmd(sm, cmd(kv_op::get, "a"));
  BOOST_TEST(g.ok);
  BOOST_TEST(g.found);
  BOOST_TEST(g.value == "1");
  apply_cmd(sm, cmd(kv_op::put, "a", "2"));  // overwrite
  BOOST_TEST(apply_cmd(sm, cmd(kv_op::get, "a")).value == "2");
  BOOST_TEST(contents(sm).size() == 1u);
  // Binary-safe keys and values.
  std::string k("k\0\xff", 3), v("\0\0", 2);
  apply_cmd(sm, cmd(kv_op::put, k, v));
  auto gb = apply_cmd(sm, cmd(kv_op::get, k));
  BOOST_TEST(gb.found);
  BOOST_TEST(gb.value == v);
}

BOOST_AUTO_TEST_CASE(compare_and_swap) {
  kv_state_machine sm;
  sm.execute(cmd(kv_op::put, "k", "old"));
  auto wrong = apply_cmd(sm, cmd(kv_op::cas, "k", "new", "nope"));
  BOOST_TEST(!wrong.ok);
  BOOST_TEST(wrong.found);
  BOOST_TEST(wrong.value == "old");  // a failed cas reports the current value
  BOOST_TEST(contents(sm).at("k") == "old");
  auto right = apply_cmd(sm, cmd(kv_op::cas, "k", "new", "old"));
  BOOST_TEST(right.ok);
  BOOST_TEST(right.found);
  BOOST_TEST(contents(sm).at("k") == "new");
  // An absent key never equals an expected value, not even the empty string.
  auto absent = apply_cmd(sm, cmd(kv_op::cas, "missing", "x", ""));
  BOOST_TEST(!absent.ok);
  BOOST_TEST(!absent.found);
  BOOST_TEST(absent.value == "");
  BOOST_TEST(contents(sm).count("missing") == 0u);
  // ...but a present empty value does.
  sm.execute(cmd(kv_op::put, "e", ""));
  BOOST_TEST(apply_cmd(sm, cmd(kv_op::cas, "e", "filled", "")).ok);
  BOOST_TEST(contents(sm).at("e") == "filled");
}

BOOST_AUTO_TEST_CASE(compare_and_swap_expect_absent) {
  kv_state_machine sm;
  auto create = apply_cmd(sm, cmd(kv_op::cas, "lock", "me", "", true));
  BOOST_TEST(create.ok);
  BOOST_TEST(!create.found);
  BOOST_TEST(contents(sm).at("lock") == "me");
  auto again = apply_cmd(sm, cmd(kv_op::cas, "lock", "you", "", true));
  BOOST_TEST(!again.ok);
  BOOST_TEST(again.found);
  BOOST_TEST(again.value == "me");
  BOOST_TEST(contents(sm).at("lock") == "me");
  // expect_absent wins over a matching `expected`.
  auto both = apply_cmd(sm, cmd(kv_op::cas, "lock", "you", "me", true));
  BOOST_TEST(!both.ok);
  BOOST_TEST(contents(sm).at("lock") == "me");
  // The factory helpers build the same commands.
  auto f = kv_command::cas_absent("x", "1");
  BOOST_TEST(f.expect_absent);
  BOOST_TEST(apply_cmd(sm, f).ok);
}

BOOST_AUTO_TEST_CASE(delete_keys) {
  kv_state_machine sm;
  sm.execute(cmd(kv_op::put, "a", "1"));
  auto d = apply_cmd(sm, cmd(kv_op::del, "a"));
  BOOST_TEST(d.ok);
  BOOST_TEST(d.found);
  BOOST_TEST(contents(sm).empty());
  auto again = apply_cmd(sm, cmd(kv_op::del, "a"));
  BOOST_TEST(again.ok);  // deleting a missing key is not an error
  BOOST_TEST(!again.found);
}

BOOST_AUTO_TEST_CASE(digest_and_size_commands) {
  kv_state_machine sm;
  sm.execute(cmd(kv_op::put, "a", "1"));
  sm.execute(cmd(kv_op::put, "b", "2"));
  auto d = apply_cmd(sm, cmd(kv_op::digest));
  BOOST_TEST(d.ok);
  BOOST_TEST(d.value == sm.digest());
  BOOST_TEST(d.value.size() == 16u);
  auto s = apply_cmd(sm, cmd(kv_op::size));
  BOOST_TEST(s.ok);
  BOOST_TEST(s.value == "2");
  BOOST_TEST(contents(sm).size() == 2u);  // reads leave the state alone
}

BOOST_AUTO_TEST_CASE(query_is_read_only) {
  auto sm = sample_store();
  auto before = contents(sm);
  auto g = query_cmd(sm, encode(cmd(kv_op::get, "alpha")));
  BOOST_TEST(g.ok);
  BOOST_TEST(g.found);
  BOOST_TEST(g.value == "1");
  BOOST_TEST(query_cmd(sm, encode(cmd(kv_op::digest))).value == sm.digest());
  BOOST_TEST(query_cmd(sm, encode(cmd(kv_op::size))).value == "5");
  // Mutating commands through query() must not mutate.
  query_cmd(sm, encode(cmd(kv_op::put, "alpha", "changed")));
  query_cmd(sm, encode(cmd(kv_op::del, "alpha")));
  query_cmd(sm, encode(cmd(kv_op::cas, "alpha", "x", "1")));
  BOOST_TEST((contents(sm) == before));
  auto bad = query_cmd(sm, "\x01");
  BOOST_TEST(!bad.ok);
  BOOST_TEST(bad.value == "bad_request");
}

BOOST_AUTO_TEST_CASE(malformed_commands_apply_as_no_ops) {
  auto sm = sample_store();
  auto before = contents(sm);
  auto digest = sm.digest();
  auto valid = encode(cmd(kv_op::put, "alpha", "overwritten"));
  std::vector<std::string> garbage{"", std::string(1, '\x01'), "\xff\xff\xff\xff\xff\xff"};
  for (size_t n = 1; n < valid.size(); ++n)
    garbage.push_back(valid.substr(0, n));  // every truncation of a real command
  for (const auto& g : garbage) {
    BOOST_TEST_CONTEXT("payload of " << g.size() << " bytes") {
      auto r = apply_cmd(sm, cmd(kv_op::get), 0);  // warm-up read: must not matter
      r = decode<kv_result>(sm.apply(7, g)).value();
      BOOST_TEST(!r.ok);
      BOOST_TEST(!r.found);
      BOOST_TEST(r.value == "bad_request");
    }
  }
  BOOST_TEST((contents(sm) == before));
  BOOST_TEST(sm.digest() == digest);
  // An op code outside the enum decodes fine but must not touch the state either.
  auto unknown = cmd(kv_op::put, "alpha", "x");
  unknown.op = static_cast<kv_op>(99);
  auto r = apply_cmd(sm, unknown);
  BOOST_TEST(!r.ok);
  BOOST_TEST((contents(sm) == before));
}

// apply() decodes every command into one reused object (to keep its buffers); nothing of a
// previous command, whole or half-decoded, may leak into the next one.
BOOST_AUTO_TEST_CASE(commands_applied_in_a_row_do_not_leak_into_each_other) {
  kv_state_machine sm;
  apply_cmd(sm, cmd(kv_op::put, "a", std::string(100, 'L')));
  apply_cmd(sm, cmd(kv_op::put, "a", "s"));  // shorter value into the same key
  BOOST_TEST(apply_cmd(sm, cmd(kv_op::get, "a")).value == "s");
  auto cas = kv_command::cas("a", "s", "swapped");
  BOOST_TEST(apply_cmd(sm, cas).ok);
  // Half of a put of key "b": the key decodes, the value does not.
  auto half = encode(cmd(kv_op::put, "b", std::string(50, 'v')));
  half.resize(half.size() - 30);
  BOOST_TEST(decode<kv_result>(sm.apply(4, half)).value().value == "bad_request");
  BOOST_TEST(apply_cmd(sm, cmd(kv_op::get, "b")).found == false);
  apply_cmd(sm, cmd(kv_op::put, "c", ""));  // empty value after a long one
  BOOST_TEST(apply_cmd(sm, cmd(kv_op::get, "c")).found);
  BOOST_TEST(apply_cmd(sm, cmd(kv_op::get, "c")).value == "");
  BOOST_TEST(apply_cmd(sm, cmd(kv_op::del, "a")).found);
  apply_cmd(sm, cmd(kv_op::put, "a", "again"));
  BOOST_TEST(apply_cmd(sm, cmd(kv_op::get, "a")).value == "again");
  // A failed cas after a put must compare against its own expectation, not the put's value.
  auto stale = kv_command::cas("a", "again-not", "x");
  auto r = apply_cmd(sm, stale);
  BOOST_TEST(!r.ok);
  BOOST_TEST(r.value == "again");
  auto absent = kv_command::cas_absent("a", "x");
  BOOST_TEST(!apply_cmd(sm, absent).ok);
  BOOST_TEST(contents(sm).size() == 2u);
}

// A random log of `n` commands on `keys` keys: puts (values of 0-99 bytes, one in 40 over
// 5,000), deletes, cas (some expecting the key absent) and gets; with `cut`, some puts are cut
// short, so malformed.
std::vector<std::string> random_log(std::mt19937& rng, int n, unsigned keys, bool cut) {
  std::vector<std::string> log;
  for (int i = 0; i < n; ++i) {
    auto key = "k" + std::to_string(rng() % keys);
    switch (rng() % 6) {
      case 0: log.push_back(encode(cmd(kv_op::del, key))); break;
      case 1:
        log.push_back(encode(cmd(kv_op::cas, key, std::to_string(i), std::to_string(rng() % 50),
                                 rng() % 3 == 0)));
        break;
      case 2: log.push_back(encode(cmd(kv_op::get, key))); break;
      case 3:
        if (cut && rng() % 4 == 0) {
          auto bad = encode(cmd(kv_op::put, key, "cut"));
          bad.resize(rng() % bad.size());
          log.push_back(bad);
          break;
        }
        [[fallthrough]];
      default: {
        auto size = rng() % 40 == 0 ? 5000 + rng() % 100 : rng() % 100;  // some above 4 KiB
        log.push_back(encode(cmd(kv_op::put, key, std::string(size, 'a' + i % 26))));
      }
    }
  }
  return log;
}

BOOST_AUTO_TEST_CASE(replicas_applying_the_same_log_agree) {
  std::mt19937 rng{7};
  auto log = random_log(rng, 2000, 20, false);
  kv_state_machine a, b;
  for (size_t i = 0; i < log.size(); ++i)
    BOOST_REQUIRE(a.apply(i + 1, log[i]) == b.apply(i + 1, log[i]));
  BOOST_TEST((contents(a) == contents(b)));
  BOOST_TEST(a.digest() == b.digest());
  // A replica restored from a snapshot midway and then applying the rest also agrees.
  kv_state_machine c, d;
  for (size_t i = 0; i < 1000; ++i)
    c.apply(i + 1, log[i]);
  std::stringstream snap(saved(c));
  BOOST_REQUIRE(d.restore(snap));
  for (size_t i = 1000; i < log.size(); ++i)
    d.apply(i + 1, log[i]);
  BOOST_TEST(d.digest() == a.digest());
}

// apply_batch() decodes and prefetches a group of commands before it applies them: the results
// and the content must still be those of applying one command at a time, whatever the batch
// sizes (across its group of 32), with repeated keys, malformed commands and live snapshots.
BOOST_AUTO_TEST_CASE(a_batch_applies_like_its_commands_one_at_a_time) {
  std::mt19937 rng{11};
  auto log = random_log(rng, 5000, 300, true);
  kv_state_machine one, batched;
  std::vector<std::unique_ptr<state_snapshot>> captures;
  std::vector<std::string> results;
  std::vector<const std::string*> commands;
  for (size_t i = 0; i < log.size();) {
    size_t n = std::min<size_t>(1 + rng() % 80, log.size() - i);
    commands.clear();
    results.assign(1, "earlier");  // results are appended after what is there
    for (size_t j = 0; j < n; ++j)
      commands.push_back(&log[i + j]);
    batched.apply_batch(i + 1, commands, results);
    BOOST_REQUIRE_EQUAL(results.size(), n + 1);
    for (size_t j = 0; j < n; ++j)
      BOOST_REQUIRE_MESSAGE(results[j + 1] == one.apply(i + j + 1, log[i + j]),
                            "command " << i + j + 1);
    if (rng() % 5 == 0)
      captures.push_back(batched.snapshot());  // later puts must not write into shared entries
    i += n;
  }
  BOOST_TEST((contents(batched) == contents(one)));
  BOOST_TEST(batched.digest() == one.digest());
  BOOST_TEST(!captures.empty());
}

BOOST_AUTO_TEST_SUITE_END()

// =============================================================================================
BOOST_AUTO_TEST_SUITE(kv_digest)

BOOST_AUTO_TEST_CASE(equal_content_equal_digest_regardless_of_order) {
  std::vector<std::pair<std::string, std::string>> kvs{
    {"a", "1"}, {"b", "2"}, {"c", "3"}, {"", "e"}, {"long", std::string(1000, 'q')}};
  std::string reference;
  std::mt19937 rng{1};
  for (int round = 0; round < 20; ++round) {
    std::shuffle(kvs.begin(), kvs.end(), rng);
    kv_state_machine sm;
    sm.execute(cmd(kv_op::put, "temp", "gone"));  // history must not matter, only content
    for (const auto& [k, v] : kvs)
      sm.execute(cmd(kv_op::put, k, v));
    sm.execute(cmd(kv_op::del, "temp"));
    if (round == 0)
      reference = sm.digest();
    BOOST_TEST(sm.digest() == reference);
  }
}

BOOST_AUTO_TEST_CASE(different_content_different_digest) {
  auto digest_of = [](std::vector<std::pair<std::string, std::string>> kvs) {
    kv_state_machine sm;
    for (const auto& [k, v] : kvs)
      sm.execute(cmd(kv_op::put, k, v));
    return sm.digest();
  };
  std::vector<std::string> ds{
    digest_of({}),
    digest_of({{"a", ""}}),
    digest_of({{"", "a"}}),
    digest_of({{"a", "b"}}),
    digest_of({{"ab", ""}}),
    digest_of({{"a", "bc"}}),
    digest_of({{"ab", "c"}}),  // boundaries between key and value must matter
    digest_of({{"a", "b"}, {"c", "d"}}),
    digest_of({{"a", "bc"}, {"", "d"}}),
    digest_of({{"a", "d"}, {"c", "b"}}),
  };
  for (size_t i = 0; i < ds.size(); ++i) {
    BOOST_TEST(ds[i].size() == 16u);
    for (size_t j = i + 1; j < ds.size(); ++j)
      BOOST_TEST(ds[i] != ds[j], "digests " << i << " and " << j << " collide");
  }
}

BOOST_AUTO_TEST_SUITE_END()

// =============================================================================================
BOOST_AUTO_TEST_SUITE(kv_snapshots)

BOOST_AUTO_TEST_CASE(save_restore_round_trip) {
  auto sm = sample_store();
  auto bytes = saved(sm);
  kv_state_machine other;
  other.execute(cmd(kv_op::put, "stale", "must disappear"));
  std::stringstream in(bytes);
  BOOST_REQUIRE(other.restore(in));
  BOOST_TEST((contents(other) == contents(sm)));  // replaced, not merged
  BOOST_TEST(other.digest() == sm.digest());
  BOOST_TEST(saved(other) == bytes);
}

// snapshot() sizes its capture by the previous one; captures after the content grew or shrank
// a lot must still hold exactly the content of their moment.
BOOST_AUTO_TEST_CASE(captures_follow_the_content_as_it_grows_and_shrinks) {
  kv_state_machine sm;
  auto check = [&sm](const char* when) {
    BOOST_TEST_CONTEXT(when) {
      auto capture = sm.snapshot();
      auto expected = contents(sm);
      sm.execute(cmd(kv_op::put, "after-the-capture", "not in it"));
      std::stringstream bytes;
      BOOST_REQUIRE(capture->write(bytes));
      kv_state_machine other;
      BOOST_REQUIRE(other.restore(bytes));
      BOOST_TEST((contents(other) == expected));
      sm.execute(cmd(kv_op::del, "after-the-capture"));
    }
  };
  check("empty");
  sm.execute(cmd(kv_op::put, "a", "1"));
  check("one key");
  for (int i = 0; i < 2000; ++i)
    sm.execute(cmd(kv_op::put, "key-" + std::to_string(i), std::string(size_t(i % 300), 'v')));
  check("grown a thousandfold");
  for (int i = 0; i < 2000; i += 2)
    sm.execute(cmd(kv_op::del, "key-" + std::to_string(i)));
  sm.execute(cmd(kv_op::put, "key-1", std::string(5000, 'w')));
  check("half deleted, one value much longer");
}

// Snapshots are written in key order (unsigned bytes), whatever the table's layout: replicas
// with equal content but different histories write the same bytes. Keys share 16-byte prefixes,
// are prefixes of each other, and hold NUL and high bytes, where the sort's prefix shortcut
// could go wrong.
BOOST_AUTO_TEST_CASE(saves_are_in_key_order_whatever_the_history) {
  std::vector<std::string> keys{"", std::string(1, '\0'), std::string(2, '\0'), "a", std::string("a\0", 2),
                                "a\x01", "\xff", "\x7f", "0123456789abcdef", "0123456789abcdefX",
                                "0123456789abcdef\0", "0123456789abcdee\xff", "0123456789abcdef\xff"};
  for (int i = 0; i < 300; ++i)
    keys.push_back(fmt::format("{:016d}", i * 7919 % 1000));
  kv_state_machine a, b;
  for (const auto& k : keys)
    a.execute(cmd(kv_op::put, k, "v" + k));
  for (int i = 0; i < 500; ++i)  // b grows further, then shrinks back to the same content
    b.execute(cmd(kv_op::put, "extra" + std::to_string(i), "x"));
  for (auto it = keys.rbegin(); it != keys.rend(); ++it)
    b.execute(cmd(kv_op::put, *it, "old"));
  for (int i = 0; i < 500; ++i)
    b.execute(cmd(kv_op::del, "extra" + std::to_string(i)));
  for (const auto& k : keys)
    b.execute(cmd(kv_op::put, k, "v" + k));
  auto bytes = saved(a);
  BOOST_TEST(saved(b) == bytes);
  // Walk the saved stream: keys strictly increasing.
  std::stringstream in(bytes);
  kv_state_machine restored;
  BOOST_REQUIRE(restored.restore(in));
  BOOST_TEST((contents(restored) == contents(a)));
  size_t pos = 8;
  std::string previous;
  auto u32 = [&bytes](size_t at) {
    uint32_t x = 0;
    for (size_t i = 0; i < 4; ++i)
      x = (x << 8) | static_cast<unsigned char>(bytes[at + i]);
    return x;
  };
  for (size_t i = 0; i < contents(a).size(); ++i) {
    auto klen = u32(pos);
    std::string key = bytes.substr(pos + 4, klen);
    pos += 4 + klen;
    pos += 4 + u32(pos);
    if (i > 0)
      BOOST_TEST((previous < key));  // as a plain bool: Boost.Test compares strings its own way
    previous = key;
  }
  BOOST_TEST(pos == bytes.size());
}

BOOST_AUTO_TEST_CASE(empty_store_round_trip) {
  kv_state_machine empty;
  auto bytes = saved(empty);
  BOOST_TEST(!bytes.empty());  // the count is always written, so a truncation is detectable
  auto sm = sample_store();
  std::stringstream in(bytes);
  BOOST_REQUIRE(sm.restore(in));
  BOOST_TEST(contents(sm).empty());
  BOOST_TEST(sm.digest() == empty.digest());
}

// Prefix lengths 1..size-1 of a real snapshot.
BOOST_AUTO_TEST_CASE(truncated_snapshot_is_refused_and_state_kept) {
  auto source = sample_store();
  auto bytes = saved(source);
  kv_state_machine sm;
  sm.execute(cmd(kv_op::put, "keep", "me"));
  auto before = contents(sm);
  // All prefixes of the small records, then a sample of the large value's interior.
  std::vector<size_t> lengths;
  for (size_t n = 1; n < bytes.size(); n += (n < 200 || n + 200 > bytes.size()) ? 1 : 997)
    lengths.push_back(n);
  for (auto n : lengths) {
    BOOST_TEST_CONTEXT("prefix of " << n << "/" << bytes.size() << " bytes") {
      std::stringstream in(bytes.substr(0, n));
      BOOST_TEST(!sm.restore(in));
      BOOST_TEST((contents(sm) == before));
    }
  }
}

// Regression (was a bug): kv_state_machine::restore accepts a stream truncated to exactly 4 bytes (the high half
// of the entry count): get_u32(lo) then reads 0 bytes, so `in.eof() && in.gcount() == 0` looks
// like an empty stream, restore() returns true and wipes the state. gcount() only covers the
// last read; the "empty stream" case must be decided on the first read (hi) alone.
BOOST_AUTO_TEST_CASE(snapshot_truncated_to_four_bytes_is_refused) {
  auto bytes = saved(sample_store());
  kv_state_machine sm;
  sm.execute(cmd(kv_op::put, "keep", "me"));
  auto before = contents(sm);
  std::stringstream in(bytes.substr(0, 4));
  BOOST_TEST(!sm.restore(in));
  BOOST_TEST((contents(sm) == before));
}

BOOST_AUTO_TEST_CASE(corrupt_counts_are_refused) {
  kv_state_machine sm;
  sm.execute(cmd(kv_op::put, "keep", "me"));
  auto before = contents(sm);
  // Claims 3 entries but holds 1.
  kv_state_machine one;
  one.execute(cmd(kv_op::put, "a", "b"));
  auto bytes = saved(one);
  bytes[7] = 3;
  std::stringstream in(bytes);
  BOOST_TEST(!sm.restore(in));
  BOOST_TEST((contents(sm) == before));
}

BOOST_AUTO_TEST_SUITE_END()

// =============================================================================================
BOOST_AUTO_TEST_SUITE(wire)

BOOST_AUTO_TEST_CASE(log_id_round_trip) {
  round_trip(log_id{}, "log_id zero");
  round_trip(log_id{7, 42}, "log_id");
  round_trip(log_id{~uint64_t{0}, ~uint64_t{0} - 1}, "log_id max");
}

BOOST_AUTO_TEST_CASE(log_entry_round_trip) {
  round_trip(entry(1, 1, entry_kind::normal, "put x"), "normal entry");
  round_trip(entry(2, 3, entry_kind::noop, ""), "noop entry");
  round_trip(entry(3, 3, entry_kind::config, encode(joint_config())), "config entry");
  round_trip(entry(4, 3, entry_kind::normal, std::string("\0\xff\x00z", 4)), "binary payload");
  round_trip(entry(5, 3, entry_kind::normal, std::string(70'000, 'p')), "large payload");
  log_entries xs{entry(10, 2, entry_kind::normal, "a"), entry(11, 2, entry_kind::noop, ""),
                 entry(12, 3, entry_kind::config, "c")};
  round_trip(xs, "log_entries");
  round_trip(log_entries{}, "empty log_entries");
}

// The shared payload must not change what crosses the network: a node of this version and one
// that sent a std::string field read each other's entries.
BOOST_AUTO_TEST_CASE(a_payload_is_on_the_wire_as_a_string) {
  for (std::string bytes : {std::string{}, std::string("put x"), std::string("\0\xff\x00z", 4),
                            std::string(70'000, 'p')}) {
    BOOST_TEST_CONTEXT(bytes.size() << " bytes") {
      auto e = entry(9, 4, entry_kind::normal, bytes);
      auto as_string = bytes;
      auto kind = entry_kind::normal;
      std::vector<char> expected;
      caf::binary_serializer sink{nullptr, expected};
      BOOST_REQUIRE(!sink(caf::meta::type_name("raft.log_entry"), e.index, e.term, kind,
                          as_string));
      BOOST_TEST(encode(e) == std::string(expected.begin(), expected.end()));
      auto back = decode<log_entry>(std::string(expected.begin(), expected.end()));
      BOOST_REQUIRE(back);
      BOOST_TEST(back->payload == bytes);
    }
  }
}

BOOST_AUTO_TEST_CASE(copies_of_an_entry_share_its_bytes) {
  auto e = entry(1, 1, entry_kind::normal, std::string(100, 'v'));
  log_entries xs{e, e};
  auto copy = xs;
  BOOST_TEST(copy[1].payload.data() == e.payload.data());
  BOOST_TEST(copy[1].payload == std::string(100, 'v'));
  // Assigning new bytes to one entry leaves its copies as they were.
  copy[0].payload = std::string("other");
  BOOST_TEST(e.payload == std::string(100, 'v'));
  BOOST_TEST(copy[0].payload == "other");
  log_entry empty;
  BOOST_TEST(empty.payload.empty());
  BOOST_TEST(empty.payload == "");
  BOOST_TEST(empty.payload.str().empty());
}

BOOST_AUTO_TEST_CASE(config_and_state_round_trip) {
  round_trip(membership{}, "empty membership");
  round_trip(joint_config(), "joint membership");
  round_trip(hard_state{}, "zero hard_state");
  round_trip(hard_state{9, 3}, "hard_state");
  snapshot_meta sm;
  sm.last = {4, 1000};
  sm.config = joint_config();
  sm.size = uint64_t{1} << 40;
  sm.checksum = 0xdeadbeef;
  round_trip(sm, "snapshot_meta");
  stored_state st;
  st.id = 2;
  st.cluster_id = "cluster-\xc3\xa9";
  st.hard = {9, 3};
  st.first_index = 1001;
  st.last = {9, 1500};
  st.commit = 1400;
  st.config = joint_config();
  st.config_id = {8, 1200};
  st.snapshot = sm;
  st.term_starts = {{4, 1001}, {7, 1100}, {9, 1300}};
  round_trip(st, "stored_state");
  round_trip(stored_state{}, "default stored_state");
}

BOOST_AUTO_TEST_CASE(vote_messages_round_trip) {
  vote_request r;
  r.term = 12;
  r.candidate = 3;
  r.last = {11, 77};
  r.pre_vote = true;
  r.transfer = false;
  round_trip(r, "pre-vote request");
  r.pre_vote = false;
  r.transfer = true;
  round_trip(r, "transfer vote request");
  vote_response v;
  v.term = 12;
  v.from = 2;
  v.granted = true;
  v.pre_vote = true;
  round_trip(v, "vote response");
  round_trip(vote_response{}, "default vote response");
}

BOOST_AUTO_TEST_CASE(append_messages_round_trip) {
  append_request a;
  a.term = 5;
  a.leader = 1;
  a.prev = {4, 99};
  a.entries = {entry(100, 5, entry_kind::noop, ""), entry(101, 5, entry_kind::normal, "cmd")};
  a.commit = 98;
  a.seq = 123456789;
  round_trip(a, "append request");
  append_request hb;
  hb.term = 5;
  hb.leader = 1;
  hb.prev = {5, 101};
  hb.seq = 1;
  round_trip(hb, "heartbeat");
  append_response ok;
  ok.term = 5;
  ok.from = 2;
  ok.success = true;
  ok.match = {5, 101};
  ok.last_index = 101;
  ok.seq = 123456789;
  round_trip(ok, "append success");
  append_response no;
  no.term = 5;
  no.from = 3;
  no.rejected = 99;
  no.conflict_term = 3;
  no.conflict_index = 60;
  no.last_index = 120;
  round_trip(no, "append rejection");
}

BOOST_AUTO_TEST_CASE(status_and_kv_round_trip) {
  node_status s;
  s.id = 1;
  s.role = "leader";
  s.term = 5;
  s.leader = 1;
  s.commit = 90;
  s.applied = 88;
  s.first_index = 50;
  s.last = {5, 101};
  s.config = joint_config();
  s.snapshot_index = 49;
  round_trip(s, "node_status");
  round_trip(node_status{}, "default node_status");
  round_trip(cmd(kv_op::put, "k", "v"), "kv put");
  round_trip(cmd(kv_op::cas, "k", "new", "old", true), "kv cas");
  round_trip(cmd(kv_op::size), "kv size");
  kv_result r;
  r.ok = true;
  r.found = true;
  r.value = std::string("\0v", 2);
  round_trip(r, "kv_result");
}

BOOST_AUTO_TEST_CASE(garbage_does_not_crash_the_decoder) {
  // Random bytes must decode to a value or an error, never crash or over-read (ASan watches).
  std::mt19937 rng{3};
  size_t refused = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string bytes(rng() % 64, '\0');
    for (auto& c : bytes)
      c = static_cast<char>(rng() % 4 == 0 ? 0xff : rng());
    refused += decode<append_request>(bytes) ? 0 : 1;
    refused += decode<stored_state>(bytes) ? 0 : 1;
    refused += decode<kv_command>(bytes) ? 0 : 1;
  }
  BOOST_TEST(refused > 0u);  // most random inputs are too short or inconsistent
}

// kv_command's hand-written codec (messages/kv.cpp) must write the bytes CAF writes for its
// inspect fields, and read any input as CAF's reader does: same verdict, same fields.
BOOST_AUTO_TEST_CASE(the_command_codec_is_cafs_binary_format) {
  uint64_t seed = 20261124;
  if (auto env = std::getenv("CAF_RAFT_KV_SEED"))
    seed = std::strtoull(env, nullptr, 10);
  std::cout << "command codec seed " << seed << " (replay: CAF_RAFT_KV_SEED=" << seed << ")\n";
  std::mt19937_64 rng(seed);
  // Lengths around the varbyte boundaries: 1, 2 and 3 length bytes.
  const size_t lengths[] = {0, 1, 15, 16, 127, 128, 129, 300, 16383, 16384, 20000};
  auto random_string = [&] {
    std::string s(lengths[rng() % std::size(lengths)], '\0');
    for (auto& c : s)
      c = static_cast<char>(rng());
    return s;
  };
  auto by_caf = [](std::string_view bytes, kv_command& x) {
    caf::binary_deserializer source{nullptr, bytes.data(), bytes.size()};
    return !source(x);
  };
  size_t compared = 0;
  size_t refused = 0;
  for (int i = 0; i < 3000; ++i) {
    kv_command c;
    c.op = static_cast<kv_op>(rng() % 8);  // 0, 7: values no command has
    c.key = random_string();
    c.value = random_string();
    c.expected = random_string();
    c.expect_absent = rng() % 2 == 0;
    auto ours = encode(c);
    BOOST_REQUIRE(ours == encode<kv_command>(c));  // the template goes through CAF
    // Decoded whole, cut short, one byte changed (lengths too), or with bytes after it.
    std::string input = ours;
    switch (rng() % 4) {
      case 1:
        input.resize(rng() % input.size());
        break;
      case 2:
        input[rng() % input.size()] = static_cast<char>(rng());
        break;
      case 3:
        input += random_string();
        break;
    }
    kv_command a = cmd(kv_op::put, "left", "over");  // fields from an earlier command
    kv_command b = a;
    bool ok = decode_into(input, a);
    BOOST_REQUIRE_EQUAL(ok, by_caf(input, b));
    refused += ok ? 0 : 1;
    if (ok) {
      BOOST_REQUIRE(a.op == b.op);
      BOOST_REQUIRE(a.key == b.key);
      BOOST_REQUIRE(a.value == b.value);
      BOOST_REQUIRE(a.expected == b.expected);
      BOOST_REQUIRE(a.expect_absent == b.expect_absent);
      ++compared;
    }
  }
  BOOST_TEST(compared > 1500u);
  BOOST_TEST(refused > 300u);
  // The one departure: CAF's reader shifts a sixth length byte past 32 bits; ours refuses it.
  kv_command x;
  BOOST_TEST(!decode_into(std::string("\x01\x80\x80\x80\x80\x80\x01", 7), x));
}

BOOST_AUTO_TEST_SUITE_END()
