// Unit tests of segment_log (the Raft log's entries in segment files): the record format, reads,
// refusals, cuts, purges, resets, torn and corrupt records, other generations, concurrent readers.
#define BOOST_TEST_MODULE segment_log
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <unistd.h>

#include "messages/errc.hpp"
#include "tests/error_text.hpp"
#include "persistence/crc32.hpp"
#include "persistence/segment_log.hpp"

using namespace raft;
namespace fs = std::filesystem;

namespace {

using test::describe;
using test::err;

caf::error err(const caf::error& x) {
  return x;
}

template <class T>
std::string describe(const caf::expected<T>& x) {
  return describe(err(x));
}

std::string str(const log_id& x) {
  return "(term " + std::to_string(x.term) + ", index " + std::to_string(x.index) + ")";
}

// `expr` (a caf::error or caf::expected) failed with the raft error `code`.
#define CHECK_ERRC(expr, code)                                                                 \
  do {                                                                                         \
    auto e_ = err(expr);                                                                       \
    BOOST_CHECK_MESSAGE(is(e_, code),                                                          \
                        #expr " gave " << describe(e_) << ", expected " << to_string(code));   \
  } while (false)

#define CHECK_ID(a, b)                                                                         \
  BOOST_CHECK_MESSAGE((a) == (b), #a " is " << str(a) << ", expected " << str(b))

constexpr uint64_t all_bytes = uint64_t{1} << 40;

// Under the system's temp directory, with the pid so that parallel runs do not collide.
struct temp_dir {
  fs::path path;
  temp_dir() {
    static int counter = 0;
    path = fs::temp_directory_path()
           / ("caf-raft-segment-log-" + std::to_string(::getpid()) + "-"
              + std::to_string(++counter));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// A directory below the temp one that does not exist yet: open() must create it.
segment_log_options options(const temp_dir& d, uint64_t generation = 1,
                            uint64_t segment_bytes = 4096) {
  segment_log_options opts;
  opts.dir = (d.path / "log").string();
  opts.generation = generation;
  opts.segment_bytes = segment_bytes;
  return opts;
}

segment_log open_ok(const segment_log_options& opts, log_id base) {
  auto s = segment_log::open(opts, base);
  BOOST_REQUIRE_MESSAGE(s, "open at " << str(base) << " failed: " << describe(s));
  return std::move(*s);
}

// Deterministic content that differs from one index to the next, so that an entry read from the
// wrong place (or an old record that came back) does not compare equal.
std::string payload_for(index_t idx, size_t size) {
  std::string s(size, '\0');
  for (size_t i = 0; i < size; ++i)
    s[i] = static_cast<char>('a' + (idx * 31 + i * 7) % 26);
  return s;
}

log_entry make_entry(index_t idx, term_t term, size_t size = 100,
                     entry_kind kind = entry_kind::normal) {
  log_entry e;
  e.index = idx;
  e.term = term;
  e.kind = kind;
  e.payload = payload_for(idx, size);
  return e;
}

// Entries [from, to] in `term`.
log_entries range(index_t from, index_t to, term_t term, size_t size = 100) {
  log_entries xs;
  for (auto i = from; i <= to; ++i)
    xs.push_back(make_entry(i, term, size));
  return xs;
}

// Applies write(cut_from, xs) to the model of the log as well, and requires the log to accept it.
void write_ok(segment_log& s, log_entries& model, index_t cut_from, const log_entries& xs) {
  auto e = s.write(cut_from, xs);
  BOOST_REQUIRE_MESSAGE(!e, "write(" << cut_from << ", " << xs.size() << " entries from "
                                     << (xs.empty() ? 0 : xs.front().index)
                                     << ") failed: " << describe(e));
  if (cut_from != 0)
    model.erase(std::remove_if(model.begin(), model.end(),
                               [&](const log_entry& x) { return x.index >= cut_from; }),
                model.end());
  model.insert(model.end(), xs.begin(), xs.end());
}

/// Appends entries 1..last in term 1, `batch` per write.
void write_batches(segment_log& s, log_entries& model, index_t last, index_t batch) {
  for (index_t i = 1; i <= last; i += batch)
    write_ok(s, model, 0, range(i, i + batch - 1, 1));
}

/// The same into a new log at `opts`, closed again.
void write_closed_log(const segment_log_options& opts, log_entries& model, index_t last,
                      index_t batch) {
  auto s = open_ok(opts, {});
  write_batches(s, model, last, batch);
}

log_entries after(const log_entries& model, index_t idx) {
  log_entries xs;
  std::copy_if(model.begin(), model.end(), std::back_inserter(xs),
               [&](const log_entry& x) { return x.index > idx; });
  return xs;
}

term_t term_in(const log_entries& model, index_t idx) {
  for (auto& x : model)
    if (x.index == idx)
      return x.term;
  BOOST_FAIL("no entry " << idx << " in the model");
  return 0;
}

std::string str(const log_entry& x) {
  return "#" + std::to_string(x.index) + " term " + std::to_string(x.term) + " kind "
         + std::to_string(static_cast<int>(x.kind)) + " " + std::to_string(x.payload.size())
         + " bytes";
}

// Where `got` differs from `want`, in words; empty if they are equal.
std::string diff(const log_entries& got, const log_entries& want) {
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
    auto& x = got[i];
    auto& y = want[i];
    if (x.index != y.index || x.term != y.term || x.kind != y.kind || x.payload != y.payload)
      return "entry " + std::to_string(i) + " is " + str(x)
             + (x.payload != y.payload ? " (payload differs)" : "") + ", expected " + str(y);
  }
  if (got.size() != want.size())
    return std::to_string(got.size()) + " entries, expected " + std::to_string(want.size())
           + (got.empty() ? "" : "; the last is " + str(got.back()));
  return {};
}

// Everything a reader can observe of `s` agrees with a log of `want` after `base`.
void check_log(const segment_log& s, log_id base, const log_entries& want) {
  auto last = want.empty() ? base : want.back().id();
  CHECK_ID(s.base(), base);
  CHECK_ID(s.last(), last);
  auto xs = s.entries(base.index + 1, last.index + 10, all_bytes);
  BOOST_REQUIRE_MESSAGE(xs, "entries after the base: " << describe(xs));
  auto d = diff(*xs, want);
  BOOST_CHECK_MESSAGE(d.empty(), "entries after the base: " << d);
  auto t = s.term_at(base.index);
  BOOST_CHECK_MESSAGE(t && *t == base.term, "term at the base: " << (t ? *t : 0) << " "
                                                                  << describe(t));
  for (auto& x : want) {
    t = s.term_at(x.index);
    if (!t || *t != x.term) {
      BOOST_ERROR("term_at(" << x.index << ") gave " << (t ? *t : 0) << " " << describe(t)
                             << ", expected " << x.term);
      break;
    }
  }
  CHECK_ERRC(s.term_at(last.index + 1), errc::invalid_argument);
  CHECK_ERRC(s.entries(base.index, last.index + 1, all_bytes), errc::snapshot_needed);
  if (base.index > 0)
    CHECK_ERRC(s.term_at(base.index - 1), errc::snapshot_needed);
  log_entries configs;
  std::copy_if(want.begin(), want.end(), std::back_inserter(configs),
               [](const log_entry& x) { return x.kind == entry_kind::config; });
  auto cs = s.entries_of_kind(entry_kind::config);
  BOOST_REQUIRE_MESSAGE(cs, "entries_of_kind: " << describe(cs));
  d = diff(*cs, configs);
  BOOST_CHECK_MESSAGE(d.empty(), "config entries: " << d);
}

// -- the files, read as the header documents them --------------------------------------------

struct segment_file {
  fs::path path;
  uint64_t generation = 0;
  index_t first = 0;
};

bool is_hex(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
           return std::isxdigit(static_cast<unsigned char>(c)) != 0;
         });
}

// The segment files of `generation` (all if 0) in `dir`, by generation and first index.
std::vector<segment_file> segments(const std::string& dir, uint64_t generation = 0) {
  std::vector<segment_file> xs;
  for (auto& f : fs::directory_iterator(dir)) {
    auto name = f.path().filename().string();
    if (name.size() != 37 || name[16] != '-' || name.substr(33) != ".seg"
        || !is_hex(name.substr(0, 16)) || !is_hex(name.substr(17, 16)))
      continue;
    segment_file x{f.path(), std::stoull(name.substr(0, 16), nullptr, 16),
                   std::stoull(name.substr(17, 16), nullptr, 16)};
    if (generation == 0 || x.generation == generation)
      xs.push_back(x);
  }
  std::sort(xs.begin(), xs.end(), [](const segment_file& a, const segment_file& b) {
    return std::tie(a.generation, a.first) < std::tie(b.generation, b.first);
  });
  return xs;
}

std::string segment_name(uint64_t generation, index_t first) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%016llx-%016llx.seg",
                static_cast<unsigned long long>(generation),
                static_cast<unsigned long long>(first));
  return buf;
}

std::string read_bytes(const fs::path& p) {
  std::ifstream in{p, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

void write_bytes(const fs::path& p, uint64_t offset, const std::string& bytes) {
  std::fstream f{p, std::ios::in | std::ios::out | std::ios::binary};
  BOOST_REQUIRE(f);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  BOOST_REQUIRE(f);
}

void flip_byte(const fs::path& p, uint64_t offset, uint8_t mask = 0x01) {
  auto data = read_bytes(p);
  BOOST_REQUIRE_LT(offset, data.size());
  write_bytes(p, offset, std::string(1, static_cast<char>(data[offset] ^ mask)));
}

uint64_t get_le(const std::string& data, size_t offset, size_t n) {
  uint64_t x = 0;
  for (size_t i = 0; i < n; ++i)
    x |= uint64_t{static_cast<uint8_t>(data[offset + i])} << (8 * i);
  return x;
}

std::string le_bytes(uint64_t x, size_t n) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i)
    out[i] = static_cast<char>(x >> (8 * i));
  return out;
}

constexpr size_t header_bytes = 33;  // crc 4, length 4, index 8, term 8, kind 1, commit 8

struct record {
  uint64_t offset = 0;
  uint32_t size = 0;  // payload bytes
  index_t index = 0;
  term_t term = 0;
  uint8_t kind = 0;
  std::string payload;
  bool crc_ok = false;
};

// The records of a segment file from offset 0 up to the first zero record, the first that does
// not fit, or the first that fails its CRC (included, with crc_ok false). `end` is where the
// scan stopped.
std::vector<record> records(const fs::path& p, uint64_t* end = nullptr) {
  auto data = read_bytes(p);
  std::vector<record> xs;
  size_t off = 0;
  while (off + header_bytes <= data.size()) {
    if (data.compare(off, header_bytes, std::string(header_bytes, '\0')) == 0)
      break;
    record r;
    r.offset = off;
    r.size = static_cast<uint32_t>(get_le(data, off + 4, 4));
    if (off + header_bytes + r.size > data.size())
      break;
    r.index = get_le(data, off + 8, 8);
    r.term = get_le(data, off + 16, 8);
    r.kind = static_cast<uint8_t>(data[off + 24]);
    r.payload = data.substr(off + header_bytes, r.size);
    r.crc_ok = get_le(data, off, 4) == crc32(0, data.data() + off + 4, header_bytes - 4 + r.size);
    xs.push_back(r);
    if (!r.crc_ok)
      break;
    off += header_bytes + r.size;
  }
  if (end)
    *end = off;
  return xs;
}

std::set<std::string> file_names(const std::string& dir) {
  std::set<std::string> xs;
  for (auto& f : fs::directory_iterator(dir))
    xs.insert(f.path().filename().string());
  return xs;
}

// How many segments of `generation` could hold an entry after `upto`'s: every segment but the
// last whose first index is at most upto + 1 holds only entries up to `upto`.
size_t segments_from(const std::string& dir, uint64_t generation, index_t upto) {
  auto segs = segments(dir, generation);
  return static_cast<size_t>(std::count_if(segs.begin(), segs.end(), [&](const segment_file& x) {
    return x.first <= upto + 1;
  }));
}

} // namespace

BOOST_AUTO_TEST_CASE(empty_log_after_open) {
  temp_dir d;
  auto opts = options(d);
  for (int round = 0; round < 2; ++round) {  // a fresh directory, then the same one reopened
    BOOST_TEST_CONTEXT("round " << round) {
      auto s = open_ok(opts, {3, 10});
      BOOST_CHECK(fs::is_directory(opts.dir));
      BOOST_CHECK_EQUAL(s.generation(), 1u);
      check_log(s, {3, 10}, {});
      auto xs = s.entries(11, 100, all_bytes);
      BOOST_REQUIRE_MESSAGE(xs, describe(xs));
      BOOST_CHECK(xs->empty());
      xs = s.entries(50, 60, 0);
      BOOST_REQUIRE_MESSAGE(xs, describe(xs));
      BOOST_CHECK(xs->empty());
      CHECK_ERRC(s.entries(10, 20, all_bytes), errc::snapshot_needed);
      CHECK_ERRC(s.entries(1, 20, all_bytes), errc::snapshot_needed);
      BOOST_CHECK_EQUAL(*s.term_at(10), 3u);
      CHECK_ERRC(s.term_at(9), errc::snapshot_needed);
      CHECK_ERRC(s.term_at(0), errc::snapshot_needed);
      CHECK_ERRC(s.term_at(11), errc::invalid_argument);
      CHECK_ERRC(s.term_at(1000), errc::invalid_argument);
    }
  }
  // A log that starts at the very beginning: index 0 is the (empty) base.
  temp_dir d2;
  auto s = open_ok(options(d2), {});
  check_log(s, {}, {});
  BOOST_CHECK_EQUAL(*s.term_at(0), 0u);
  CHECK_ERRC(s.term_at(1), errc::invalid_argument);
  CHECK_ERRC(s.entries(0, 5, all_bytes), errc::snapshot_needed);
  BOOST_CHECK(s.entries(1, 5, all_bytes)->empty());
}

BOOST_AUTO_TEST_CASE(records_follow_the_documented_format) {
  // Other tools (and the corruption tests below) rely on the layout the header documents.
  temp_dir d;
  auto opts = options(d);
  auto s = open_ok(opts, {});
  log_entries model;
  for (index_t from = 1; from <= 60; from += 12) {
    log_entries xs;
    for (auto i = from; i < from + 12; ++i) {
      auto kind = i % 10 == 3 ? entry_kind::config
                              : i % 10 == 7 ? entry_kind::noop : entry_kind::normal;
      xs.push_back(make_entry(i, 1 + i / 25, i % 20 == 0 ? 0 : (i * 53) % 300, kind));
    }
    write_ok(s, model, 0, xs);
  }
  auto segs = segments(opts.dir);
  BOOST_REQUIRE_GE(segs.size(), 3u);
  log_entries on_disk;
  for (auto& seg : segs) {
    BOOST_TEST_CONTEXT(seg.path.filename()) {
      BOOST_CHECK_EQUAL(seg.generation, 1u);
      BOOST_CHECK_EQUAL(fs::file_size(seg.path), opts.segment_bytes);
      uint64_t end = 0;
      auto recs = records(seg.path, &end);
      BOOST_REQUIRE(!recs.empty());
      BOOST_CHECK_EQUAL(recs.front().index, seg.first);
      for (auto& r : recs) {
        BOOST_CHECK_MESSAGE(r.crc_ok, "record " << r.index << " at " << r.offset);
        log_entry e;
        e.index = r.index;
        e.term = r.term;
        e.kind = static_cast<entry_kind>(r.kind);
        e.payload = r.payload;
        on_disk.push_back(e);
      }
      if (&seg == &segs.back()) {
        auto data = read_bytes(seg.path);
        BOOST_CHECK_MESSAGE(data.find_first_not_of('\0', end) == std::string::npos,
                            "non-zero bytes after the last record at " << end);
      }
    }
  }
  auto dd = diff(on_disk, model);
  BOOST_CHECK_MESSAGE(dd.empty(), "records on disk: " << dd);
}

BOOST_AUTO_TEST_CASE(append_and_read_back_across_segments) {
  temp_dir d;
  auto opts = options(d);
  log_entries model;
  {
    auto s = open_ok(opts, {});
    write_ok(s, model, 0, range(1, 10, 1));
    CHECK_ID(s.last(), (log_id{1, 10}));
    auto noop = make_entry(11, 1, 0, entry_kind::noop);
    write_ok(s, model, 0, {noop});
    write_ok(s, model, 0, range(12, 20, 1, 0));
    // Each entry nearly fills a segment: one batch spread over several of them.
    write_ok(s, model, 0, range(21, 23, 2, 3000));
    CHECK_ID(s.last(), (log_id{2, 23}));
    auto xs = range(24, 80, 2, 150);
    xs[30 - 24].kind = entry_kind::config;
    xs[70 - 24].kind = entry_kind::config;
    write_ok(s, model, 0, xs);
    for (index_t i = 81; i <= 90; ++i)
      write_ok(s, model, 0, range(i, i, 3, 1));
    CHECK_ID(s.last(), (log_id{3, 90}));
    check_log(s, {}, model);
    BOOST_CHECK_GE(segments(opts.dir, 1).size(), 5u);
  }
  {
    auto s = open_ok(opts, {});
    BOOST_TEST_CONTEXT("reopened") { check_log(s, {}, model); }
    write_ok(s, model, 0, range(91, 100, 4, 200));
    check_log(s, {}, model);
  }
  auto s = open_ok(opts, {});
  BOOST_TEST_CONTEXT("reopened twice") { check_log(s, {}, model); }
}

BOOST_AUTO_TEST_CASE(refused_writes_leave_the_log_unchanged) {
  temp_dir d;
  auto opts = options(d);
  const log_id base{2, 10};
  log_entries model;
  {
    auto s = open_ok(opts, base);
    write_ok(s, model, 0, range(11, 20, 2, 200));
    write_ok(s, model, 0, range(21, 30, 3, 200));  // the two batches span two segments
    // A gap after the last entry, and overlaps without a cut.
    CHECK_ERRC(s.write(0, range(32, 33, 3)), errc::invalid_argument);
    CHECK_ERRC(s.write(0, range(30, 31, 3)), errc::invalid_argument);
    CHECK_ERRC(s.write(0, range(25, 35, 3)), errc::invalid_argument);
    // A gap or a repeated index inside the batch.
    auto xs = range(31, 33, 3);
    xs[2].index = 34;
    CHECK_ERRC(s.write(0, xs), errc::invalid_argument);
    xs = range(31, 33, 3);
    xs[1].index = 31;
    CHECK_ERRC(s.write(0, xs), errc::invalid_argument);
    // Cuts at or below the base: those entries are in the snapshot.
    CHECK_ERRC(s.write(10, range(10, 12, 3)), errc::invalid_argument);
    CHECK_ERRC(s.write(10, range(11, 12, 3)), errc::invalid_argument);
    CHECK_ERRC(s.write(5, range(5, 12, 3)), errc::invalid_argument);
    CHECK_ERRC(s.write(10, {}), errc::invalid_argument);
    // A cut whose entries do not start at the cut: refused before anything is cut.
    CHECK_ERRC(s.write(25, range(26, 27, 3)), errc::invalid_argument);
    CHECK_ERRC(s.write(15, range(14, 16, 3)), errc::invalid_argument);
    // Terms that decrease: inside the batch, against the last entry, against the entry before
    // the cut.
    xs = range(31, 33, 3);
    xs[2].term = 2;
    CHECK_ERRC(s.write(0, xs), errc::invalid_argument);
    CHECK_ERRC(s.write(0, range(31, 32, 2)), errc::invalid_argument);
    CHECK_ERRC(s.write(25, range(25, 27, 2)), errc::invalid_argument);
    CHECK_ID(s.last(), (log_id{3, 30}));
    check_log(s, base, model);
  }
  auto s = open_ok(opts, base);
  BOOST_TEST_CONTEXT("reopened") { check_log(s, base, model); }
  // The log still takes a valid write after all those refusals.
  write_ok(s, model, 0, range(31, 32, 3));
  check_log(s, base, model);
}

BOOST_AUTO_TEST_CASE(first_entry_after_the_base_is_checked) {
  temp_dir d;
  auto opts = options(d);
  auto s = open_ok(opts, {5, 10});
  CHECK_ERRC(s.write(0, range(12, 13, 5)), errc::invalid_argument);
  CHECK_ERRC(s.write(0, range(10, 13, 5)), errc::invalid_argument);
  // Entry 11 follows the snapshot's last entry (term 5): its term cannot be lower.
  CHECK_ERRC(s.write(0, range(11, 13, 4)), errc::invalid_argument);
  check_log(s, {5, 10}, {});
  log_entries model;
  write_ok(s, model, 0, range(11, 13, 5));
  check_log(s, {5, 10}, model);
}

BOOST_AUTO_TEST_CASE(cut_within_the_last_segment) {
  temp_dir d;
  auto opts = options(d);
  log_entries model;
  {
    auto s = open_ok(opts, {});
    write_ok(s, model, 0, range(1, 20, 1));
    // Same term and same size as the entry it replaces: the old records 16.. that follow it
    // are well formed and contiguous, so only their removal keeps them from coming back.
    auto x = make_entry(15, 1);
    x.payload = std::string(100, 'Z');
    write_ok(s, model, 15, {x});
    check_log(s, {}, model);
  }
  {
    auto s = open_ok(opts, {});
    BOOST_TEST_CONTEXT("reopened after a cut of the same size") { check_log(s, {}, model); }
    // A cut alone, then a cut that replaces the tail with a higher term.
    write_ok(s, model, 10, {});
    check_log(s, {}, model);
    write_ok(s, model, 8, range(8, 12, 2, 40));
    check_log(s, {}, model);
  }
  {
    auto s = open_ok(opts, {});
    BOOST_TEST_CONTEXT("reopened after more cuts") { check_log(s, {}, model); }
    // Everything after the base.
    write_ok(s, model, 1, range(1, 3, 3, 100));
    check_log(s, {}, model);
  }
  auto s = open_ok(opts, {});
  BOOST_TEST_CONTEXT("reopened after cutting all") { check_log(s, {}, model); }
}

BOOST_AUTO_TEST_CASE(cut_across_segments) {
  temp_dir d;
  auto opts = options(d);
  log_entries model;
  std::vector<segment_file> segs;
  {
    auto s = open_ok(opts, {});
    write_batches(s, model, 150, 10);
    segs = segments(opts.dir, 1);
    BOOST_REQUIRE_GE(segs.size(), 4u);
    // Into the second segment, with enough new entries to need a new segment after it.
    auto cut = segs[1].first + 3;
    write_ok(s, model, cut, range(cut, cut + 40, 2));
    check_log(s, {}, model);
  }
  {
    auto s = open_ok(opts, {});
    BOOST_TEST_CONTEXT("reopened after the first cut") { check_log(s, {}, model); }
    // Back to the start of the second segment, leaving it empty.
    write_ok(s, model, segs[1].first, range(segs[1].first, segs[1].first, 3, 100));
    check_log(s, {}, model);
  }
  {
    auto s = open_ok(opts, {});
    BOOST_TEST_CONTEXT("reopened after the second cut") { check_log(s, {}, model); }
    // Long again, then a cut into the first segment.
    auto next = s.last().index + 1;
    write_ok(s, model, 0, range(next, next + 99, 3));
    write_ok(s, model, 5, range(5, 6, 4, 10));
    check_log(s, {}, model);
  }
  auto s = open_ok(opts, {});
  BOOST_TEST_CONTEXT("reopened after the third cut") { check_log(s, {}, model); }
  write_ok(s, model, 0, range(7, 80, 4, 120));
  check_log(s, {}, model);
}

BOOST_AUTO_TEST_CASE(entries_limits) {
  temp_dir d;
  auto opts = options(d);
  auto s = open_ok(opts, {});
  log_entries model;
  write_ok(s, model, 0, range(1, 50, 1, 100));
  write_ok(s, model, 0, range(51, 60, 1, 0));
  auto read = [&](index_t start, index_t stop, uint64_t max_bytes) {
    auto xs = s.entries(start, stop, max_bytes);
    BOOST_REQUIRE_MESSAGE(xs, "entries(" << start << ", " << stop << ", " << max_bytes
                                         << "): " << describe(xs));
    return *xs;
  };
  auto slice = [&](index_t from, index_t to) {  // [from, to] of the model
    return log_entries(model.begin() + static_cast<long>(from - 1),
                       model.begin() + static_cast<long>(to));
  };
  auto check = [&](const log_entries& got, const log_entries& want, const char* what) {
    auto dd = diff(got, want);
    BOOST_CHECK_MESSAGE(dd.empty(), what << ": " << dd);
  };
  // The budget counts entry_bytes (payload and a fixed overhead), and a budget met exactly
  // still takes the entry.
  const uint64_t e100 = entry_bytes(model[0]);
  const uint64_t e0 = entry_bytes(model[50]);
  check(read(1, 61, 2 * e100 + e100 / 2), slice(1, 2), "two and a half entries");
  check(read(1, 61, 3 * e100), slice(1, 3), "exactly three entries");
  check(read(1, 61, 3 * e100 - 1), slice(1, 2), "a byte short of three");
  check(read(1, 61, e100 - 1), slice(1, 1), "less than one entry");
  check(read(1, 61, 0), slice(1, 1), "no bytes");
  auto segs = segments(opts.dir, 1);
  BOOST_REQUIRE_GE(segs.size(), 2u);
  auto b = segs[1].first;
  BOOST_REQUIRE(b > 4 && b + 4 <= 50);
  check(read(b - 4, 61, 8 * e100), slice(b - 4, b + 3), "across a segment boundary");
  check(read(45, 61, 6 * e100 + 2 * e0), slice(45, 52), "payloads of both sizes");
  check(read(51, 61, 0), slice(51, 51), "empty payloads, no bytes");
  check(read(51, 61, 3 * e0), slice(51, 53), "empty payloads count too");
  check(read(5, 8, all_bytes), slice(5, 7), "stop");
  check(read(1, 61, all_bytes), slice(1, 60), "all");
  check(read(49, 1000, all_bytes), slice(49, 60), "past the end");
  check(read(5, 5, all_bytes), {}, "empty range");
  check(read(61, 70, all_bytes), {}, "after the last");
  check(read(100, 200, 0), {}, "far after the last");
  CHECK_ERRC(s.entries(0, 10, all_bytes), errc::snapshot_needed);
}

BOOST_AUTO_TEST_CASE(purge_forgets_a_prefix_and_deletes_its_segments) {
  temp_dir d;
  auto opts = options(d);
  log_entries model;
  log_id base;
  {
    auto s = open_ok(opts, {});
    for (index_t i = 1; i <= 200; i += 20) {
      auto xs = range(i, i + 19, i <= 60 ? 1 : i <= 140 ? 2 : 3);
      for (auto& x : xs)
        if (x.index == 10 || x.index == 100 || x.index == 180)
          x.kind = entry_kind::config;
      write_ok(s, model, 0, xs);
    }
    auto segs = segments(opts.dir, 1);
    BOOST_REQUIRE_GE(segs.size(), 6u);
    // In the middle of the third segment: the first two hold only forgotten entries.
    auto upto = segs[2].first + 5;
    BOOST_REQUIRE(!s.purge(upto));
    base = {term_in(model, upto), upto};
    model = after(model, upto);
    check_log(s, base, model);
    CHECK_ERRC(s.entries(upto, upto + 5, all_bytes), errc::snapshot_needed);
    CHECK_ERRC(s.entries(1, upto + 5, all_bytes), errc::snapshot_needed);
    auto left = segments(opts.dir, 1);
    BOOST_CHECK_EQUAL(segments_from(opts.dir, 1, upto), 1u);
    BOOST_CHECK_EQUAL(left.size(), segs.size() - 2);
    BOOST_CHECK_EQUAL(left.front().first, segs[2].first);
    // Up to the end of a segment: it goes too, the next one stays.
    upto = segs[4].first - 1;
    BOOST_REQUIRE(!s.purge(upto));
    base = {term_in(model, upto), upto};
    model = after(model, upto);
    check_log(s, base, model);
    BOOST_CHECK_EQUAL(segments_from(opts.dir, 1, upto), 1u);
    BOOST_CHECK_EQUAL(segments(opts.dir, 1).front().first, segs[4].first);
  }
  {
    auto s = open_ok(opts, base);
    BOOST_TEST_CONTEXT("reopened") { check_log(s, base, model); }
    write_ok(s, model, 0, range(201, 210, 3));
    check_log(s, base, model);
    // Everything: the log is empty after the new base and goes on from there.
    auto upto = s.last().index;
    BOOST_REQUIRE(!s.purge(upto));
    base = s.last();
    CHECK_ID(base, (log_id{3, 210}));
    model.clear();
    check_log(s, base, model);
    write_ok(s, model, 0, range(211, 215, 4));
    check_log(s, base, model);
  }
  auto s = open_ok(opts, base);
  BOOST_TEST_CONTEXT("reopened after purging all") { check_log(s, base, model); }
}

BOOST_AUTO_TEST_CASE(reopen_with_a_base_ahead_of_the_files) {
  // As after a crash between recording a purge's base (in LMDB) and deleting its segments.
  temp_dir d;
  auto opts = options(d);
  log_entries model;
  std::vector<segment_file> segs;
  {
    auto s = open_ok(opts, {});
    for (index_t i = 1; i <= 200; i += 25)
      write_ok(s, model, 0, range(i, i + 24, i <= 100 ? 1 : 2));
    segs = segments(opts.dir, 1);
    BOOST_REQUIRE_GE(segs.size(), 5u);
    BOOST_REQUIRE(!s.purge(segs[1].first + 2));
  }
  log_id base{term_in(model, 120), 120};
  model = after(model, 120);
  {
    auto s = open_ok(opts, base);
    check_log(s, base, model);
    write_ok(s, model, 0, range(201, 220, 2));
    check_log(s, base, model);
  }
  {
    auto s = open_ok(opts, base);
    BOOST_TEST_CONTEXT("reopened") { check_log(s, base, model); }
    BOOST_REQUIRE(!s.purge(150));
    base = {term_in(model, 150), 150};
    model = after(model, 150);
    check_log(s, base, model);
    BOOST_CHECK_EQUAL(segments_from(opts.dir, 1, 150), 1u);
  }
  auto s = open_ok(opts, base);
  BOOST_TEST_CONTEXT("reopened after a purge") { check_log(s, base, model); }
}

BOOST_AUTO_TEST_CASE(base_below_the_first_record_is_corrupt) {
  // The entries between the base and the first record are gone: acknowledged entries lost.
  temp_dir d;
  auto opts = options(d);
  log_entries model;
  log_id base;
  {
    auto s = open_ok(opts, {});
    write_batches(s, model, 150, 25);
    auto segs = segments(opts.dir, 1);
    BOOST_REQUIRE_GE(segs.size(), 4u);
    BOOST_REQUIRE(!s.purge(segs[2].first + 1));
    base = s.base();
  }
  auto first = segments(opts.dir, 1).front().first;
  BOOST_REQUIRE_GT(first, 10u);
  auto names = file_names(opts.dir);
  CHECK_ERRC(segment_log::open(opts, {1, first - 5}), errc::storage_corrupt);
  BOOST_CHECK(file_names(opts.dir) == names);
  // The refused open changed nothing: the right base still opens the whole log.
  auto ok = open_ok(opts, base);
  check_log(ok, base, after(model, base.index));
}

// Rewrites a record's index and CRC: an intact record that claims another place in the log.
void set_index(const fs::path& p, const record& r, index_t index) {
  auto data = read_bytes(p);
  auto index_bytes = le_bytes(index, 8);
  data.replace(r.offset + 8, 8, index_bytes);
  auto crc = crc32(0, data.data() + r.offset + 4, header_bytes - 4 + r.size);
  write_bytes(p, r.offset + 8, index_bytes);
  write_bytes(p, r.offset, le_bytes(crc, 4));
}

BOOST_AUTO_TEST_CASE(a_gap_among_the_records_below_the_base_is_corrupt) {
  // Records at or below the base are a purge's leftovers and are skipped at open, but they must
  // still run on one from the next: a gap or a repeat means the file is not what the log wrote.
  for (index_t shift : {index_t{1}, index_t{0} - 1}) {
    BOOST_TEST_CONTEXT("a record's index moved by " << static_cast<int64_t>(shift)) {
      temp_dir d;
      auto opts = options(d);
      log_entries model;
      write_closed_log(opts, model, 150, 25);
      auto segs = segments(opts.dir, 1);
      BOOST_REQUIRE_GE(segs.size(), 3u);
      auto recs = records(segs[1].path);
      BOOST_REQUIRE_GE(recs.size(), 8u);
      log_id base{1, recs[6].index};
      {
        auto s = open_ok(opts, base);  // undamaged, the same base opens
        check_log(s, base, after(model, base.index));
      }
      set_index(segs[1].path, recs[3], recs[3].index + shift);
      CHECK_ERRC(segment_log::open(opts, base), errc::storage_corrupt);
    }
  }
}

namespace {

enum class damage { flip_payload, flip_crc, huge_length, torn_write, zeroed };

const char* name(damage x) {
  switch (x) {
    case damage::flip_payload: return "a payload byte flipped";
    case damage::flip_crc: return "a CRC byte flipped";
    case damage::huge_length: return "a length beyond the segment";
    case damage::torn_write: return "zeros from the 10th byte on";
    case damage::zeroed: return "all zeros";
  }
  return "?";
}

void damage_record(damage how, const fs::path& p, const record& r) {
  auto end = r.offset + header_bytes + r.size;
  switch (how) {
    case damage::flip_payload: flip_byte(p, r.offset + header_bytes + r.size / 2); break;
    case damage::flip_crc: flip_byte(p, r.offset + 1, 0xff); break;
    case damage::huge_length: write_bytes(p, r.offset + 7, std::string(1, '\x7f')); break;
    case damage::torn_write:
      write_bytes(p, r.offset + 10, std::string(end - r.offset - 10, '\0'));
      break;
    case damage::zeroed: write_bytes(p, r.offset, std::string(end - r.offset, '\0')); break;
  }
}

} // namespace

BOOST_AUTO_TEST_CASE(torn_last_record_is_cut_off) {
  for (auto how : {damage::flip_payload, damage::flip_crc, damage::huge_length,
                   damage::torn_write, damage::zeroed}) {
    BOOST_TEST_CONTEXT(name(how)) {
      temp_dir d;
      auto opts = options(d);
      log_entries model;
      {
        auto fast = opts;  // flushes cost time here and are not what this test is about
        fast.sync = false;
        auto s = open_ok(fast, {});
        for (index_t i = 1; i <= 100; i += 10)
          write_ok(s, model, 0, range(i, i + 9, i <= 50 ? 1 : 2));
      }
      auto segs = segments(opts.dir, 1);
      BOOST_REQUIRE_GE(segs.size(), 2u);
      auto recs = records(segs.back().path);
      BOOST_REQUIRE(!recs.empty());
      auto r = recs.back();
      BOOST_REQUIRE_EQUAL(r.index, 100u);
      damage_record(how, segs.back().path, r);
      model.resize(99);
      {
        auto s = open_ok(opts, {});
        check_log(s, {}, model);
        write_ok(s, model, 0, range(100, 119, 3, 100));
        check_log(s, {}, model);
      }
      auto s = open_ok(opts, {});
      BOOST_TEST_CONTEXT("reopened after appending") { check_log(s, {}, model); }
    }
  }
}

BOOST_AUTO_TEST_CASE(bad_record_inside_the_last_segment_ends_the_log_there) {
  temp_dir d;
  auto opts = options(d);
  log_entries model;
  write_closed_log(opts, model, 100, 10);
  auto segs = segments(opts.dir, 1);
  BOOST_REQUIRE_GE(segs.size(), 2u);
  auto recs = records(segs.back().path);
  BOOST_REQUIRE_GE(recs.size(), 3u);
  // Well-formed records of the old log follow the bad one.
  auto r = recs[recs.size() - 3];
  flip_byte(segs.back().path, r.offset + header_bytes + 3);
  model.resize(r.index - 1);
  {
    auto s = open_ok(opts, {});
    check_log(s, {}, model);
    // Same size and term as the bad record, so the old ones after it stay aligned.
    auto x = make_entry(r.index, 1);
    x.payload = std::string(100, 'Z');
    write_ok(s, model, 0, {x});
    check_log(s, {}, model);
  }
  auto s = open_ok(opts, {});
  BOOST_TEST_CONTEXT("reopened") { check_log(s, {}, model); }
}

BOOST_AUTO_TEST_CASE(bad_record_in_an_earlier_segment_is_corrupt) {
  enum class how { flip_first, zero_last_of_first, bad_crc_in_second, drop_second, junk_in_first };
  for (auto h : {how::flip_first, how::zero_last_of_first, how::bad_crc_in_second,
                 how::drop_second, how::junk_in_first}) {
    BOOST_TEST_CONTEXT("case " << static_cast<int>(h)) {
      temp_dir d;
      auto opts = options(d);
      log_entries model;
      {
        auto fast = opts;
        fast.sync = false;
        auto s = open_ok(fast, {});
        write_batches(s, model, 150, 15);
      }
      auto segs = segments(opts.dir, 1);
      BOOST_REQUIRE_GE(segs.size(), 4u);
      auto first = records(segs[0].path);
      auto second = records(segs[1].path);
      BOOST_REQUIRE_GE(first.size(), 2u);
      BOOST_REQUIRE_GE(second.size(), 2u);
      switch (h) {
        case how::flip_first: flip_byte(segs[0].path, first[0].offset + header_bytes + 1); break;
        case how::zero_last_of_first:
          damage_record(damage::zeroed, segs[0].path, first.back());
          break;
        case how::bad_crc_in_second:
          flip_byte(segs[1].path, second[second.size() / 2].offset, 0xff);
          break;
        case how::drop_second: fs::remove(segs[1].path); break;
        case how::junk_in_first: {
          // In the zeros after the first segment's last record: only a last segment ends
          // at damage.
          auto end = first.back().offset + header_bytes + first.back().size;
          BOOST_REQUIRE_LE(end + header_bytes, fs::file_size(segs[0].path));
          write_bytes(segs[0].path, end, std::string(header_bytes, '\x5a'));
          break;
        }
      }
      auto names = file_names(opts.dir);
      CHECK_ERRC(segment_log::open(opts, {}), errc::storage_corrupt);
      // Nothing was cut to make the log look whole: it is still refused.
      BOOST_CHECK(file_names(opts.dir) == names);
      CHECK_ERRC(segment_log::open(opts, {}), errc::storage_corrupt);
    }
  }
}

BOOST_AUTO_TEST_CASE(reset_starts_a_new_generation) {
  temp_dir d;
  auto opts = options(d);
  log_entries model;
  {
    auto s = open_ok(opts, {});
    write_batches(s, model, 100, 20);
    BOOST_REQUIRE(!s.reset(2, {5, 500}));
    BOOST_CHECK_EQUAL(s.generation(), 2u);
    model.clear();
    check_log(s, {5, 500}, model);
    CHECK_ERRC(s.entries(100, 101, all_bytes), errc::snapshot_needed);
    CHECK_ERRC(s.term_at(100), errc::snapshot_needed);
    for (index_t i = 501; i <= 560; i += 20)
      write_ok(s, model, 0, range(i, i + 19, 5));
    check_log(s, {5, 500}, model);
    auto segs = segments(opts.dir, 2);
    BOOST_REQUIRE(!segs.empty());
    BOOST_CHECK_EQUAL(segs.front().first, 501u);
  }
  opts.generation = 2;
  {
    auto s = open_ok(opts, {5, 500});
    BOOST_TEST_CONTEXT("reopened") { check_log(s, {5, 500}, model); }
    BOOST_CHECK(segments(opts.dir, 1).empty());
    // A snapshot behind the old log's end: the new generation starts lower.
    BOOST_REQUIRE(!s.reset(3, {1, 20}));
    model.clear();
    check_log(s, {1, 20}, model);
    write_ok(s, model, 0, range(21, 25, 1));
    check_log(s, {1, 20}, model);
  }
  opts.generation = 3;
  auto s = open_ok(opts, {1, 20});
  BOOST_TEST_CONTEXT("reopened after the second reset") { check_log(s, {1, 20}, model); }
  BOOST_CHECK_EQUAL(s.generation(), 3u);
  auto segs = segments(opts.dir);
  BOOST_REQUIRE(!segs.empty());
  BOOST_CHECK_EQUAL(segs.front().generation, 3u);
  BOOST_CHECK_EQUAL(segs.back().generation, 3u);
}

BOOST_AUTO_TEST_CASE(other_generations_are_deleted_at_open) {
  temp_dir d;
  auto opts = options(d);
  log_entries model;
  write_closed_log(opts, model, 80, 20);
  // Well-formed copies under other generations (higher and lower), and a garbage one.
  auto own = segments(opts.dir, 1);
  BOOST_REQUIRE_GE(own.size(), 2u);
  for (auto& seg : own) {
    fs::copy_file(seg.path, fs::path{opts.dir} / segment_name(7, seg.first));
    fs::copy_file(seg.path, fs::path{opts.dir} / segment_name(0, seg.first + 1000));
  }
  {
    std::ofstream out{fs::path{opts.dir} / segment_name(2, 1), std::ios::binary};
    out << std::string(4096, '\x5a');
  }
  {
    auto s = open_ok(opts, {});
    check_log(s, {}, model);
    auto segs = segments(opts.dir);
    BOOST_REQUIRE(!segs.empty());
    BOOST_CHECK_EQUAL(segs.front().generation, 1u);
    BOOST_CHECK_EQUAL(segs.back().generation, 1u);
  }
  // As after a crash between recording a new generation (in LMDB) and reset(): the old log
  // must not come back.
  opts.generation = 9;
  log_entries fresh;
  {
    auto s = open_ok(opts, {4, 300});
    check_log(s, {4, 300}, fresh);
    BOOST_CHECK(segments(opts.dir, 1).empty());
    write_ok(s, fresh, 0, range(301, 305, 4));
  }
  auto s = open_ok(opts, {4, 300});
  BOOST_TEST_CONTEXT("reopened") { check_log(s, {4, 300}, fresh); }
}

BOOST_AUTO_TEST_CASE(concurrent_readers_see_completed_writes) {
  temp_dir d;
  auto opts = options(d);
  opts.sync = false;  // the interleaving is the point here, not the flushes
  const log_id base{1, 0};
  auto term_of = [](index_t i) -> term_t { return 1 + i / 300; };
  auto size_of = [](index_t i) -> size_t { return (i * 37) % 120; };
  auto entry = [&](index_t i) {
    return make_entry(i, term_of(i), size_of(i),
                      i % 100 == 0 ? entry_kind::config : entry_kind::normal);
  };
  auto s = open_ok(opts, base);
  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::atomic<int> failures{0};
  std::mutex mtx;
  std::string first_failure;
  auto fail = [&](std::string what) {
    std::lock_guard<std::mutex> guard{mtx};
    if (failures++ == 0)
      first_failure = std::move(what);
  };
  auto reader = [&](uint64_t seed) {
    index_t seen = 0;
    uint64_t rnd = seed;
    auto next = [&](uint64_t n) {  // a pseudo-random number in [0, n)
      rnd = rnd * 6364136223846793005u + 1442695040888963407u;
      return (rnd >> 33) % n;
    };
    for (int round = 0; !done.load() || round == 0; ++round) {
      auto last = s.last();
      if (last.index < seen) {
        fail("last() went back from " + std::to_string(seen) + " to " + str(last));
        return;
      }
      seen = last.index;
      if (seen > 0 && last.term != term_of(seen))
        fail("last() is " + str(last));
      if (seen > 0) {
        auto start = 1 + next(seen);
        auto stop = std::min<index_t>(seen + 1, start + 1 + next(60));
        auto xs = s.entries(start, stop, all_bytes);
        if (!xs) {
          fail("entries(" + std::to_string(start) + ", " + std::to_string(stop)
               + "): " + describe(xs));
        } else {
          log_entries want;
          for (auto i = start; i < stop; ++i)
            want.push_back(entry(i));
          auto dd = diff(*xs, want);
          if (!dd.empty())
            fail("entries(" + std::to_string(start) + ", " + std::to_string(stop) + "): " + dd);
        }
        auto one = s.entries(start, seen + 1, 0);
        if (!one || one->size() != 1 || !diff(*one, {entry(start)}).empty())
          fail("entries(" + std::to_string(start) + ", last + 1, 0): " + describe(one));
        auto i = next(seen + 1);
        auto t = s.term_at(i);
        if (!t || *t != (i == 0 ? base.term : term_of(i)))
          fail("term_at(" + std::to_string(i) + "): " + describe(t));
        if (round % 50 == 0) {
          auto cs = s.entries_of_kind(entry_kind::config);
          if (!cs) {
            fail("entries_of_kind: " + describe(cs));
          } else {
            log_entries want;
            for (index_t j = 100; j <= 100 * cs->size(); j += 100)
              want.push_back(entry(j));
            auto dd = diff(*cs, want);
            if (!dd.empty() || (!cs->empty() && cs->back().index > s.last().index)
                || want.size() < seen / 100)
              fail("entries_of_kind: " + dd);
          }
        }
      }
      ++reads;
    }
  };
  std::thread r1{reader, 1};
  std::thread r2{reader, 2};
  index_t next = 1;
  // Readers that never pause can keep the writer waiting for its lock for long (about 10 ms a
  // batch where it takes 30 us alone, here), so the writer stops after a time rather than a
  // count, but not before the readers have had segment boundaries to cross.
  using clock = std::chrono::steady_clock;
  auto start = clock::now();
  auto busy = [&] {
    auto t = clock::now() - start;
    return t < std::chrono::milliseconds{1000}
           || (t < std::chrono::seconds{10} && segments(opts.dir, 1).size() < 3);
  };
  int batch = 0;
  for (; batch < 400 && failures.load() == 0 && busy(); ++batch) {
    log_entries xs;
    for (int k = 0; k <= batch % 5; ++k)
      xs.push_back(entry(next++));
    auto e = s.write(0, xs);
    if (e) {
      fail("write: " + describe(e));
      break;
    }
    // Let the readers see most batches; bounded, in case they are stuck.
    auto seen = reads.load();
    for (int spin = 0; spin < 100000 && reads.load() == seen && failures.load() == 0; ++spin)
      std::this_thread::yield();
  }
  done = true;
  r1.join();
  r2.join();
  BOOST_CHECK_MESSAGE(failures.load() == 0, failures.load() << " failures, the first: "
                                                            << first_failure);
  BOOST_TEST_MESSAGE(reads.load() << " concurrent reads of " << next - 1 << " entries in "
                                  << batch << " batches");
  BOOST_CHECK_GT(reads.load(), batch);
  BOOST_CHECK_GE(segments(opts.dir, 1).size(), 3u);
  log_entries model;
  for (index_t i = 1; i < next; ++i)
    model.push_back(entry(i));
  check_log(s, base, model);
}
