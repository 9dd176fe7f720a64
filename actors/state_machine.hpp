// The user's replicated state machine, driven by the apply actor: deterministic apply of committed
// commands, read-only queries after ReadIndex, and streaming snapshot/restore.
#pragma once

#include <iosfwd>
#include <string>

#include "messages/log_id.hpp"

namespace raft {

class state_machine {
public:
  virtual ~state_machine() = default;

  /// Applies the committed command at `index` and returns the result for the proposer. Called
  /// exactly once per index, in index order, after any restore(). Must be deterministic.
  virtual std::string apply(index_t index, const std::string& command) = 0;

  /// Answers a read-only request against the current state (linearizable when called by the
  /// apply actor after ReadIndex). Must not change the state.
  virtual std::string query(const std::string& request) const = 0;

  /// Writes the whole state to `out` (may be empty if the application persists state itself).
  virtual void save(std::ostream& out) const = 0;

  /// Replaces the whole state with what save() wrote; called before any apply(). Returns false
  /// (leaving the state untouched) if the stream is malformed or truncated.
  virtual bool restore(std::istream& in) = 0;
};

} // namespace raft
