// Flow control for one follower. A rejection in replicate mode falls back to probing, which
// keeps a burst of stale rejections from pipelined requests from rewinding `next` repeatedly.
#include "core/progress.hpp"

#include <algorithm>

namespace raft {

progress::progress(index_t next, size_t max_inflight_msgs, size_t max_inflight_bytes)
  : next_(std::max<index_t>(next, 1)),
    max_msgs_(std::max<size_t>(max_inflight_msgs, 1)),
    max_bytes_(std::max<size_t>(max_inflight_bytes, 1)) {
}

bool progress::can_send() const {
  switch (state_) {
    case mode::probe:
      return !probe_sent_;
    case mode::replicate:
      return inflight_.size() < max_msgs_ && inflight_bytes_ < max_bytes_;
    case mode::snapshot:
      return false;
  }
  return false;
}

size_t progress::byte_budget() const {
  return inflight_bytes_ >= max_bytes_ ? 0 : max_bytes_ - inflight_bytes_;
}

void progress::sent(index_t last_index, size_t bytes) {
  if (state_ == mode::probe) {
    probe_sent_ = true;
    return;  // next stays put: a probe may be rejected
  }
  if (state_ == mode::replicate && last_index >= next_) {
    next_ = last_index + 1;
    inflight_.push_back({last_index, bytes});
    inflight_bytes_ += bytes;
  }
}

bool progress::acked(index_t matched) {
  bool advanced = matched > match_;
  if (advanced)
    match_ = matched;
  next_ = std::max(next_, match_ + 1);
  while (!inflight_.empty() && inflight_.front().last <= match_) {
    inflight_bytes_ -= inflight_.front().bytes;
    inflight_.pop_front();
  }
  if (state_ == mode::probe) {
    // The follower confirmed it holds everything up to match: stream from right after it. Keeping
    // a guessed `next` would skip the entries between (and stall if nothing new is proposed).
    state_ = mode::replicate;
    probe_sent_ = false;
    next_ = match_ + 1;
    clear_inflight();
  } else if (state_ == mode::snapshot && match_ >= pending_snapshot_) {
    state_ = mode::replicate;
    pending_snapshot_ = 0;
    clear_inflight();
  }
  return advanced;
}

bool progress::rejected(index_t rejected_prev, index_t hint_next) {
  if (rejected_prev <= match_)
    return false;  // the follower durably holds match_: this answers an older request
  if (state_ == mode::replicate) {
    next_ = std::max(match_ + 1, hint_next);
    state_ = mode::probe;
    probe_sent_ = false;
    clear_inflight();
    return true;
  }
  if (state_ == mode::probe) {
    if (rejected_prev + 1 != next_)
      return false;  // a duplicate or reordered reply for an earlier probe
    next_ = std::max(match_ + 1, hint_next);
    probe_sent_ = false;
    return true;
  }
  return false;
}

void progress::heard() {
  if (state_ == mode::probe)
    probe_sent_ = false;
}

void progress::reset() {
  if (state_ == mode::snapshot)
    return;  // a snapshot in progress has its own resumption
  state_ = mode::probe;
  probe_sent_ = false;
  next_ = match_ + 1;
  inflight_.clear();
  inflight_bytes_ = 0;
}

void progress::begin_snapshot(index_t index) {
  state_ = mode::snapshot;
  pending_snapshot_ = index;
  probe_sent_ = false;
  clear_inflight();
}

void progress::snapshot_done(index_t index) {
  if (state_ != mode::snapshot)
    return;
  match_ = std::max(match_, index);
  next_ = match_ + 1;
  state_ = mode::probe;
  pending_snapshot_ = 0;
}

void progress::clear_inflight() {
  inflight_.clear();
  inflight_bytes_ = 0;
  if (state_ == mode::replicate)
    next_ = std::max(next_, match_ + 1);
}

} // namespace raft
