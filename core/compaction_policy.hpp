// When to take a snapshot: the count and byte triggers, held back until the commands since the
// last snapshot are worth rewriting it (LogCabin's snapshotRatio), so compaction stays linear;
// and how far the log may be purged below a new one.
#pragma once

#include <cstdint>

#include "messages/log_id.hpp"

namespace raft {

struct compaction_policy {
  uint64_t entries = 0;  // applied entries since the last snapshot that trigger one (0: never)
  uint64_t bytes = 0;    // bytes of applied commands since the last snapshot (0: never)
  double log_ratio = 0;  // ... but only once those bytes reach log_ratio x its size

  /// Whether a snapshot is due, `entries_since` entries and `bytes_since` command bytes after
  /// the last snapshot, which was `snapshot_size` bytes (0 if none).
  bool due(uint64_t entries_since, uint64_t bytes_since, uint64_t snapshot_size) const;
};

/// The last index to purge once a snapshot through `snapshot_index` is durable: all but the
/// `trailing` entries below it, but none from `keep_from` on (0: nothing to keep), the first
/// entry a follower still receiving an older snapshot will ask for once it has installed it.
index_t purge_upto(index_t snapshot_index, index_t trailing, index_t keep_from);

} // namespace raft
