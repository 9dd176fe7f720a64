// A leader's view of one follower: match/next indexes and the in-flight window that bounds
// pipelined AppendEntries by messages and bytes (etcd's Progress + inflights).
#pragma once

#include <cstddef>
#include <deque>

#include "messages/log_id.hpp"

namespace raft {

class progress {
public:
  enum class mode {
    probe,      // one request at a time until the follower's log position is known
    replicate,  // position known: stream batches up to the window
    snapshot,   // the follower needs entries we purged: waiting for a snapshot to land
  };

  progress(index_t next, size_t max_inflight_msgs, size_t max_inflight_bytes);

  mode state() const { return state_; }
  index_t match() const { return match_; }
  index_t next() const { return next_; }
  size_t inflight() const { return inflight_.size(); }
  size_t inflight_bytes() const { return inflight_bytes_; }

  /// May another append with entries be sent now?
  bool can_send() const;
  /// Bytes the next batch may carry (at least one entry is always allowed when can_send()).
  size_t byte_budget() const;

  /// An append carrying entries up to `last_index` (inclusive) went out.
  void sent(index_t last_index, size_t bytes);

  /// The follower holds everything up to `matched`; returns true if match advanced.
  bool acked(index_t matched);

  /// The follower rejected prev index `rejected_prev`; `hint_next` comes from
  /// next_after_reject(). Returns false if the rejection is stale and was ignored.
  bool rejected(index_t rejected_prev, index_t hint_next);

  /// A heartbeat reply arrived: a probe that may have been lost can be retried.
  void heard();

  /// Forget what is in flight and probe again from match + 1 (lost messages, new connection).
  void reset();

  /// Switch to snapshot mode for a snapshot ending at `index`; done() resumes replication.
  void begin_snapshot(index_t index);
  void snapshot_done(index_t index);
  index_t pending_snapshot() const { return pending_snapshot_; }

private:
  void clear_inflight();

  mode state_ = mode::probe;
  index_t match_ = 0;
  index_t next_ = 1;
  bool probe_sent_ = false;
  index_t pending_snapshot_ = 0;
  size_t max_msgs_;
  size_t max_bytes_;
  struct flight {
    index_t last;
    size_t bytes;
  };
  std::deque<flight> inflight_;
  size_t inflight_bytes_ = 0;
};

} // namespace raft
