// The Raft log's entries in append-only segment files: one contiguous write and one flush per
// batch, where an LMDB commit writes scattered pages and flushes twice (bench/HISTORY.md,
// session 8).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "messages/log_entry.hpp"
#include "messages/log_id.hpp"

namespace raft {

struct segment_log_options {
  std::string dir;                        // directory of the segment files (created if missing)
  uint64_t generation = 1;                // segments of other generations are not this log
  bool sync = true;                       // false = UNSAFE: no fdatasync, a crash may lose data
  uint64_t segment_bytes = uint64_t{16} << 20;  // a segment takes records up to this size
};

/// The entries after `base` (the snapshot's last entry or the last purged one), in segment
/// files named `<generation>-<first index>.seg` (16 hex digits each).
///
/// A record is: CRC-32 of the rest of the record (4 bytes), payload length (4), index (8),
/// term (8), kind (1), commit index (8), payload; integers little-endian. The commit index is
/// the writer's when the record was written: a restart hint that is durable with the batch.
/// A segment is written with zeros ahead of its records, 1 MiB at a time, so that most flushes
/// need not record a new file size or extent, and a full disk fails a batch before any of its
/// records is written. A zero record ends the log.
///
/// Threading: one writer (append, write, purge, reset) at a time. The reads may run on any
/// thread concurrently with it; they see only what a completed write made durable.
class segment_log {
public:
  /// Opens the log of `opts.generation` in `opts.dir`: scans its segments and ends the log at
  /// the first zero, torn or corrupt record of the last segment, which is cut off there.
  /// A bad record in an earlier segment, or a gap in the indexes, is storage_corrupt: entries
  /// that were acknowledged would otherwise vanish silently. Records at or below `base.index`
  /// (left by a purge that stopped before deleting their segment) are skipped, and the first
  /// one after it must be base.index + 1. Segments of other generations are deleted.
  /// Errors: storage_io, storage_corrupt, disk_full.
  static caf::expected<segment_log> open(const segment_log_options& opts, log_id base);

  segment_log(segment_log&&) noexcept;
  segment_log& operator=(segment_log&&) noexcept;
  ~segment_log();

  // -- writer --------------------------------------------------------------------------------

  /// Removes the entries from `cut_from` on (0: none), then appends `xs`, which must continue
  /// the log (xs.front().index == last().index + 1 after the cut) with terms that do not
  /// decrease. Durable when it returns: one fdatasync per segment written (a batch that crosses
  /// into a new segment writes two). A cut is made durable on its own first, so that no crash
  /// can leave new entries followed by stale ones. On an I/O error the log is unusable and
  /// must be reopened; a reopen finds the state before or after this call, or the cut with a
  /// prefix of `xs` (entries from the cut on were never committed: a leader that lacks them
  /// cut them).
  /// Errors: invalid_argument (cut at or below base, or not contiguous), storage_io, disk_full.
  caf::error write(index_t cut_from, const log_entries& xs, index_t commit = 0);

  /// Forgets the entries up to `upto` (base.index < upto <= last().index): `upto` with its term
  /// becomes the base, and segments that hold only forgotten entries are deleted.
  caf::error purge(index_t upto);

  /// Discards the whole log and starts generation `generation` after `base` (InstallSnapshot
  /// of a snapshot the log does not contain). The caller records the new generation durably
  /// (in LMDB) before calling this, so that a crash in between cannot revive the old log.
  caf::error reset(uint64_t generation, log_id base);

  // -- reads: any thread ---------------------------------------------------------------------

  log_id base() const;
  /// The largest commit index carried by the records found at open (0 if none).
  index_t recovered_commit() const;
  log_id last() const;  // base() if empty
  uint64_t generation() const;

  /// Entries in [start, stop) up to `max_bytes` (by entry_bytes), but at least one if any. Fails
  /// with snapshot_needed if start <= base().index; returns fewer (or none) past the end.
  caf::expected<log_entries> entries(index_t start, index_t stop, uint64_t max_bytes) const;

  /// Term of the entry at `index`; base().term for base().index. snapshot_needed below that,
  /// invalid_argument beyond the last index.
  caf::expected<term_t> term_at(index_t index) const;

  /// All entries of `kind` in the log (configuration entries, for start-up), in order.
  caf::expected<log_entries> entries_of_kind(entry_kind kind) const;

  struct impl;

private:
  explicit segment_log(std::unique_ptr<impl> ptr);
  std::unique_ptr<impl> impl_;
};

} // namespace raft
