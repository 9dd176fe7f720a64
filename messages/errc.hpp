// caf-raft's error category: every failure a caller can see, as a caf::error with category "raft".
#pragma once

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/make_message.hpp>

namespace raft {

enum class errc : uint8_t {
  none = 0,
  not_leader,         // context: (node_id leader_hint, std::string) where 0 = unknown
  timeout,            // outcome unknown: the request may or may not have been applied
  shutting_down,      // the node is stopping; not applied
  entry_too_large,    // payload exceeds the configured maximum; not applied
  storage_io,         // LMDB, log file or file system failure (including a read-only directory)
  storage_corrupt,    // data directory content failed validation
  foreign_data_dir,   // data directory belongs to another node or cluster
  disk_full,          // the storage ran out of space and could not grow
  invalid_argument,   // malformed request
  log_conflict,       // a truncate below the commit index or a non-contiguous append (a bug)
  unavailable,        // no quorum / no leader reachable; outcome unknown
  config_change,      // membership change refused (in progress, unknown id, last voter, ...)
  snapshot_needed,    // requested log entries were purged by compaction
  transfer_in_progress,  // leadership transfer underway; writes refused
  busy,               // refused for now (backlog full, leader not ready yet); not applied: retry
};

constexpr caf::atom_value errc_category = caf::atom("raft");

std::string to_string(errc x);

inline caf::error make_error(errc x) {
  return caf::error{static_cast<uint8_t>(x), errc_category};
}

template <class T, class... Ts>
caf::error make_error(errc x, T&& y, Ts&&... ys) {
  return caf::error{static_cast<uint8_t>(x), errc_category,
                    caf::make_message(std::forward<T>(y), std::forward<Ts>(ys)...)};
}

/// True if `e` is the raft error `x`.
inline bool is(const caf::error& e, errc x) {
  return e && e.category() == errc_category && e.code() == static_cast<uint8_t>(x);
}

/// The leader a not_leader error names (0: unknown, or not such an error).
inline uint64_t leader_hint(const caf::error& e) {
  if (!is(e, errc::not_leader))
    return 0;
  const auto& ctx = e.context();
  return ctx.size() >= 1 && ctx.match_element<uint64_t>(0) ? ctx.get_as<uint64_t>(0) : 0;
}

} // namespace raft
