// The user's replicated state machine, driven by the apply actor: deterministic apply of committed
// commands, read-only queries after ReadIndex, and streaming snapshot/restore.
#pragma once

#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "messages/log_id.hpp"

namespace raft {

/// The state as of one applied index, captured by state_machine::snapshot() and written out
/// while the machine goes on applying.
class state_snapshot {
public:
  virtual ~state_snapshot() = default;

  /// Streams the captured state to `out`. Runs on another thread, concurrently with apply(), so
  /// it may only touch what snapshot() captured. Returns false if the state cannot be written.
  virtual bool write(std::ostream& out) = 0;
};

class state_machine {
public:
  virtual ~state_machine() = default;

  /// Applies the committed command at `index` and returns the result for the proposer. Called
  /// exactly once per index, in index order, after any restore(). Must be deterministic.
  virtual std::string apply(index_t index, const std::string& command) = 0;

  /// Applies consecutive committed commands in index order, `commands[i]` at index `first + i`,
  /// and appends their results to `results`, exactly as apply() on each would. The apply actor
  /// calls this for every run of commands a commit releases. Override it to overlap the
  /// commands' work, e.g. to prefetch the memory the next ones will touch.
  virtual void apply_batch(index_t first, const std::vector<const std::string*>& commands,
                           std::vector<std::string>& results) {
    for (size_t i = 0; i < commands.size(); ++i)
      results.push_back(apply(first + i, *commands[i]));
  }

  /// Answers a read-only request against the current state (linearizable when called by the
  /// apply actor after ReadIndex). Must not change the state.
  virtual std::string query(const std::string& request) const = 0;

  /// Captures the state as of the last apply() for log compaction. Called between applies and
  /// should be quick (a copy, or copy-on-write); the writing happens later, elsewhere. A machine
  /// that keeps its state durably itself may return a snapshot that writes nothing.
  virtual std::unique_ptr<state_snapshot> snapshot() const = 0;

  /// Replaces the whole state with what a snapshot wrote (possibly on another node); called
  /// before any apply() that follows it. Returns false, leaving the state untouched, if the
  /// stream is malformed or truncated.
  virtual bool restore(std::istream& in) = 0;
};

} // namespace raft
