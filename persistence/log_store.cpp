// LMDB implementation of log_store: one environment with the sub-databases "meta", "log" and
// "config"; every write batch is one transaction, made durable by LMDB's commit before it returns.
#include "persistence/log_store.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <shared_mutex>
#include <system_error>

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <lmdb.h>

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include "messages/errc.hpp"
#include "persistence/persistence.hpp"

// Durability (sync on), as measured with `strace -f -e trace=fdatasync,fsync,msync,pwrite64`
// on LMDB 0.9.24 (see bench/bench_storage.cpp): mdb_txn_commit without MDB_NOSYNC writes the
// dirty pages with pwrite, calls fdatasync() once, and then writes the new meta page with one
// pwrite through a second descriptor opened with O_DSYNC. That is two ordered device flushes per
// commit, and both are needed: the data pages must be stable before the meta page that points to
// them, or a power failure can leave a meta page referring to garbage.
// The alternatives do not beat it safely:
//  * MDB_NOMETASYNC alone skips the O_DSYNC meta write; the meta page then becomes durable only
//    with the *next* commit's fdatasync, so the last acknowledged transaction could be lost on
//    power failure. Adding mdb_env_sync(env, 1) before acknowledging restores durability at the
//    cost of a second fdatasync: the same two flushes as the default, plus a syscall.
//  * MDB_NOSYNC + one mdb_env_sync after commit has one flush, but data and meta are then written
//    without ordering between them, so a power failure can persist the meta page without its data.
//  * MDB_NOMETASYNC with each batch acknowledged only after the *next* commit's fdatasync (or a
//    sync when nothing is queued) is durable with one flush per commit, but only while commits
//    queue behind each other. Under closed-loop load they do not (each round's writers wait for
//    that round): ~1.9 flushes per commit and no gain. Under open-loop load the median latency
//    rose, since batch N then waits for batch N+1's data pages (BENCHMARKS.md, session 6).
// Measured on our 2-vCPU VM (ext4, raw LMDB, 64-byte single-put commits, runs interleaved):
// default 1.8-9.4 ms/commit, NOMETASYNC + mdb_env_sync 2.2-6.7 ms/commit: the same within the
// (large, shared-disk) noise, as expected from the same two flushes. So "sync on" is LMDB's
// default commit (1 fdatasync + 1 O_DSYNC write, no extra syscall), and group commit in the
// persistence actor amortizes it over every write queued meanwhile.
// "sync off" opens the env with MDB_NOSYNC|MDB_NOMETASYNC: UNSAFE. A process crash loses nothing
// (the page cache survives), but an OS crash or power failure may lose acknowledged writes.

namespace raft {

// -- membership payloads --------------------------------------------------------------------

namespace {

template <class T>
std::string serialize(const T& x) {
  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  auto tmp = x;  // inspect() takes a mutable reference
  if (auto err = sink(tmp))
    throw std::logic_error("binary_serializer failed on a plain struct");  // cannot happen
  return std::string{buf.begin(), buf.end()};
}

template <class T>
bool deserialize(const char* data, size_t size, T& x) {
  caf::binary_deserializer src{nullptr, data, size};
  if (auto err = src(x))
    return false;
  return src.remaining() == 0;
}

} // namespace

std::string encode_membership(const membership& x) {
  return serialize(x);
}

caf::expected<membership> decode_membership(const std::string& bytes) {
  membership result;
  if (!deserialize(bytes.data(), bytes.size(), result))
    return make_error(errc::invalid_argument, "payload is not an encoded membership");
  return result;
}

// -- write_batch ----------------------------------------------------------------------------

void write_batch::save_hard_state(const hard_state& x) {
  op o{op_kind::hard_state, x, {}, 0, {}};
  ops_.push_back(std::move(o));
}

void write_batch::append(log_entries xs) {
  append(std::make_shared<const log_entries>(std::move(xs)));
}

void write_batch::append(std::shared_ptr<const log_entries> xs) {
  op o{op_kind::append, {}, std::move(xs), 0, {}};
  ops_.push_back(std::move(o));
}

void write_batch::truncate(index_t from) {
  op o{op_kind::truncate, {}, {}, from, {}};
  ops_.push_back(std::move(o));
}

void write_batch::set_commit(index_t x) {
  op o{op_kind::commit, {}, {}, x, {}};
  ops_.push_back(std::move(o));
}

void write_batch::purge(const snapshot_meta& x) {
  purge(x, x.last.index);
}

void write_batch::purge(const snapshot_meta& x, index_t upto) {
  op o{op_kind::purge, {}, {}, upto, x};
  ops_.push_back(std::move(o));
}

// -- encoding helpers -----------------------------------------------------------------------

namespace {

constexpr size_t entry_header = 9;  // term (8 bytes LE) + kind (1 byte), then the raw payload

// Log keys are big-endian so LMDB's default memcmp order is index order and appends hit the
// right-most leaf (MDB_APPEND skips the search and fills pages completely).
struct key_buf {
  unsigned char bytes[8];
  explicit key_buf(index_t x) {
    for (int i = 7; i >= 0; --i) {
      bytes[i] = static_cast<unsigned char>(x & 0xff);
      x >>= 8;
    }
  }
  MDB_val val() { return MDB_val{sizeof(bytes), bytes}; }
};

index_t decode_key(const MDB_val& v) {
  index_t x = 0;
  auto p = static_cast<const unsigned char*>(v.mv_data);
  for (size_t i = 0; i < 8; ++i)
    x = (x << 8) | p[i];
  return x;
}

void put_u64_le(char* p, uint64_t x) {
  for (int i = 0; i < 8; ++i) {
    p[i] = static_cast<char>(x & 0xff);
    x >>= 8;
  }
}

uint64_t get_u64_le(const char* p) {
  uint64_t x = 0;
  for (int i = 7; i >= 0; --i)
    x = (x << 8) | static_cast<unsigned char>(p[i]);
  return x;
}

std::string u64_value(uint64_t x) {
  std::string s(8, '\0');
  put_u64_le(s.data(), x);
  return s;
}

MDB_val sval(const std::string& s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}

MDB_val cval(const char* s) {
  return MDB_val{std::strlen(s), const_cast<char*>(s)};
}

// Meta keys.
constexpr const char* k_version = "version";
constexpr const char* k_node_id = "node_id";
constexpr const char* k_cluster_id = "cluster_id";
constexpr const char* k_bootstrap = "bootstrap";
constexpr const char* k_hard_state = "hard_state";
constexpr const char* k_commit = "commit";
constexpr const char* k_snapshot = "snapshot";
constexpr const char* k_first_index = "first_index";
constexpr const char* k_log_base = "log_base";  // id of the entry before first_index

std::string lmdb_what(int rc) {
  return mdb_strerror(rc);  // also covers plain errno values
}

// Maps an LMDB/errno failure to a raft error. MDB_MAP_FULL never gets here (the map grows).
caf::error lmdb_error(int rc, const std::string& dir, const char* what) {
  auto msg = dir + ": " + what + ": " + lmdb_what(rc);
  switch (rc) {
    case ENOSPC:
    case EDQUOT:
    case EFBIG:  // the file size limit (ulimit -f): no room for this file either
      return make_error(errc::disk_full, msg);
    case MDB_INVALID:
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_VERSION_MISMATCH:
    case MDB_INCOMPATIBLE:
      return make_error(errc::storage_corrupt, msg);
    default:
      return make_error(errc::storage_io, msg);
  }
}

caf::error corrupt(const std::string& dir, const std::string& what) {
  return make_error(errc::storage_corrupt, dir + ": " + what);
}

struct txn_ptr {
  MDB_txn* txn = nullptr;
  txn_ptr() = default;
  txn_ptr(const txn_ptr&) = delete;
  txn_ptr& operator=(const txn_ptr&) = delete;
  ~txn_ptr() {
    if (txn)
      mdb_txn_abort(txn);
  }
  int commit() {
    auto rc = mdb_txn_commit(txn);
    txn = nullptr;  // freed by LMDB on success and failure
    return rc;
  }
  void abort() {
    if (txn)
      mdb_txn_abort(txn);
    txn = nullptr;
  }
};

struct cursor_ptr {
  MDB_cursor* cur = nullptr;
  cursor_ptr() = default;
  cursor_ptr(const cursor_ptr&) = delete;
  cursor_ptr& operator=(const cursor_ptr&) = delete;
  ~cursor_ptr() {
    if (cur)
      mdb_cursor_close(cur);
  }
};

// The committed (or, inside a batch, the in-progress) state the write path validates against.
struct view {
  index_t first = 1;
  log_id base;  // the entry just before `first`: a purged one, or the snapshot's last
  log_id last;
  index_t commit = 0;
  snapshot_meta snap;
  hard_state hard;
};

// A logical refusal of one operation vs. an LMDB failure of the whole transaction.
struct step {
  int rc = 0;
  caf::error refused;
};

} // namespace

// -- impl -----------------------------------------------------------------------------------

struct log_store::impl {
  std::string dir;
  bool sync = true;
  uint64_t max_read_bytes = 0;
  MDB_env* env = nullptr;
  MDB_dbi meta = 0;
  MDB_dbi log = 0;
  MDB_dbi config = 0;
  int lock_fd = -1;
  node_id id = no_node;
  std::string cluster_id;
  membership bootstrap;
  view cache;  // committed state; touched by the writer only
  // mdb_env_set_mapsize requires that no transaction is active in the process: readers hold this
  // shared while their transaction lives, the writer takes it exclusively to grow the map.
  mutable std::shared_mutex resize_mtx;
  std::atomic<uint64_t> txns{0};
  std::atomic<uint64_t> syncs{0};
  std::atomic<uint64_t> entries{0};
  std::atomic<uint64_t> bytes{0};

  ~impl() {
    if (env)
      mdb_env_close(env);
    if (lock_fd >= 0)
      ::close(lock_fd);
  }

  // -- low-level reads inside any transaction --

  int get_meta(MDB_txn* txn, const char* key, MDB_val& out) const {
    auto k = cval(key);
    return mdb_get(txn, meta, &k, &out);
  }

  int get_meta_u64(MDB_txn* txn, const char* key, uint64_t& out) const {
    MDB_val v;
    auto rc = get_meta(txn, key, v);
    if (rc != 0)
      return rc;
    if (v.mv_size != 8)
      return MDB_CORRUPTED;
    out = get_u64_le(static_cast<const char*>(v.mv_data));
    return 0;
  }

  template <class T>
  int get_meta_obj(MDB_txn* txn, const char* key, T& out) const {
    MDB_val v;
    auto rc = get_meta(txn, key, v);
    if (rc != 0)
      return rc;
    if (!deserialize(static_cast<const char*>(v.mv_data), v.mv_size, out))
      return MDB_CORRUPTED;
    return 0;
  }

  // Reads the committed view (the writer's cache is not safe to use from other threads).
  int read_view(MDB_txn* txn, view& v) const {
    int rc;
    if ((rc = get_meta_u64(txn, k_first_index, v.first)) != 0
        || (rc = get_meta_u64(txn, k_commit, v.commit)) != 0
        || (rc = get_meta_obj(txn, k_snapshot, v.snap)) != 0
        || (rc = get_meta_obj(txn, k_hard_state, v.hard)) != 0)
      return rc;
    // Stores written before partial purges existed have no base: it was the snapshot's last.
    rc = get_meta_obj(txn, k_log_base, v.base);
    if (rc == MDB_NOTFOUND)
      v.base = v.snap.last;
    else if (rc != 0)
      return rc;
    cursor_ptr c;
    if ((rc = mdb_cursor_open(txn, log, &c.cur)) != 0)
      return rc;
    MDB_val k, d;
    rc = mdb_cursor_get(c.cur, &k, &d, MDB_LAST);
    if (rc == MDB_NOTFOUND) {
      v.last = v.base;
      return 0;
    }
    if (rc != 0)
      return rc;
    if (k.mv_size != 8 || d.mv_size < entry_header)
      return MDB_CORRUPTED;
    v.last = log_id{get_u64_le(static_cast<const char*>(d.mv_data)), decode_key(k)};
    return 0;
  }

  // Term of a log entry that must be in the log db.
  int log_term(MDB_txn* txn, index_t idx, term_t& out) const {
    key_buf kb{idx};
    auto k = kb.val();
    MDB_val d;
    auto rc = mdb_get(txn, log, &k, &d);
    if (rc == MDB_NOTFOUND)
      return MDB_CORRUPTED;  // callers only ask for indexes within [first, last]
    if (rc != 0)
      return rc;
    if (d.mv_size < entry_header)
      return MDB_CORRUPTED;
    out = get_u64_le(static_cast<const char*>(d.mv_data));
    return 0;
  }

  // Term at `idx` given a view; `found` is false outside [snapshot index, last index].
  int term_in_view(MDB_txn* txn, const view& v, index_t idx, term_t& out, bool& found) const {
    found = true;
    if (idx == 0) {
      out = 0;
      return 0;
    }
    if (idx == v.snap.last.index) {
      out = v.snap.last.term;
      return 0;
    }
    if (idx == v.base.index) {
      out = v.base.term;
      return 0;
    }
    if (idx < v.first || idx > v.last.index) {
      found = false;
      return 0;
    }
    return log_term(txn, idx, out);
  }

  int begin_read(MDB_txn** txn) const {
    return mdb_txn_begin(env, nullptr, MDB_RDONLY, txn);
  }

  // -- write path --

  // Deletes keys >= from (ascending big-endian keys) from `dbi`.
  int delete_from(MDB_txn* txn, MDB_dbi dbi, index_t from) {
    cursor_ptr c;
    int rc = mdb_cursor_open(txn, dbi, &c.cur);
    if (rc != 0)
      return rc;
    MDB_val k, d;
    while ((rc = mdb_cursor_get(c.cur, &k, &d, MDB_LAST)) == 0) {
      if (decode_key(k) < from)
        return 0;
      if ((rc = mdb_cursor_del(c.cur, 0)) != 0)
        return rc;
    }
    return rc == MDB_NOTFOUND ? 0 : rc;
  }

  // Deletes keys <= upto from `dbi`.
  int delete_upto(MDB_txn* txn, MDB_dbi dbi, index_t upto) {
    cursor_ptr c;
    int rc = mdb_cursor_open(txn, dbi, &c.cur);
    if (rc != 0)
      return rc;
    MDB_val k, d;
    while ((rc = mdb_cursor_get(c.cur, &k, &d, MDB_FIRST)) == 0) {
      if (decode_key(k) > upto)
        return 0;
      if ((rc = mdb_cursor_del(c.cur, 0)) != 0)
        return rc;
    }
    return rc == MDB_NOTFOUND ? 0 : rc;
  }

  step apply_append(MDB_txn* txn, view& v, const log_entries& xs, op_result& res,
                    uint64_t& n_entries, uint64_t& n_bytes) {
    res.last = v.last;
    if (xs.empty())
      return {};
    // Validate everything before touching the database: a refused operation has no effect.
    if (xs.front().index == 0)
      return {0, make_error(errc::invalid_argument, "append: index 0 is not a log index")};
    for (size_t k = 0; k < xs.size(); ++k) {
      auto& x = xs[k];
      if (static_cast<uint8_t>(x.kind) > static_cast<uint8_t>(entry_kind::config))
        return {0, make_error(errc::invalid_argument, "append: unknown entry kind", x.index)};
      if (k > 0 && x.index != xs[k - 1].index + 1)
        return {0, make_error(errc::log_conflict, "append: entries are not contiguous",
                              xs[k - 1].index, x.index)};
      if (k > 0 && x.term < xs[k - 1].term)
        return {0, make_error(errc::invalid_argument, "append: terms decrease", x.index)};
      if (x.kind == entry_kind::config && !decode_membership(x.payload))
        return {0, make_error(errc::invalid_argument,
                              "append: config entry payload is not an encoded membership",
                              x.index)};
    }
    auto f = xs.front().index;
    if (f > v.last.index + 1)
      return {0, make_error(errc::log_conflict, "append: non-contiguous, first index after last",
                            f, v.last.index)};
    // Entries the log already has are skipped (same index and term means same entry by the Log
    // Matching Property); only a real conflict truncates. Truncating on a retransmitted, stale
    // append would drop entries this node may already have acknowledged to a leader.
    size_t i = 0;
    for (; i < xs.size() && xs[i].index < v.first; ++i) {
      if (xs[i].index == v.snap.last.index && xs[i].term != v.snap.last.term)
        return {0, make_error(errc::log_conflict, "append: entry conflicts with the snapshot",
                              xs[i].index, xs[i].term, v.snap.last.term)};
    }
    for (; i < xs.size() && xs[i].index <= v.last.index; ++i) {
      term_t t = 0;
      if (auto rc = log_term(txn, xs[i].index, t))
        return {rc, {}};
      if (t != xs[i].term)
        break;
    }
    if (i == xs.size())
      return {};
    auto c = xs[i].index;
    term_t prev = 0;
    bool found = false;
    if (auto rc = term_in_view(txn, v, c - 1, prev, found))
      return {rc, {}};
    if (i > 0)
      prev = xs[i - 1].term;
    if (xs[i].term < prev)
      return {0, make_error(errc::log_conflict, "append: term below the preceding entry's term",
                            c, xs[i].term, prev)};
    if (c <= v.last.index) {
      if (c <= v.commit)
        return {0, make_error(errc::log_conflict, "append: would truncate at or below commit index",
                              c, v.commit)};
      if (auto rc = delete_from(txn, log, c))
        return {rc, {}};
      if (auto rc = delete_from(txn, config, c))
        return {rc, {}};
    }
    std::string buf;
    for (; i < xs.size(); ++i) {
      auto& x = xs[i];
      buf.resize(entry_header + x.payload.size());
      put_u64_le(buf.data(), x.term);
      buf[8] = static_cast<char>(x.kind);
      if (!x.payload.empty())
        std::memcpy(buf.data() + entry_header, x.payload.data(), x.payload.size());
      key_buf kb{x.index};
      auto k = kb.val();
      auto d = sval(buf);
      if (auto rc = mdb_put(txn, log, &k, &d, MDB_APPEND))
        return {rc, {}};
      if (x.kind == entry_kind::config) {
        auto cd = sval(x.payload);
        if (auto rc = mdb_put(txn, config, &k, &cd, MDB_APPEND))
          return {rc, {}};
      }
      ++n_entries;
      n_bytes += buf.size();
    }
    v.last = xs.back().id();
    res.last = v.last;
    return {};
  }

  step apply_truncate(MDB_txn* txn, view& v, index_t from, op_result& res) {
    res.last = v.last;
    if (from == 0)
      return {0, make_error(errc::invalid_argument, "truncate: index 0 is not a log index")};
    if (from > v.last.index)
      return {};
    if (from <= v.commit || from < v.first)
      return {0, make_error(errc::log_conflict, "truncate: at or below commit index", from,
                            v.commit)};
    term_t prev = 0;
    bool found = false;
    if (auto rc = term_in_view(txn, v, from - 1, prev, found))
      return {rc, {}};
    if (auto rc = delete_from(txn, log, from))
      return {rc, {}};
    if (auto rc = delete_from(txn, config, from))
      return {rc, {}};
    v.last = log_id{prev, from - 1};
    res.last = v.last;
    return {};
  }

  step apply_purge(MDB_txn* txn, view& v, const snapshot_meta& m, index_t upto,
                   op_result& res) {
    res.first_index = v.first;
    if (m.last.index == 0)
      return {0, make_error(errc::invalid_argument, "purge: snapshot at index 0")};
    if (m.last.index < v.snap.last.index)
      return {};  // an older snapshot than the one recorded: nothing to do
    term_t t = 0;
    bool found = false;
    if (auto rc = term_in_view(txn, v, m.last.index, t, found))
      return {rc, {}};
    if (found && t == m.last.term) {
      // Entries up to `upto` go; those between it and the snapshot stay for lagging followers.
      upto = std::min(upto, m.last.index);
      if (upto > v.base.index) {
        term_t base_term = 0;
        if (auto rc = term_in_view(txn, v, upto, base_term, found))
          return {rc, {}};
        if (auto rc = delete_upto(txn, log, upto))
          return {rc, {}};
        if (auto rc = delete_upto(txn, config, upto))
          return {rc, {}};
        v.base = log_id{base_term, upto};
        v.first = upto + 1;
        if (v.last.index == upto)
          v.last = v.base;
      }
    } else {
      // Raft's InstallSnapshot rule: a log that does not contain the snapshot's last entry is
      // discarded entirely.
      if (auto rc = mdb_drop(txn, log, 0))
        return {rc, {}};
      if (auto rc = mdb_drop(txn, config, 0))
        return {rc, {}};
      v.last = m.last;
      v.base = m.last;
      v.first = m.last.index + 1;
    }
    v.snap = m;
    // A snapshot only covers committed entries; this also keeps truncation above it refused.
    v.commit = std::max(v.commit, m.last.index);
    res.first_index = v.first;
    return {};
  }

  int write_view(MDB_txn* txn, const view& old, const view& v) {
    auto put = [&](const char* key, const std::string& val) {
      auto k = cval(key);
      auto d = sval(val);
      return mdb_put(txn, meta, &k, &d, 0);
    };
    int rc = 0;
    if (v.hard != old.hard && (rc = put(k_hard_state, serialize(v.hard))) != 0)
      return rc;
    if (v.commit != old.commit && (rc = put(k_commit, u64_value(v.commit))) != 0)
      return rc;
    if (!(v.snap == old.snap) && (rc = put(k_snapshot, serialize(v.snap))) != 0)
      return rc;
    if (v.first != old.first && (rc = put(k_first_index, u64_value(v.first))) != 0)
      return rc;
    if (v.base != old.base && (rc = put(k_log_base, serialize(v.base))) != 0)
      return rc;
    return 0;
  }

  // Doubles the map. Called with no write transaction; waits for readers to finish.
  caf::error grow() {
    std::unique_lock<std::shared_mutex> guard{resize_mtx};
    MDB_envinfo info;
    mdb_env_info(env, &info);
    auto next = std::max<uint64_t>(info.me_mapsize * 2, uint64_t{1} << 20);
    if (auto rc = mdb_env_set_mapsize(env, next))
      return lmdb_error(rc, dir, "growing the LMDB map");
    return caf::none;
  }
};

// -- open -----------------------------------------------------------------------------------

namespace {

caf::error io_error(const std::string& path, const std::string& what, int err) {
  return make_error(errc::storage_io, path + ": " + what + ": " + std::strerror(err));
}

// Creates `dir` and its parents as needed.
caf::error make_dirs(const std::string& dir) {
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    cur = dir.substr(0, pos);
    if (cur.empty())
      continue;
    struct stat st;
    if (::stat(cur.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode))
        return io_error(cur, "not a directory", ENOTDIR);
      continue;
    }
    if (errno != ENOENT)
      return io_error(cur, "stat", errno);
    if (::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST)
      return io_error(cur, "mkdir", errno);
  }
  return caf::none;
}

// A directory without data.mdb must hold nothing but our own files: refusing a non-empty
// directory protects users who point the node at the wrong path.
caf::error check_contents(const std::string& dir, bool& has_data) {
  has_data = false;
  DIR* d = ::opendir(dir.c_str());
  if (!d)
    return io_error(dir, "opendir", errno);
  std::string stray;
  while (auto e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..")
      continue;
    if (name == "data.mdb")
      has_data = true;
    else if (name != "lock.mdb" && name != "raft.lock" && stray.empty())
      stray = name;
  }
  ::closedir(d);
  if (!has_data && !stray.empty())
    return corrupt(dir, "not a caf-raft data directory (unexpected file '" + stray + "')");
  return caf::none;
}

void sync_dir(const std::string& dir) {
  // The new data.mdb must survive a power failure, which requires its directory entry on disk.
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

} // namespace

caf::expected<log_store> log_store::open(const storage_options& opts) {
  if (opts.dir.empty())
    return make_error(errc::invalid_argument, "storage: empty data directory path");
  if (opts.id == no_node)
    return make_error(errc::invalid_argument, "storage: node id 0 is reserved");
  auto p = std::make_unique<impl>();
  p->dir = opts.dir;
  p->sync = opts.sync;
  p->max_read_bytes = opts.max_read_bytes;
  auto& dir = p->dir;
  if (auto err = make_dirs(dir))
    return err;
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0)
    return io_error(dir, "stat", errno);
  if (!S_ISDIR(st.st_mode))
    return io_error(dir, "not a directory", ENOTDIR);
  bool has_data = false;
  if (auto err = check_contents(dir, has_data))
    return err;
  // One process per directory: LMDB itself would happily let two nodes share (and corrupt)
  // one Raft log. The lock dies with the process, so a crashed node can restart at once.
  auto lock_path = dir + "/raft.lock";
  p->lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (p->lock_fd < 0)
    return io_error(lock_path, "open", errno);
  if (::flock(p->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    auto err = errno;
    if (err == EWOULDBLOCK)
      return make_error(errc::storage_io, dir + ": in use by another process or store");
    return io_error(lock_path, "flock", err);
  }
  int rc;
  if ((rc = mdb_env_create(&p->env)) != 0)
    return lmdb_error(rc, dir, "mdb_env_create");
  if ((rc = mdb_env_set_maxdbs(p->env, 4)) != 0
      || (rc = mdb_env_set_mapsize(p->env, std::max<uint64_t>(opts.initial_map_bytes, 1 << 16)))
           != 0)
    return lmdb_error(rc, dir, "configuring LMDB");
  // MDB_NOTLS: read transactions are not tied to threads (the actor may migrate between
  // scheduler threads, and readers on other threads use their own slots).
  unsigned flags = MDB_NOTLS;
  if (!opts.sync)
    flags |= MDB_NOSYNC | MDB_NOMETASYNC;  // UNSAFE, see top of file
  if ((rc = mdb_env_open(p->env, dir.c_str(), flags, 0644)) != 0) {
    // mdb_env_open leaves the handle needing mdb_env_close, done by ~impl.
    return lmdb_error(rc, dir, "opening the LMDB environment");
  }
  int dead = 0;
  mdb_reader_check(p->env, &dead);  // free reader slots of crashed processes
  txn_ptr txn;
  if ((rc = mdb_txn_begin(p->env, nullptr, 0, &txn.txn)) != 0)
    return lmdb_error(rc, dir, "mdb_txn_begin");
  rc = mdb_dbi_open(txn.txn, "meta", 0, &p->meta);
  bool fresh = false;
  if (rc == MDB_NOTFOUND) {
    // Either brand new (empty main db; also an earlier first start that crashed before its
    // initializing transaction committed) or someone else's LMDB environment.
    MDB_dbi main_db;
    MDB_stat ms;
    if ((rc = mdb_dbi_open(txn.txn, nullptr, 0, &main_db)) != 0
        || (rc = mdb_stat(txn.txn, main_db, &ms)) != 0)
      return lmdb_error(rc, dir, "reading the LMDB main database");
    if (ms.ms_entries != 0)
      return corrupt(dir, "LMDB environment without caf-raft metadata");
    fresh = true;
    rc = mdb_dbi_open(txn.txn, "meta", MDB_CREATE, &p->meta);
  }
  if (rc != 0)
    return lmdb_error(rc, dir, "opening database 'meta'");
  unsigned sub_flags = fresh ? MDB_CREATE : 0;
  if ((rc = mdb_dbi_open(txn.txn, "log", sub_flags, &p->log)) != 0
      || (rc = mdb_dbi_open(txn.txn, "config", sub_flags, &p->config)) != 0) {
    if (rc == MDB_NOTFOUND)
      return corrupt(dir, "missing database 'log' or 'config'");
    return lmdb_error(rc, dir, "opening databases 'log' and 'config'");
  }
  auto put = [&](const char* key, const std::string& val) {
    auto k = cval(key);
    auto d = sval(val);
    return mdb_put(txn.txn, p->meta, &k, &d, 0);
  };
  if (fresh) {
    view v;
    if ((rc = put(k_version, u64_value(format_version))) != 0
        || (rc = put(k_node_id, u64_value(opts.id))) != 0
        || (rc = put(k_cluster_id, opts.cluster_id)) != 0
        || (rc = put(k_bootstrap, serialize(opts.bootstrap))) != 0
        || (rc = put(k_hard_state, serialize(v.hard))) != 0
        || (rc = put(k_commit, u64_value(v.commit))) != 0
        || (rc = put(k_snapshot, serialize(v.snap))) != 0
        || (rc = put(k_first_index, u64_value(v.first))) != 0
        || (rc = put(k_log_base, serialize(v.base))) != 0)
      return lmdb_error(rc, dir, "initializing the store");
    if ((rc = txn.commit()) != 0)
      return lmdb_error(rc, dir, "committing the initial state");
    sync_dir(dir);
    p->id = opts.id;
    p->cluster_id = opts.cluster_id;
    p->bootstrap = opts.bootstrap;
    p->cache = v;
    return log_store{std::move(p)};
  }
  uint64_t version = 0;
  if ((rc = p->get_meta_u64(txn.txn, k_version, version)) != 0)
    return rc == MDB_NOTFOUND ? corrupt(dir, "no format version")
                              : lmdb_error(rc, dir, "reading the format version");
  if (version != format_version)
    return corrupt(dir, "unsupported format version " + std::to_string(version) + " (expected "
                          + std::to_string(format_version) + ")");
  uint64_t stored_id = 0;
  MDB_val cid;
  if ((rc = p->get_meta_u64(txn.txn, k_node_id, stored_id)) != 0
      || (rc = p->get_meta(txn.txn, k_cluster_id, cid)) != 0
      || (rc = p->get_meta_obj(txn.txn, k_bootstrap, p->bootstrap)) != 0
      || (rc = p->read_view(txn.txn, p->cache)) != 0)
    return rc == MDB_NOTFOUND ? corrupt(dir, "incomplete metadata")
                              : lmdb_error(rc, dir, "reading the metadata");
  std::string stored_cluster{static_cast<const char*>(cid.mv_data), cid.mv_size};
  if (stored_id != opts.id || stored_cluster != opts.cluster_id)
    return make_error(errc::foreign_data_dir,
                      dir + ": belongs to node " + std::to_string(stored_id) + " of cluster '"
                        + stored_cluster + "', not node " + std::to_string(opts.id)
                        + " of cluster '" + opts.cluster_id + "'");
  auto& c = p->cache;
  if (c.first != c.base.index + 1 || c.base.index > c.snap.last.index
      || c.last.index + 1 < c.first || c.last.index < c.snap.last.index)
    return corrupt(dir, "first index " + std::to_string(c.first) + " inconsistent with snapshot "
                          + std::to_string(c.snap.last.index) + " / last index "
                          + std::to_string(c.last.index));
  if (c.last.index >= c.first) {
    term_t t = 0;
    if ((rc = p->log_term(txn.txn, c.first, t)) != 0)
      return lmdb_error(rc, dir, "log does not start at the first index");
  }
  if ((rc = txn.commit()) != 0)  // makes the dbi handles usable by other transactions
    return lmdb_error(rc, dir, "mdb_txn_commit");
  p->id = opts.id;
  p->cluster_id = opts.cluster_id;
  return log_store{std::move(p)};
}

log_store::log_store(std::unique_ptr<impl> ptr) : impl_(std::move(ptr)) {
  // nop
}

log_store::log_store(log_store&&) noexcept = default;
log_store& log_store::operator=(log_store&&) noexcept = default;
log_store::~log_store() = default;

// -- writes ---------------------------------------------------------------------------------

caf::expected<std::vector<op_result>> log_store::commit(const write_batch& batch) {
  auto& d = *impl_;
  // Each retry doubles the map; 40 doublings of even 64 KiB exceed any address space.
  for (int attempt = 0; attempt < 40; ++attempt) {
    txn_ptr txn;
    int rc = mdb_txn_begin(d.env, nullptr, 0, &txn.txn);
    if (rc != 0)
      return lmdb_error(rc, d.dir, "mdb_txn_begin");
    view v = d.cache;
    std::vector<op_result> results(batch.size());
    uint64_t n_entries = 0;
    uint64_t n_bytes = 0;
    for (size_t i = 0; i < batch.size() && rc == 0; ++i) {
      auto& o = batch.ops()[i];
      auto& res = results[i];
      step s;
      switch (o.kind) {
        case write_batch::op_kind::hard_state:
          v.hard = o.hard;
          res.hard = o.hard;
          break;
        case write_batch::op_kind::append:
          s = d.apply_append(txn.txn, v, *o.entries, res, n_entries, n_bytes);
          break;
        case write_batch::op_kind::truncate:
          s = d.apply_truncate(txn.txn, v, o.index, res);
          break;
        case write_batch::op_kind::commit:
          v.commit = std::max(v.commit, o.index);
          break;
        case write_batch::op_kind::purge:
          s = d.apply_purge(txn.txn, v, o.snapshot, o.index, res);
          break;
      }
      rc = s.rc;
      res.error = std::move(s.refused);
    }
    if (rc == 0)
      rc = d.write_view(txn.txn, d.cache, v);
    if (rc == 0)
      rc = txn.commit();
    else
      txn.abort();
    if (rc == MDB_MAP_FULL) {
      if (auto err = d.grow())
        return err;
      continue;
    }
    if (rc != 0)
      return lmdb_error(rc, d.dir, "committing a write batch");
    d.cache = v;
    d.txns.fetch_add(1, std::memory_order_relaxed);
    if (d.sync)
      d.syncs.fetch_add(1, std::memory_order_relaxed);
    d.entries.fetch_add(n_entries, std::memory_order_relaxed);
    d.bytes.fetch_add(n_bytes, std::memory_order_relaxed);
    return results;
  }
  return make_error(errc::disk_full, d.dir + ": LMDB map cannot grow large enough");
}

// -- reads ----------------------------------------------------------------------------------

namespace {

// A read transaction plus the shared lock that keeps the map from being resized under it.
struct reader {
  std::shared_lock<std::shared_mutex> guard;
  txn_ptr txn;
  int rc;
  explicit reader(const log_store::impl& d) : guard(d.resize_mtx) {
    rc = d.begin_read(&txn.txn);
  }
};

} // namespace

caf::expected<stored_state> log_store::load() const {
  auto& d = *impl_;
  reader r{d};
  if (r.rc != 0)
    return lmdb_error(r.rc, d.dir, "mdb_txn_begin");
  auto* txn = r.txn.txn;
  view v;
  if (auto rc = d.read_view(txn, v))
    return lmdb_error(rc, d.dir, "reading the metadata");
  stored_state st;
  st.id = d.id;
  st.cluster_id = d.cluster_id;
  st.hard = v.hard;
  st.first_index = v.first;
  st.log_base = v.base;
  st.last = v.last;
  st.commit = v.commit;
  st.snapshot = v.snap;
  // Configurations: every config entry of the log (the config db mirrors exactly the config
  // entries in the log); before them the snapshot's configuration, else the bootstrap one. The
  // node needs them all to revert correctly when a truncation removes the newest.
  st.base_config = v.snap.last.index > 0 ? v.snap.config : d.bootstrap;
  cursor_ptr c;
  if (auto rc = mdb_cursor_open(txn, d.config, &c.cur))
    return lmdb_error(rc, d.dir, "mdb_cursor_open");
  MDB_val k, val;
  int rc = mdb_cursor_get(c.cur, &k, &val, MDB_FIRST);
  for (; rc == 0; rc = mdb_cursor_get(c.cur, &k, &val, MDB_NEXT)) {
    auto idx = decode_key(k);
    if (idx <= v.snap.last.index)
      continue;  // committed and folded into the snapshot's configuration
    term_t t = 0;
    if (auto rc2 = d.log_term(txn, idx, t))
      return lmdb_error(rc2, d.dir, "config entry without log entry");
    std::string bytes{static_cast<const char*>(val.mv_data), val.mv_size};
    auto cfg = decode_membership(bytes);
    if (!cfg)
      return corrupt(d.dir, "undecodable config entry at index " + std::to_string(idx));
    st.configs.push_back(config_record{log_id{t, idx}, std::move(*cfg)});
  }
  if (rc != MDB_NOTFOUND)
    return lmdb_error(rc, d.dir, "reading the config database");
  if (!st.configs.empty()) {
    st.config = st.configs.back().config;
    st.config_id = st.configs.back().id;
  } else {
    st.config = st.base_config;
    st.config_id = v.snap.last;
  }
  // Terms never decrease along the log, so each term's first index is found by binary search:
  // O(terms * log(entries)) lookups instead of a scan over the whole log.
  if (v.last.index >= v.first) {
    index_t idx = v.first;
    for (;;) {
      term_t t = 0;
      if (auto rc2 = d.log_term(txn, idx, t))
        return lmdb_error(rc2, d.dir, "reading a log term");
      st.term_starts.push_back(log_id{t, idx});
      if (t >= v.last.term)
        break;
      // Smallest j in (idx, last] with term(j) > t; term(last) > t guarantees one exists.
      index_t lo = idx + 1;
      index_t hi = v.last.index;
      while (lo < hi) {
        auto mid = lo + (hi - lo) / 2;
        term_t tm = 0;
        if (auto rc2 = d.log_term(txn, mid, tm))
          return lmdb_error(rc2, d.dir, "reading a log term");
        if (tm > t)
          hi = mid;
        else
          lo = mid + 1;
      }
      idx = lo;
    }
  }
  return st;
}

caf::expected<log_entries> log_store::entries(index_t start, index_t stop,
                                              uint64_t max_bytes) const {
  auto& d = *impl_;
  if (start == 0)
    return make_error(errc::invalid_argument, "read: index 0 is not a log index");
  reader r{d};
  if (r.rc != 0)
    return lmdb_error(r.rc, d.dir, "mdb_txn_begin");
  auto* txn = r.txn.txn;
  uint64_t first = 0;
  if (auto rc = d.get_meta_u64(txn, k_first_index, first))
    return lmdb_error(rc, d.dir, "reading the first index");
  if (start < first)
    return make_error(errc::snapshot_needed, "read: entries were compacted", start, first);
  log_entries out;
  if (start >= stop)
    return out;
  auto budget = std::min(max_bytes, d.max_read_bytes);
  cursor_ptr c;
  if (auto rc = mdb_cursor_open(txn, d.log, &c.cur))
    return lmdb_error(rc, d.dir, "mdb_cursor_open");
  key_buf kb{start};
  MDB_val k = kb.val();
  MDB_val val;
  uint64_t used = 0;
  auto op = MDB_SET_RANGE;
  int rc;
  while ((rc = mdb_cursor_get(c.cur, &k, &val, op)) == 0) {
    op = MDB_NEXT;
    auto idx = decode_key(k);
    if (idx >= stop)
      break;
    if (idx != start + out.size())
      return corrupt(d.dir, "gap in the log at index " + std::to_string(start + out.size()));
    if (val.mv_size < entry_header)
      return corrupt(d.dir, "torn log entry at index " + std::to_string(idx));
    auto p = static_cast<const char*>(val.mv_data);
    auto kind = static_cast<uint8_t>(p[8]);
    if (kind > static_cast<uint8_t>(entry_kind::config))
      return corrupt(d.dir, "bad entry kind at index " + std::to_string(idx));
    auto size = val.mv_size - entry_header + 24;  // == entry_bytes() of the decoded entry
    if (!out.empty() && used + size > budget)
      break;
    used += size;
    log_entry e;
    e.index = idx;
    e.term = get_u64_le(p);
    e.kind = static_cast<entry_kind>(kind);
    e.payload.assign(p + entry_header, val.mv_size - entry_header);
    out.push_back(std::move(e));
  }
  if (rc != 0 && rc != MDB_NOTFOUND)
    return lmdb_error(rc, d.dir, "reading the log");
  return out;
}

caf::expected<term_t> log_store::term_at(index_t index) const {
  auto& d = *impl_;
  reader r{d};
  if (r.rc != 0)
    return lmdb_error(r.rc, d.dir, "mdb_txn_begin");
  view v;
  if (auto rc = d.read_view(r.txn.txn, v))
    return lmdb_error(rc, d.dir, "reading the metadata");
  if (index > v.last.index)
    return make_error(errc::invalid_argument, "term_at: index beyond the last index", index,
                      v.last.index);
  if (index < v.base.index && index != v.snap.last.index)
    return make_error(errc::snapshot_needed, "term_at: entry was compacted", index, v.first);
  term_t t = 0;
  bool found = false;
  if (auto rc = d.term_in_view(r.txn.txn, v, index, t, found))
    return lmdb_error(rc, d.dir, "reading a log term");
  return t;
}

caf::expected<log_id> log_store::last_log_id() const {
  auto& d = *impl_;
  reader r{d};
  if (r.rc != 0)
    return lmdb_error(r.rc, d.dir, "mdb_txn_begin");
  view v;
  if (auto rc = d.read_view(r.txn.txn, v))
    return lmdb_error(rc, d.dir, "reading the metadata");
  return v.last;
}

caf::expected<index_t> log_store::first_index() const {
  auto& d = *impl_;
  reader r{d};
  if (r.rc != 0)
    return lmdb_error(r.rc, d.dir, "mdb_txn_begin");
  uint64_t first = 0;
  if (auto rc = d.get_meta_u64(r.txn.txn, k_first_index, first))
    return lmdb_error(rc, d.dir, "reading the first index");
  return first;
}

store_counters log_store::counters() const {
  auto& d = *impl_;
  return {d.txns.load(), d.syncs.load(), d.entries.load(), d.bytes.load()};
}

const std::string& log_store::dir() const {
  return impl_->dir;
}

uint64_t log_store::map_size() const {
  MDB_envinfo info;
  mdb_env_info(impl_->env, &info);
  return info.me_mapsize;
}

} // namespace raft
