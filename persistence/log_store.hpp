// The durable Raft log and metadata of one node: entries in segment files, the rest in LMDB; no
// actors, errors are values.
// The persistence actor drives it; tests and benchmarks may use it directly.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "messages/hard_state.hpp"
#include "messages/log_entry.hpp"
#include "messages/membership.hpp"
#include "messages/snapshot_meta.hpp"
#include "messages/stored_state.hpp"

namespace raft {

struct storage_options;  // persistence/persistence.hpp

/// Payload encoding of `entry_kind::config` entries. The store decodes these payloads to answer
/// load() without scanning the log, so the core must encode config entries with this function.
std::string encode_membership(const membership& x);
caf::expected<membership> decode_membership(const std::string& bytes);

/// A group of writes made durable together: one flush of the log, plus one LMDB commit when
/// term, vote, snapshot or log base change. Operations apply in order,
/// each seeing the effects of the previous ones. An operation that is invalid (log_conflict,
/// invalid_argument) fails alone and changes nothing; an I/O failure fails the whole batch.
class write_batch {
public:
  enum class op_kind : uint8_t { hard_state, append, truncate, commit, purge };

  struct op {
    op_kind kind;
    hard_state hard;
    std::shared_ptr<const log_entries> entries;  // shared with the leader's replicators
    index_t index = 0;  // truncate: first index to delete; commit: the commit index; purge: upto
    snapshot_meta snapshot;
  };

  void save_hard_state(const hard_state& x);
  void append(log_entries xs);
  void append(std::shared_ptr<const log_entries> xs);
  void truncate(index_t from);
  void set_commit(index_t x);
  /// Records snapshot `x` and deletes log entries up to min(upto, x.last.index), keeping the
  /// rest as trailing entries for lagging followers. A log that does not contain x.last is
  /// discarded whole (InstallSnapshot). An older snapshot is ignored.
  void purge(const snapshot_meta& x, index_t upto);
  void purge(const snapshot_meta& x);  // up to x.last

  const std::vector<op>& ops() const { return ops_; }
  size_t size() const { return ops_.size(); }
  bool empty() const { return ops_.empty(); }
  void clear() { ops_.clear(); }

private:
  std::vector<op> ops_;
};

/// The outcome of one batch operation, at the same position as the operation.
struct op_result {
  caf::error error;          // set if this operation was refused (and had no effect)
  log_id last;               // append / truncate: the last log id after the operation
  index_t first_index = 0;   // purge: the first index after the operation
  hard_state hard;           // hard_state: what was saved
};

struct store_counters {
  uint64_t txns = 0;     // committed write transactions
  uint64_t syncs = 0;    // committed transactions that were synced to disk (sync on)
  uint64_t entries = 0;  // log entries written
  uint64_t bytes = 0;    // bytes of log values written (header + payload)
};

/// One node's log in `storage_options::dir`: LMDB for the metadata, `log/` for the entries
/// (segment_log).
///
/// Threading: exactly one thread may call commit() at a time. The read functions may run on any
/// thread, concurrently with commit(): they see the state of the last completed commit(), i.e.
/// exactly what it has acknowledged.
class log_store {
public:
  /// On-disk format; a directory with another version is refused as storage_corrupt.
  static constexpr uint64_t format_version = 2;  // 2: entries in segment files

  /// Opens (and on first start initializes) the store in `opts.dir`. Errors: storage_io (path
  /// unusable: permissions, not a directory, in use by another process), storage_corrupt (not a
  /// caf-raft store, wrong version, undecodable data), foreign_data_dir (another node or
  /// cluster).
  static caf::expected<log_store> open(const storage_options& opts);

  log_store(log_store&&) noexcept;
  log_store& operator=(log_store&&) noexcept;
  ~log_store();

  /// Applies `batch` and makes it durable (if sync is enabled) before returning one result per
  /// operation. On failure (storage_io, disk_full) every operation must be considered failed and
  /// the store refuses further batches with the same error: it must be reopened, and a reopen
  /// finds everything acknowledged before plus possibly part of this batch (its metadata, a
  /// prefix of its entries). Never fails for a full LMDB map: the map grows.
  caf::expected<std::vector<op_result>> commit(const write_batch& batch);

  // -- reads: committed state only, any thread ------------------------------------------------

  /// Everything a node recovers at start-up.
  caf::expected<stored_state> load() const;

  /// Entries in [start, stop) up to `max_bytes` (by entry_bytes), but at least one entry if any.
  /// Fails with snapshot_needed if start < first index; returns fewer (or none) past the end.
  caf::expected<log_entries> entries(index_t start, index_t stop, uint64_t max_bytes) const;

  /// Term of the entry at `index`; the snapshot's term for its last index and 0 for index 0.
  /// snapshot_needed below that, invalid_argument beyond the last index.
  caf::expected<term_t> term_at(index_t index) const;

  caf::expected<log_id> last_log_id() const;
  caf::expected<index_t> first_index() const;

  store_counters counters() const;
  const std::string& dir() const;
  /// Current LMDB map size in bytes (grows on demand).
  uint64_t map_size() const;

  struct impl;

private:
  explicit log_store(std::unique_ptr<impl> ptr);
  std::unique_ptr<impl> impl_;
};

} // namespace raft
