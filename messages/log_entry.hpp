// One replicated log entry: position, kind and opaque payload bytes (client command or encoded config).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "messages/log_id.hpp"
#include "messages/payload.hpp"

namespace raft {

enum class entry_kind : uint8_t {
  normal = 0,  // a client command for the state machine
  noop = 1,    // appended by a new leader to commit entries of earlier terms
  config = 2,  // payload is an encoded `membership`
};

struct log_entry {
  index_t index = 0;
  term_t term = 0;
  entry_kind kind = entry_kind::normal;
  raft::payload payload;  // shared bytes; serialized as a std::string

  log_id id() const { return {term, index}; }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, log_entry& x) {
  return f(caf::meta::type_name("raft.log_entry"), x.index, x.term, x.kind, x.payload);
}

using log_entries = std::vector<log_entry>;

/// Approximate memory/wire size of an entry, used for byte budgets.
inline size_t entry_bytes(const log_entry& e) { return e.payload.size() + 24; }

} // namespace raft
