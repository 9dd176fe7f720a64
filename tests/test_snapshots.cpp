// Snapshots and log compaction: the checksum, the snapshot file store, partial purges in the
// log store, and whole-cluster scenarios (a follower catching up through InstallSnapshot, crashes
// in the middle of an install, restart from a snapshot, a corrupted snapshot file).
#define BOOST_TEST_MODULE snapshots
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <random>
#include <sstream>

#include "persistence/crc32.hpp"
#include "persistence/log_store.hpp"
#include "persistence/persistence.hpp"
#include "persistence/snapshot_store.hpp"
#include "sim_cluster.hpp"

using namespace raft;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

struct temp_dir {
  fs::path path;
  temp_dir() {
    char tmpl[] = "/tmp/caf-raft-snapshots-XXXXXX";
    auto p = ::mkdtemp(tmpl);
    BOOST_REQUIRE(p != nullptr);
    path = p;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::vector<fs::path> files_with(const fs::path& dir, const std::string& ext) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ext)
      out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

membership three_voters() {
  membership m;
  m.voters = {1, 2, 3};
  return m;
}

snapshot_meta write_snapshot(const snapshot_store& s, log_id last, const std::string& content) {
  auto w = s.create();
  BOOST_REQUIRE(w);
  (*w)->stream() << content;
  auto meta = (*w)->commit(last, three_voters());
  BOOST_REQUIRE(meta);
  return *meta;
}

std::string read_all(const snapshot_store& s, const snapshot_meta& meta, size_t chunk) {
  auto r = s.open_reader(meta);
  BOOST_REQUIRE(r);
  std::string out;
  for (uint64_t off = 0; off < meta.size; off += chunk) {
    auto part = (*r)->read(off, chunk);
    BOOST_REQUIRE(part);
    out += *part;
  }
  return out;
}

void flip_byte(const fs::path& file, std::streamoff at) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(at);
  char c = 0;
  f.get(c);
  f.seekp(at);
  f.put(static_cast<char>(c ^ 0x5A));
}

} // namespace

// -- checksum and file store -----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(crc32_matches_the_standard_check_value_in_any_split) {
  std::string s = "123456789";
  BOOST_CHECK_EQUAL(crc32(0, s.data(), s.size()), 0xCBF43926u);
  for (size_t cut = 0; cut <= s.size(); ++cut) {
    auto c = crc32(crc32(0, s.data(), cut), s.data() + cut, s.size() - cut);
    BOOST_CHECK_EQUAL(c, 0xCBF43926u);
  }
  BOOST_CHECK_EQUAL(crc32(0, nullptr, 0), 0u);
}

// The folding path (64 bytes and more, on CPUs with carry-less multiplication) and the table
// path must agree with the definition, one bit at a time, at every length and split.
BOOST_AUTO_TEST_CASE(crc32_agrees_with_the_bitwise_definition_at_every_length) {
  auto bitwise = [](uint32_t crc, const std::string& s) {
    crc = ~crc;
    for (unsigned char c : s) {
      crc ^= c;
      for (int k = 0; k < 8; ++k)
        crc = (crc & 1) ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
    }
    return ~crc;
  };
  std::mt19937_64 rng{20261124};
  for (size_t n = 0; n <= 700; ++n) {
    std::string s(n, '\0');
    for (auto& c : s)
      c = static_cast<char>(rng());
    auto start = n % 2 == 0 ? 0u : static_cast<uint32_t>(rng());
    auto want = bitwise(start, s);
    BOOST_TEST_CONTEXT("length " << n) {
      BOOST_CHECK_EQUAL(crc32(start, s.data(), n), want);
      BOOST_CHECK_EQUAL(detail::crc32_tables(start, s.data(), n), want);
      auto cut = n == 0 ? 0 : static_cast<size_t>(rng() % n);
      BOOST_CHECK_EQUAL(crc32(crc32(start, s.data(), cut), s.data() + cut, n - cut), want);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_committed_snapshot_reads_back_in_chunks_and_verifies) {
  temp_dir d;
  auto s = snapshot_store::open(d.path.string());
  BOOST_REQUIRE(s);
  std::string content(3 << 20, '\0');
  for (size_t i = 0; i < content.size(); ++i)
    content[i] = static_cast<char>(i * 7919 % 251);
  auto meta = write_snapshot(*s, {4, 100}, content);
  BOOST_CHECK_EQUAL(meta.size, content.size());
  BOOST_CHECK_EQUAL(meta.checksum, crc32(0, content.data(), content.size()));
  BOOST_CHECK(meta.last == (log_id{4, 100}));
  BOOST_CHECK(meta.config == three_voters());
  BOOST_CHECK(!s->verify(meta));
  BOOST_CHECK(read_all(*s, meta, 1 << 20) == content);
  BOOST_CHECK(read_all(*s, meta, 1000) == content);
  auto in = s->open_stream(meta);
  BOOST_REQUIRE(in);
  std::stringstream copy;
  copy << (*in)->rdbuf();
  BOOST_CHECK(copy.str() == content);
  // Only the final file is left: no temporary file.
  BOOST_CHECK_EQUAL(files_with(s->dir(), ".tmp").size(), 0u);
  BOOST_CHECK_EQUAL(files_with(s->dir(), ".snap").size(), 1u);
}

BOOST_AUTO_TEST_CASE(an_empty_snapshot_is_valid) {
  temp_dir d;
  auto s = snapshot_store::open(d.path.string());
  BOOST_REQUIRE(s);
  auto meta = write_snapshot(*s, {1, 5}, "");
  BOOST_CHECK_EQUAL(meta.size, 0u);
  BOOST_CHECK(!s->verify(meta));
}

BOOST_AUTO_TEST_CASE(an_abandoned_write_leaves_nothing_and_crash_leftovers_are_removed) {
  temp_dir d;
  auto s = snapshot_store::open(d.path.string());
  BOOST_REQUIRE(s);
  {
    auto w = s->create();
    BOOST_REQUIRE(w);
    (*w)->stream() << "half a state";
  }
  BOOST_CHECK(fs::is_empty(s->dir()));
  // A crash between create and rename leaves a temporary file; the next open removes it.
  std::ofstream(fs::path(s->dir()) / "123-1.tmp") << "garbage";
  auto again = snapshot_store::open(d.path.string());
  BOOST_REQUIRE(again);
  BOOST_CHECK(fs::is_empty(s->dir()));
}

BOOST_AUTO_TEST_CASE(damaged_or_missing_files_fail_verification) {
  temp_dir d;
  auto s = snapshot_store::open(d.path.string());
  BOOST_REQUIRE(s);
  auto meta = write_snapshot(*s, {2, 40}, std::string(100000, 'x'));
  auto path = s->path_of(meta.last);
  flip_byte(path, 5000);
  auto err = s->verify(meta);
  BOOST_CHECK(is(err, errc::storage_corrupt));
  flip_byte(path, 5000);
  BOOST_CHECK(!s->verify(meta));
  fs::resize_file(path, 50000);  // a partial file
  BOOST_CHECK(is(s->verify(meta), errc::storage_corrupt));
  fs::remove(path);
  BOOST_CHECK(is(s->verify(meta), errc::storage_corrupt));
}

BOOST_AUTO_TEST_CASE(a_receiver_installs_only_a_complete_matching_stream) {
  temp_dir src_dir;
  temp_dir dst_dir;
  auto src = snapshot_store::open(src_dir.path.string());
  auto dst = snapshot_store::open(dst_dir.path.string());
  BOOST_REQUIRE(src && dst);
  std::string content(10000, 'k');
  auto meta = write_snapshot(*src, {3, 77}, content);
  {
    // Wrong bytes with the right length: the checksum catches it, nothing is installed.
    auto r = dst->receive(meta);
    BOOST_REQUIRE(r);
    BOOST_CHECK(!(*r)->append(std::string(10000, 'j')));
    BOOST_CHECK(is((*r)->commit(), errc::storage_corrupt));
  }
  BOOST_CHECK(fs::is_empty(dst->dir()));
  {
    // Short, and beyond the announced size.
    auto r = dst->receive(meta);
    BOOST_REQUIRE(r);
    BOOST_CHECK(!(*r)->append(content.substr(0, 4000)));
    BOOST_CHECK(is((*r)->commit(), errc::storage_corrupt));
    BOOST_CHECK(is((*r)->append(std::string(7000, 'k')), errc::invalid_argument));
  }
  BOOST_CHECK(fs::is_empty(dst->dir()));
  auto r = dst->receive(meta);
  BOOST_REQUIRE(r);
  for (size_t off = 0; off < content.size(); off += 3000)
    BOOST_CHECK(!(*r)->append(content.substr(off, 3000)));
  BOOST_CHECK_EQUAL((*r)->received(), content.size());
  BOOST_CHECK(!(*r)->commit());
  BOOST_CHECK(!dst->verify(meta));
}

BOOST_AUTO_TEST_CASE(cleanup_keeps_the_recorded_and_newer_snapshots) {
  temp_dir d;
  auto s = snapshot_store::open(d.path.string());
  BOOST_REQUIRE(s);
  auto a = write_snapshot(*s, {1, 10}, "a");
  auto b = write_snapshot(*s, {1, 20}, "b");
  auto c = write_snapshot(*s, {2, 30}, "c");
  s->remove_below(20);
  BOOST_CHECK(is(s->verify(a), errc::storage_corrupt));
  BOOST_CHECK(!s->verify(b));
  BOOST_CHECK(!s->verify(c));
  s->remove_except(b.last);
  BOOST_CHECK(!s->verify(b));
  BOOST_CHECK(is(s->verify(c), errc::storage_corrupt));
}

BOOST_AUTO_TEST_CASE(a_reader_survives_the_removal_of_its_file) {
  temp_dir d;
  auto s = snapshot_store::open(d.path.string());
  BOOST_REQUIRE(s);
  auto a = write_snapshot(*s, {1, 10}, std::string(5000, 'q'));
  auto r = s->open_reader(a);
  BOOST_REQUIRE(r);
  s->remove_except({0, 0});
  auto part = (*r)->read(4000, 2000);
  BOOST_REQUIRE(part);
  BOOST_CHECK_EQUAL(part->size(), 1000u);
}

// -- partial purge in the log store -----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_purge_keeps_trailing_entries_below_the_snapshot) {
  temp_dir d;
  storage_options o;
  o.dir = d.path.string();
  o.id = 1;
  o.cluster_id = "t";
  o.bootstrap = three_voters();
  o.sync = false;
  {
    auto s = log_store::open(o);
    BOOST_REQUIRE(s);
    write_batch b;
    log_entries xs;
    for (index_t i = 1; i <= 30; ++i)
      xs.push_back(log_entry{i, i <= 10 ? term_t{1} : term_t{2}, entry_kind::normal, "x"});
    b.append(xs);
    b.set_commit(30);
    BOOST_REQUIRE(s->commit(b));
    snapshot_meta m;
    m.last = {2, 25};
    m.config = three_voters();
    write_batch p;
    p.purge(m, 8);
    auto r = s->commit(p);
    BOOST_REQUIRE(r);
    BOOST_CHECK_EQUAL(r->at(0).first_index, 9u);
  }
  auto s = log_store::open(o);
  BOOST_REQUIRE(s);
  auto st = s->load();
  BOOST_REQUIRE(st);
  BOOST_CHECK_EQUAL(st->first_index, 9u);
  BOOST_CHECK(st->log_base == (log_id{1, 8}));
  BOOST_CHECK(st->snapshot.last == (log_id{2, 25}));
  BOOST_CHECK(st->last == (log_id{2, 30}));
  BOOST_REQUIRE_EQUAL(st->term_starts.size(), 2u);
  BOOST_CHECK(st->term_starts[0] == (log_id{1, 9}));
  auto t8 = s->term_at(8);
  BOOST_REQUIRE(t8);
  BOOST_CHECK_EQUAL(*t8, 1u);
  BOOST_CHECK(is(s->term_at(7).error(), errc::snapshot_needed));
  BOOST_CHECK(is(s->entries(8, 20, 1 << 20).error(), errc::snapshot_needed));
  auto xs = s->entries(9, 31, 1 << 20);
  BOOST_REQUIRE(xs);
  BOOST_CHECK_EQUAL(xs->size(), 22u);
  // A later purge moves the base again; an older snapshot changes nothing.
  write_batch p;
  snapshot_meta later;
  later.last = {2, 30};
  p.purge(later, 28);
  snapshot_meta older;
  older.last = {2, 20};
  p.purge(older, 20);
  BOOST_REQUIRE(s->commit(p));
  st = s->load();
  BOOST_CHECK_EQUAL(st->first_index, 29u);
  BOOST_CHECK(st->log_base == (log_id{2, 28}));
  BOOST_CHECK(st->snapshot.last == (log_id{2, 30}));
}

// -- whole clusters -----------------------------------------------------------------------------

namespace {

node_status status_of(sim::cluster& c, node_id id) {
  auto s = sim::ask<node_status>(c, id, 200ms, status_atom::value);
  BOOST_REQUIRE_MESSAGE(s, "status of node " << id << ": " << sim::describe(c, s));
  return *s;
}

std::string local_get(sim::cluster& c, node_id id, const std::string& key) {
  auto r = sim::ask<std::string>(c, id, 200ms, query_atom::value, local_atom::value,
                                 encode(kv_command::get(key)));
  if (!r)
    return "error: " + sim::describe(c, r);
  auto res = decode<kv_result>(*r);
  return res && res->found ? res->value : "absent";
}

void expect_converged(sim::cluster& c) {
  BOOST_CHECK_MESSAGE(c.invariants().first_violation.empty(), c.invariants().first_violation);
  auto err = c.check_convergence();
  BOOST_CHECK_MESSAGE(err.empty(), err << "\n" << c.recent_log());
}

} // namespace

BOOST_AUTO_TEST_CASE(a_partitioned_follower_rejoins_through_a_snapshot) {
  sim::settled_cluster s{21};
  auto& c = s.c;
  c.isolate(s.other);
  // Thresholds of 25 entries: the leader compacts several times while the follower is away.
  BOOST_CHECK_EQUAL(sim::write_keys(c, s.leader, 150, "k"), 150u);
  auto leader_view = status_of(c, s.leader);
  BOOST_CHECK_GE(leader_view.snapshot_index, 100u);
  BOOST_CHECK_GT(leader_view.first_index, 50u);  // the follower's next entries are gone
  auto before = status_of(c, s.other);
  BOOST_CHECK_LT(before.last.index, leader_view.first_index);
  c.heal();
  c.run_for(5s);
  auto after = status_of(c, s.other);
  BOOST_CHECK_GE(after.snapshot_index, leader_view.snapshot_index);
  BOOST_CHECK_GE(c.invariants().restores_of(s.other), 1u);
  BOOST_CHECK_EQUAL(local_get(c, s.other, "k0"), "value-0");
  BOOST_CHECK_EQUAL(local_get(c, s.other, "k149"), "value-149");
  expect_converged(c);
}

namespace {

// Leaves `s.other` behind by 100 values of 1 KiB, then reconnects it over a network with 10 ms
// each way: the leader streams it a snapshot of about 100 KiB in 256-byte chunks, 2 KiB in
// flight at a time, which takes about a second. Returns the index of that snapshot.
index_t start_a_slow_snapshot_transfer(sim::settled_cluster& s) {
  auto& c = s.c;
  c.isolate(s.other);
  BOOST_CHECK_EQUAL(sim::write_keys(c, s.leader, 100, "big", 3s, 1024), 100u);
  auto sent = status_of(c, s.leader).snapshot_index;
  BOOST_REQUIRE_GE(sent, 75u);
  c.set_latency(10ms);
  c.heal();
  return sent;
}

// 50 puts in 10 rounds of 100 ms: the leader compacts twice meanwhile.
void keep_writing(sim::settled_cluster& s, const std::string& prefix) {
  for (int i = 0; i < 10; ++i)
    BOOST_CHECK_EQUAL(sim::write_keys(s.c, s.leader, 5, prefix + std::to_string(i) + "-", 100ms),
                      5u);
}

} // namespace

BOOST_AUTO_TEST_CASE(a_follower_receiving_a_snapshot_goes_on_from_the_log_after_it) {
  sim::settled_cluster s{71};
  auto& c = s.c;
  auto restored_before = c.invariants().restores_of(s.other);
  auto sent = start_a_slow_snapshot_transfer(s);
  keep_writing(s, "during");
  BOOST_CHECK_GE(status_of(c, s.leader).snapshot_index, sent + 50);
  c.run_for(3s);
  // One snapshot, then the entries after it from the leader's log: not a newer snapshot whole.
  BOOST_CHECK_EQUAL(c.invariants().restores_of(s.other) - restored_before, 1u);
  BOOST_CHECK_EQUAL(local_get(c, s.other, "during9-4"), "value-4");
  expect_converged(c);
}

BOOST_AUTO_TEST_CASE(a_follower_that_falls_silent_mid_transfer_stops_holding_the_log) {
  sim::settled_cluster s{73};
  auto sent = start_a_slow_snapshot_transfer(s);
  s.c.run_for(200ms);  // the transfer is under way
  s.c.crash(s.other);
  // The compactions after an election timeout of silence purge past the hold.
  keep_writing(s, "after");
  BOOST_CHECK_GT(status_of(s.c, s.leader).first_index, sent + 1);
}

BOOST_AUTO_TEST_CASE(a_snapshot_waits_until_the_log_outweighs_the_last_one) {
  auto o = sim::settled_cluster::options_for(61);
  o.snapshot_log_ratio = 1.0;
  sim::settled_cluster s{o};
  auto& c = s.c;
  // 30 values of 1 KiB: past the 25-entry threshold, a snapshot of about 30 KiB.
  BOOST_CHECK_EQUAL(sim::write_keys(c, s.leader, 30, "big", 3s, 1024), 30u);
  auto first = status_of(c, s.leader);
  BOOST_REQUIRE_GE(first.snapshot_index, 25u);
  // 60 small puts: the entry threshold is passed twice, but 60 commands of a few bytes are far
  // from the size of the last snapshot, so it is not rewritten.
  BOOST_CHECK_EQUAL(sim::write_keys(c, s.leader, 60, "small"), 60u);
  BOOST_CHECK_EQUAL(status_of(c, s.leader).snapshot_index, first.snapshot_index);
  // Another 40 KiB of commands outweigh it: the next snapshot follows.
  BOOST_CHECK_EQUAL(sim::write_keys(c, s.leader, 40, "more", 3s, 1024), 40u);
  c.run_for(1s);
  BOOST_CHECK_GT(status_of(c, s.leader).snapshot_index, first.snapshot_index + 60);
  expect_converged(c);
}

BOOST_AUTO_TEST_CASE(a_crash_in_the_middle_of_an_install_leaves_a_usable_node) {
  size_t crashed_mid_transfer = 0;
  size_t runs = 0;
  // Crash points from before the follower is contacted to after it is done, densely around the
  // transfer itself.
  std::vector<size_t> points{5, 400};
  for (size_t k = 60; k <= 140; k += 4)
    points.push_back(k);
  for (size_t steps : points) {
    ++runs;
    BOOST_TEST_CONTEXT("crash " << steps << " steps after healing") {
      sim::settled_cluster s{30 + steps};
      auto& c = s.c;
      c.isolate(s.other);
      BOOST_CHECK_EQUAL(sim::write_keys(c, s.leader, 120, "k"), 120u);
      c.heal();
      c.run_steps(steps);
      bool mid = !files_with(c.data_dir(s.other) / "snapshots", ".tmp").empty();
      BOOST_TEST_MESSAGE("crash after " << steps << " steps: " << (mid ? "during" : "outside")
                                        << " a transfer");
      crashed_mid_transfer += mid;
      c.crash(s.other);
      c.run_for(300ms);
      c.restart(s.other);
      c.run_for(5s);
      BOOST_CHECK_EQUAL(local_get(c, s.other, "k119"), "value-119");
      BOOST_CHECK_EQUAL(files_with(c.data_dir(s.other) / "snapshots", ".tmp").size(), 0u);
      BOOST_CHECK_EQUAL(files_with(c.data_dir(s.other) / "snapshots", ".snap").size(), 1u);
      expect_converged(c);
    }
  }
  BOOST_TEST_MESSAGE(crashed_mid_transfer << " of " << runs
                                          << " crashes hit a partly received snapshot");
  BOOST_CHECK_GE(crashed_mid_transfer, 3u);
}

BOOST_AUTO_TEST_CASE(a_crash_right_after_an_install_keeps_the_recorded_snapshot) {
  // The follower already has a snapshot of its own; a newer one from the leader replaces it.
  // Until storage has recorded the newer one, the older file is what a restart loads.
  for (size_t extra : {0, 1, 2, 3, 5, 8, 13, 21}) {
    BOOST_TEST_CONTEXT("crash " << extra << " steps after the new file appeared") {
      sim::settled_cluster s{80 + extra};
      auto& c = s.c;
      BOOST_CHECK_EQUAL(sim::write_keys(c, s.leader, 60, "a"), 60u);
      auto dir = c.data_dir(s.other) / "snapshots";
      auto own = files_with(dir, ".snap");
      BOOST_REQUIRE_EQUAL(own.size(), 1u);
      c.isolate(s.other);
      BOOST_CHECK_EQUAL(sim::write_keys(c, s.leader, 120, "b"), 120u);
      c.heal();
      size_t steps = 0;
      while (files_with(dir, ".snap") == own && steps++ < 100000)
        c.run_steps(1);
      BOOST_REQUIRE_MESSAGE(files_with(dir, ".snap") != own, "no snapshot was installed");
      c.run_steps(extra);
      c.crash(s.other);
      c.restart(s.other);
      c.run_for(5s);
      BOOST_CHECK_EQUAL(status_of(c, s.other).role, "follower");
      BOOST_CHECK_EQUAL(local_get(c, s.other, "b119"), "value-119");
      expect_converged(c);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_restart_loads_the_snapshot_then_replays_the_log_suffix) {
  sim::settled_cluster s{41};
  auto& c = s.c;
  BOOST_CHECK_EQUAL(sim::write_keys(c, s.leader, 60, "k"), 60u);
  BOOST_CHECK_EQUAL(sim::write_keys(c, s.leader, 5, "suffix"), 5u);  // below the threshold
  c.run_for(1s);
  auto before = status_of(c, s.other);
  BOOST_CHECK_GE(before.snapshot_index, 25u);
  BOOST_CHECK_GT(before.last.index, before.snapshot_index);  // a suffix to replay
  c.crash(s.other);
  c.restart(s.other);
  c.run_for(2s);
  auto after = status_of(c, s.other);
  BOOST_CHECK_EQUAL(after.snapshot_index, before.snapshot_index);
  BOOST_CHECK_GE(after.applied, before.last.index);
  BOOST_CHECK_GE(c.invariants().restores_of(s.other), 1u);
  BOOST_CHECK_EQUAL(local_get(c, s.other, "k59"), "value-59");
  expect_converged(c);
}

BOOST_AUTO_TEST_CASE(a_corrupt_snapshot_file_stops_the_node_and_is_kept) {
  for (bool truncate : {false, true}) {
    BOOST_TEST_CONTEXT((truncate ? "truncated" : "flipped byte")) {
      sim::settled_cluster s{truncate ? 52u : 51u};
      auto& c = s.c;
      BOOST_CHECK_EQUAL(sim::write_keys(c, s.leader, 60, "k"), 60u);
      c.run_for(1s);
      c.crash(s.other);
      auto snaps = files_with(c.data_dir(s.other) / "snapshots", ".snap");
      BOOST_REQUIRE_EQUAL(snaps.size(), 1u);
      auto size = fs::file_size(snaps[0]);
      if (truncate)
        fs::resize_file(snaps[0], size / 2);
      else
        flip_byte(snaps[0], static_cast<std::streamoff>(size / 2));
      c.restart(s.other);
      c.run_for(500ms);
      // The node refuses to run on a state it cannot trust, and leaves the evidence in place.
      auto st = sim::ask<node_status>(c, s.other, 200ms, status_atom::value);
      BOOST_CHECK(!st);
      BOOST_CHECK(fs::exists(snaps[0]));
      // The other two carry on.
      auto w = sim::ask<std::string>(c, s.leader, 1s, propose_atom::value,
                                     encode(kv_command::put("still", "serving")));
      BOOST_CHECK_MESSAGE(w, sim::describe(c, w));
    }
  }
}
