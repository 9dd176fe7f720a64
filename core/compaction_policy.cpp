// Snapshot triggers; see compaction_policy.hpp.
#include "core/compaction_policy.hpp"

namespace raft {

bool compaction_policy::due(uint64_t entries_since, uint64_t bytes_since,
                            uint64_t snapshot_size) const {
  if (entries_since == 0)
    return false;
  // Rewriting the whole state after a few small commands would make the total snapshot work
  // grow with (state size x number of snapshots) instead of with the bytes written.
  if (static_cast<double>(bytes_since) < log_ratio * static_cast<double>(snapshot_size))
    return false;
  return (entries > 0 && entries_since >= entries) || (bytes > 0 && bytes_since >= bytes);
}

index_t purge_upto(index_t snapshot_index, index_t trailing, index_t keep_from) {
  index_t upto = snapshot_index > trailing ? snapshot_index - trailing : 0;
  // Without the hold, a follower whose transfer outlasts the next snapshot would find the
  // entries after its snapshot gone and be sent the newer one whole, possibly over and over.
  if (keep_from > 0 && keep_from - 1 < upto)
    upto = keep_from - 1;
  return upto;
}

} // namespace raft
