// log_store: the entries in segment files (segment_log), the rest in LMDB ("meta"): term and vote,
// snapshot meta, the log's base and generation. Each batch is durable before commit() returns.
#include "persistence/log_store.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <stdexcept>
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
#include "persistence/file_io.hpp"
#include "persistence/persistence.hpp"
#include "persistence/rw_lock.hpp"
#include "persistence/segment_log.hpp"

// Durability (sync on). The entries go to segment files: one pwrite and one fdatasync per batch
// (segment_log). The metadata goes to LMDB, whose commit writes the dirty pages, calls
// fdatasync() and then writes the new meta page through an O_DSYNC descriptor: two ordered
// flushes, needed so that a meta page never points at pages that are not yet stable. That
// costs 3x the time and 3-5x the CPU of a log append for a round of 64 entries (bench/HISTORY.md,
// session 8), which is why the entries left LMDB; metadata changes (term, vote, snapshot, log
// base) are rare. The commit index, a restart hint, travels in each batch's log records
// (segment_log), and LMDB gets it along with other metadata and on a clean close.
// "sync off" opens LMDB with MDB_NOSYNC|MDB_NOMETASYNC and skips the log's fdatasync: UNSAFE. A
// process crash loses nothing (the page cache survives), but an OS crash or power failure may
// lose acknowledged writes.

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
constexpr const char* k_generation = "log_generation";  // of the segment files that are the log

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


// The durable state the write path validates against (inside a batch: the state so far).
struct view {
  index_t first = 1;
  log_id base;  // the entry just before `first`: a purged one, or the snapshot's last
  log_id last;
  index_t commit = 0;
  snapshot_meta snap;
  hard_state hard;
  uint64_t generation = 1;

  // What lives in LMDB and must be written when it changes (the commit index rides along).
  bool meta_differs(const view& o) const {
    return first != o.first || base != o.base || !(snap == o.snap) || hard != o.hard
           || generation != o.generation;
  }
};

// A logical refusal of one operation (an I/O failure fails the whole batch instead).
struct step {
  caf::error failed;   // I/O: the batch fails
  caf::error refused;  // this operation has no effect
};

// The log writes of one batch, applied to the segment files after the ops are all checked.
struct staged_log {
  bool discard = false;  // start a new generation after the view's base
  index_t cut = 0;       // remove the segment log's entries from here on (0: none)
  log_entries pending;   // then append these
  index_t purge_upto = 0;
};

} // namespace

// -- impl -----------------------------------------------------------------------------------

struct log_store::impl {
  std::string dir;
  bool sync = true;
  uint64_t max_read_bytes = 0;
  MDB_env* env = nullptr;
  MDB_dbi meta = 0;
  int lock_fd = -1;
  node_id id = no_node;
  std::string cluster_id;
  membership bootstrap;
  std::unique_ptr<segment_log> seg;
  caf::error broken;         // a failed commit: the files may be ahead of `cache`
  view cache;                // the writer's view of the durable state
  index_t stored_commit = 0;  // the commit index as LMDB has it (a restart hint)
  // Readers see `published` and the segment log under this lock, shared; the writer takes it
  // to publish a batch and, exclusively, while it removes entries (cut, purge, discard).
  mutable rw_lock view_mtx;
  view published;
  std::atomic<uint64_t> txns{0};
  std::atomic<uint64_t> syncs{0};
  std::atomic<uint64_t> entries{0};
  std::atomic<uint64_t> bytes{0};

  ~impl() {
    // The commit index is a hint written along with other metadata; keep the latest on a
    // clean close (a failure here only makes the next start's hint older).
    if (env && seg && cache.commit > stored_commit) {
      MDB_txn* txn = nullptr;
      if (mdb_txn_begin(env, nullptr, 0, &txn) == 0) {
        auto k = cval(k_commit);
        auto v = u64_value(cache.commit);
        auto d = sval(v);
        if (mdb_put(txn, meta, &k, &d, 0) == 0)
          mdb_txn_commit(txn);
        else
          mdb_txn_abort(txn);
      }
    }
    seg.reset();
    if (env)
      mdb_env_close(env);
    if (lock_fd >= 0)
      ::close(lock_fd);
  }

  // -- LMDB metadata --

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

  // Reads the metadata part of the view (everything but `last`).
  int read_meta(MDB_txn* txn, view& v) const {
    int rc;
    if ((rc = get_meta_u64(txn, k_first_index, v.first)) != 0
        || (rc = get_meta_u64(txn, k_commit, v.commit)) != 0
        || (rc = get_meta_obj(txn, k_snapshot, v.snap)) != 0
        || (rc = get_meta_obj(txn, k_hard_state, v.hard)) != 0
        || (rc = get_meta_obj(txn, k_log_base, v.base)) != 0
        || (rc = get_meta_u64(txn, k_generation, v.generation)) != 0)
      return rc;
    return 0;
  }

  int write_meta(MDB_txn* txn, const view& old, const view& v) {
    auto put = [&](const char* key, const std::string& val) {
      auto k = cval(key);
      auto d = sval(val);
      return mdb_put(txn, meta, &k, &d, 0);
    };
    int rc = 0;
    if (v.hard != old.hard && (rc = put(k_hard_state, serialize(v.hard))) != 0)
      return rc;
    if (v.commit != stored_commit && (rc = put(k_commit, u64_value(v.commit))) != 0)
      return rc;
    if (!(v.snap == old.snap) && (rc = put(k_snapshot, serialize(v.snap))) != 0)
      return rc;
    if (v.first != old.first && (rc = put(k_first_index, u64_value(v.first))) != 0)
      return rc;
    if (v.base != old.base && (rc = put(k_log_base, serialize(v.base))) != 0)
      return rc;
    if (v.generation != old.generation
        && (rc = put(k_generation, u64_value(v.generation))) != 0)
      return rc;
    return 0;
  }

  // Commits `v`'s metadata in one synced LMDB transaction, growing the map as needed.
  caf::error commit_meta(const view& old, const view& v) {
    for (int attempt = 0; attempt < 40; ++attempt) {
      txn_ptr txn;
      int rc = mdb_txn_begin(env, nullptr, 0, &txn.txn);
      if (rc != 0)
        return lmdb_error(rc, dir, "mdb_txn_begin");
      rc = write_meta(txn.txn, old, v);
      if (rc == 0)
        rc = txn.commit();
      else
        txn.abort();
      if (rc == MDB_MAP_FULL) {
        if (auto err = grow())
          return err;
        continue;
      }
      if (rc != 0)
        return lmdb_error(rc, dir, "committing a write batch");
      stored_commit = v.commit;
      return caf::none;
    }
    return make_error(errc::disk_full, dir + ": LMDB map cannot grow large enough");
  }

  // Doubles the map. mdb_env_set_mapsize needs no transaction active in the process: only
  // this writer uses LMDB after open (readers see `published`).
  caf::error grow() {
    MDB_envinfo info;
    mdb_env_info(env, &info);
    auto next = std::max<uint64_t>(info.me_mapsize * 2, uint64_t{1} << 20);
    if (auto rc = mdb_env_set_mapsize(env, next))
      return lmdb_error(rc, dir, "growing the LMDB map");
    return caf::none;
  }

  // -- terms, for validation (writer) and reads (under view_mtx) --

  // Term at `idx` in view `v` with the batch's staged log; `found` is false outside
  // [snapshot index, last index].
  caf::error term_in(const view& v, const staged_log* sl, index_t idx, term_t& out,
                     bool& found) const {
    found = true;
    if (idx == 0) {
      out = 0;
      return caf::none;
    }
    if (idx == v.snap.last.index) {
      out = v.snap.last.term;
      return caf::none;
    }
    if (idx == v.base.index) {
      out = v.base.term;
      return caf::none;
    }
    if (idx < v.first || idx > v.last.index) {
      found = false;
      return caf::none;
    }
    if (sl && !sl->pending.empty() && idx >= sl->pending.front().index) {
      out = sl->pending[idx - sl->pending.front().index].term;
      return caf::none;
    }
    auto t = seg->term_at(idx);
    if (!t)
      return corrupt(dir, "log entry " + std::to_string(idx) + " is missing");
    out = *t;
    return caf::none;
  }

  // -- the ops of a batch, checked against the view and staged --

  // Removes entries from `c` on from the staged log (c is within [first, last]).
  caf::error stage_cut(view& v, staged_log& sl, index_t c) {
    term_t prev = 0;
    bool found = false;
    if (auto err = term_in(v, &sl, c - 1, prev, found))
      return err;
    if (!sl.pending.empty() && c >= sl.pending.front().index) {
      sl.pending.resize(c - sl.pending.front().index);
    } else {
      sl.pending.clear();
      if (!sl.discard)
        sl.cut = sl.cut == 0 ? c : std::min(sl.cut, c);
    }
    v.last = log_id{prev, c - 1};
    return caf::none;
  }

  step apply_append(view& v, staged_log& sl, const log_entries& xs, op_result& res,
                    uint64_t& n_entries, uint64_t& n_bytes) {
    res.last = v.last;
    if (xs.empty())
      return {};
    // Validate everything before staging: a refused operation has no effect.
    if (xs.front().index == 0)
      return {{}, make_error(errc::invalid_argument, "append: index 0 is not a log index")};
    for (size_t k = 0; k < xs.size(); ++k) {
      auto& x = xs[k];
      if (static_cast<uint8_t>(x.kind) > static_cast<uint8_t>(entry_kind::config))
        return {{}, make_error(errc::invalid_argument, "append: unknown entry kind", x.index)};
      if (k > 0 && x.index != xs[k - 1].index + 1)
        return {{}, make_error(errc::log_conflict, "append: entries are not contiguous",
                               xs[k - 1].index, x.index)};
      if (k > 0 && x.term < xs[k - 1].term)
        return {{}, make_error(errc::invalid_argument, "append: terms decrease", x.index)};
      if (x.kind == entry_kind::config && !decode_membership(x.payload))
        return {{}, make_error(errc::invalid_argument,
                               "append: config entry payload is not an encoded membership",
                               x.index)};
    }
    auto f = xs.front().index;
    if (f > v.last.index + 1)
      return {{}, make_error(errc::log_conflict,
                             "append: non-contiguous, first index after last", f,
                             v.last.index)};
    // Entries the log already has are skipped (same index and term means same entry by the Log
    // Matching Property); only a real conflict truncates. Truncating on a retransmitted, stale
    // append would drop entries this node may already have acknowledged to a leader.
    size_t i = 0;
    for (; i < xs.size() && xs[i].index < v.first; ++i) {
      if (xs[i].index == v.snap.last.index && xs[i].term != v.snap.last.term)
        return {{}, make_error(errc::log_conflict, "append: entry conflicts with the snapshot",
                               xs[i].index, xs[i].term, v.snap.last.term)};
    }
    for (; i < xs.size() && xs[i].index <= v.last.index; ++i) {
      term_t t = 0;
      bool found = false;
      if (auto err = term_in(v, &sl, xs[i].index, t, found))
        return {err, {}};
      if (t != xs[i].term)
        break;
    }
    if (i == xs.size())
      return {};
    auto c = xs[i].index;
    term_t prev = 0;
    bool found = false;
    if (auto err = term_in(v, &sl, c - 1, prev, found))
      return {err, {}};
    if (i > 0)
      prev = xs[i - 1].term;
    if (xs[i].term < prev)
      return {{}, make_error(errc::log_conflict,
                             "append: term below the preceding entry's term", c, xs[i].term,
                             prev)};
    if (c <= v.last.index) {
      if (c <= v.commit)
        return {{}, make_error(errc::log_conflict,
                               "append: would truncate at or below commit index", c,
                               v.commit)};
      if (auto err = stage_cut(v, sl, c))
        return {err, {}};
    }
    for (; i < xs.size(); ++i) {
      sl.pending.push_back(xs[i]);
      ++n_entries;
      n_bytes += entry_bytes(xs[i]);
    }
    v.last = xs.back().id();
    res.last = v.last;
    return {};
  }

  step apply_truncate(view& v, staged_log& sl, index_t from, op_result& res) {
    res.last = v.last;
    if (from == 0)
      return {{}, make_error(errc::invalid_argument, "truncate: index 0 is not a log index")};
    if (from > v.last.index)
      return {};
    if (from <= v.commit || from < v.first)
      return {{}, make_error(errc::log_conflict, "truncate: at or below commit index", from,
                             v.commit)};
    if (auto err = stage_cut(v, sl, from))
      return {err, {}};
    res.last = v.last;
    return {};
  }

  step apply_purge(view& v, staged_log& sl, const snapshot_meta& m, index_t upto,
                   op_result& res) {
    res.first_index = v.first;
    if (m.last.index == 0)
      return {{}, make_error(errc::invalid_argument, "purge: snapshot at index 0")};
    if (m.last.index < v.snap.last.index)
      return {};  // an older snapshot than the one recorded: nothing to do
    term_t t = 0;
    bool found = false;
    if (auto err = term_in(v, &sl, m.last.index, t, found))
      return {err, {}};
    if (found && t == m.last.term) {
      // Entries up to `upto` go; those between it and the snapshot stay for lagging followers.
      upto = std::min(upto, m.last.index);
      if (upto > v.base.index) {
        term_t base_term = 0;
        if (auto err = term_in(v, &sl, upto, base_term, found))
          return {err, {}};
        v.base = log_id{base_term, upto};
        v.first = upto + 1;
        if (v.last.index == upto)
          v.last = v.base;
        sl.purge_upto = std::max(sl.purge_upto, upto);
      }
    } else {
      // Raft's InstallSnapshot rule: a log that does not contain the snapshot's last entry is
      // discarded entirely; a new generation of segment files makes that crash-safe.
      sl = staged_log{};
      sl.discard = true;
      v.last = m.last;
      v.base = m.last;
      v.first = m.last.index + 1;
      v.generation += 1;
    }
    v.snap = m;
    // A snapshot only covers committed entries; this also keeps truncation above it refused.
    v.commit = std::max(v.commit, m.last.index);
    res.first_index = v.first;
    return {};
  }

  // Writes the staged log after the metadata is durable. Entries are removed under the
  // exclusive lock, so readers never see a view that promises what the files no longer have.
  caf::error write_log(const view& v, const staged_log& sl) {
    bool removes = sl.discard || sl.cut != 0 || sl.purge_upto != 0;
    std::unique_lock<rw_lock> excl{view_mtx, std::defer_lock};
    if (removes)
      excl.lock();
    if (sl.discard)
      if (auto err = seg->reset(v.generation, v.base))
        return err;
    if (sl.cut != 0 || !sl.pending.empty())
      if (auto err = seg->write(sl.cut, sl.pending, v.commit))
        return err;
    if (sl.purge_upto > seg->base().index)
      if (auto err = seg->purge(sl.purge_upto))
        return err;
    if (!removes)
      excl.lock();
    published = v;
    return caf::none;
  }
};

// -- open -----------------------------------------------------------------------------------

namespace {

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
    else if (name != "lock.mdb" && name != "raft.lock" && name != "log" && stray.empty())
      stray = name;
  }
  ::closedir(d);
  if (!has_data && !stray.empty())
    return corrupt(dir, "not a caf-raft data directory (unexpected file '" + stray + "')");
  return caf::none;
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
  // One process per directory: nothing else would stop two nodes from sharing (and corrupting)
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
  // scheduler threads).
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
  auto put = [&](const char* key, const std::string& val) {
    auto k = cval(key);
    auto d = sval(val);
    return mdb_put(txn.txn, p->meta, &k, &d, 0);
  };
  segment_log_options so;
  so.dir = dir + "/log";
  so.sync = opts.sync;
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
        || (rc = put(k_log_base, serialize(v.base))) != 0
        || (rc = put(k_generation, u64_value(v.generation))) != 0)
      return lmdb_error(rc, dir, "initializing the store");
    if ((rc = txn.commit()) != 0)
      return lmdb_error(rc, dir, "committing the initial state");
    // The new data.mdb must survive a power failure, which requires its directory entry on disk.
    if (opts.sync)
      if (auto err = sync_dir(dir))
        return err;
    so.generation = v.generation;
    auto seg = segment_log::open(so, v.base);
    if (!seg)
      return seg.error();
    p->seg = std::make_unique<segment_log>(std::move(*seg));
    p->id = opts.id;
    p->cluster_id = opts.cluster_id;
    p->bootstrap = opts.bootstrap;
    p->cache = v;
    p->published = v;
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
  view v;
  if ((rc = p->get_meta_u64(txn.txn, k_node_id, stored_id)) != 0
      || (rc = p->get_meta(txn.txn, k_cluster_id, cid)) != 0
      || (rc = p->get_meta_obj(txn.txn, k_bootstrap, p->bootstrap)) != 0
      || (rc = p->read_meta(txn.txn, v)) != 0)
    return rc == MDB_NOTFOUND ? corrupt(dir, "incomplete metadata")
                              : lmdb_error(rc, dir, "reading the metadata");
  std::string stored_cluster{static_cast<const char*>(cid.mv_data), cid.mv_size};
  if (stored_id != opts.id || stored_cluster != opts.cluster_id)
    return make_error(errc::foreign_data_dir,
                      dir + ": belongs to node " + std::to_string(stored_id) + " of cluster '"
                        + stored_cluster + "', not node " + std::to_string(opts.id)
                        + " of cluster '" + opts.cluster_id + "'");
  if ((rc = txn.commit()) != 0)  // makes the dbi handle usable by other transactions
    return lmdb_error(rc, dir, "mdb_txn_commit");
  if (v.first != v.base.index + 1 || v.base.index > v.snap.last.index)
    return corrupt(dir, "first index " + std::to_string(v.first) + " inconsistent with snapshot "
                          + std::to_string(v.snap.last.index));
  p->stored_commit = v.commit;
  so.generation = v.generation;
  auto seg = segment_log::open(so, v.base);
  if (!seg)
    return seg.error();
  p->seg = std::make_unique<segment_log>(std::move(*seg));
  v.last = p->seg->last();
  // The records carry the commit index of their batch; entries lost to a torn tail cannot
  // count as committed here (the leader will say so again).
  v.commit = std::max(v.commit, std::min(p->seg->recovered_commit(), v.last.index));
  if (v.last.index < v.snap.last.index) {
    // The snapshot was recorded (metadata first) but the log entries up to it never reached
    // the segment files: the snapshot holds them, so the log restarts after it.
    auto repaired = v;
    repaired.base = v.snap.last;
    repaired.first = v.snap.last.index + 1;
    repaired.last = v.snap.last;
    repaired.generation = v.generation + 1;
    if (auto err = p->commit_meta(v, repaired))
      return err;
    if (auto err = p->seg->reset(repaired.generation, repaired.base))
      return err;
    v = repaired;
  }
  p->id = opts.id;
  p->cluster_id = opts.cluster_id;
  p->cache = v;
  p->published = v;
  return log_store{std::move(p)};
}

log_store::log_store(std::unique_ptr<impl> ptr) : impl_(std::move(ptr)) {
  // nop
}

log_store::log_store(log_store&&) noexcept = default;
log_store& log_store::operator=(log_store&&) noexcept = default;
log_store::~log_store() = default;

// -- write ----------------------------------------------------------------------------------

caf::expected<std::vector<op_result>> log_store::commit(const write_batch& batch) {
  auto& d = *impl_;
  if (d.broken)
    return d.broken;
  view v = d.cache;
  staged_log sl;
  std::vector<op_result> results(batch.size());
  uint64_t n_entries = 0;
  uint64_t n_bytes = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    auto& o = batch.ops()[i];
    auto& res = results[i];
    step s;
    switch (o.kind) {
      case write_batch::op_kind::hard_state:
        v.hard = o.hard;
        res.hard = o.hard;
        break;
      case write_batch::op_kind::append:
        s = d.apply_append(v, sl, *o.entries, res, n_entries, n_bytes);
        break;
      case write_batch::op_kind::truncate:
        s = d.apply_truncate(v, sl, o.index, res);
        break;
      case write_batch::op_kind::commit:
        // Only as far as the log reaches: a restart must never trust more than the log holds.
        // A node sends the index after the entries it covers, so this only guards that rule.
        v.commit = std::max(v.commit, std::min(o.index, v.last.index));
        break;
      case write_batch::op_kind::purge:
        s = d.apply_purge(v, sl, o.snapshot, o.index, res);
        break;
    }
    if (s.failed) {
      d.broken = s.failed;
      return s.failed;
    }
    res.error = std::move(s.refused);
  }
  // Metadata first: a vote is durable before any entry of its term is acknowledged, and a new
  // generation before the old log's files go.
  if (v.meta_differs(d.cache)) {
    if (auto err = d.commit_meta(d.cache, v)) {
      d.broken = err;
      return err;
    }
  }
  if (auto err = d.write_log(v, sl)) {
    d.broken = err;
    return err;
  }
  d.cache = v;
  d.txns.fetch_add(1, std::memory_order_relaxed);
  if (d.sync)
    d.syncs.fetch_add(1, std::memory_order_relaxed);
  d.entries.fetch_add(n_entries, std::memory_order_relaxed);
  d.bytes.fetch_add(n_bytes, std::memory_order_relaxed);
  return results;
}

// -- reads ----------------------------------------------------------------------------------

caf::expected<stored_state> log_store::load() const {
  auto& d = *impl_;
  std::shared_lock<rw_lock> guard{d.view_mtx};
  const auto& v = d.published;
  stored_state st;
  st.id = d.id;
  st.cluster_id = d.cluster_id;
  st.hard = v.hard;
  st.first_index = v.first;
  st.log_base = v.base;
  st.last = v.last;
  st.commit = v.commit;
  st.snapshot = v.snap;
  // Configurations: every config entry of the log after the snapshot; before them the
  // snapshot's configuration, else the bootstrap one. The node needs them all to revert
  // correctly when a truncation removes the newest.
  st.base_config = v.snap.last.index > 0 ? v.snap.config : d.bootstrap;
  auto cfgs = d.seg->entries_of_kind(entry_kind::config);
  if (!cfgs)
    return cfgs.error();
  for (auto& e : *cfgs) {
    if (e.index <= v.snap.last.index || e.index > v.last.index)
      continue;  // folded into the snapshot's configuration, or not published yet
    auto cfg = decode_membership(e.payload);
    if (!cfg)
      return corrupt(d.dir, "undecodable config entry at index " + std::to_string(e.index));
    st.configs.push_back(config_record{e.id(), std::move(*cfg)});
  }
  if (!st.configs.empty()) {
    st.config = st.configs.back().config;
    st.config_id = st.configs.back().id;
  } else {
    st.config = st.base_config;
    st.config_id = v.snap.last;
  }
  // Terms never decrease along the log, so each term's first index is found by binary search:
  // O(terms * log(entries)) lookups instead of a scan over the whole log.
  auto term = [&](index_t idx, term_t& t) {
    bool found = false;
    return d.term_in(v, nullptr, idx, t, found);
  };
  if (v.last.index >= v.first) {
    index_t idx = v.first;
    for (;;) {
      term_t t = 0;
      if (auto err = term(idx, t))
        return err;
      st.term_starts.push_back(log_id{t, idx});
      if (t >= v.last.term)
        break;
      // Smallest j in (idx, last] with term(j) > t; term(last) > t guarantees one exists.
      index_t lo = idx + 1;
      index_t hi = v.last.index;
      while (lo < hi) {
        auto mid = lo + (hi - lo) / 2;
        term_t tm = 0;
        if (auto err = term(mid, tm))
          return err;
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
  std::shared_lock<rw_lock> guard{d.view_mtx};
  const auto& v = d.published;
  if (start < v.first)
    return make_error(errc::snapshot_needed, "read: entries were compacted", start, v.first);
  if (start >= stop || start > v.last.index)
    return log_entries{};
  return d.seg->entries(start, std::min(stop, v.last.index + 1),
                        std::min(max_bytes, d.max_read_bytes));
}

caf::expected<term_t> log_store::term_at(index_t index) const {
  auto& d = *impl_;
  std::shared_lock<rw_lock> guard{d.view_mtx};
  const auto& v = d.published;
  if (index > v.last.index)
    return make_error(errc::invalid_argument, "term_at: index beyond the last index", index,
                      v.last.index);
  if (index < v.base.index && index != v.snap.last.index)
    return make_error(errc::snapshot_needed, "term_at: entry was compacted", index, v.first);
  term_t t = 0;
  bool found = false;
  if (auto err = d.term_in(v, nullptr, index, t, found))
    return err;
  return t;
}

caf::expected<log_id> log_store::last_log_id() const {
  auto& d = *impl_;
  std::shared_lock<rw_lock> guard{d.view_mtx};
  return d.published.last;
}

caf::expected<index_t> log_store::first_index() const {
  auto& d = *impl_;
  std::shared_lock<rw_lock> guard{d.view_mtx};
  return d.published.first;
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
