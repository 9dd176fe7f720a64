// What a snapshot covers: the last included log id and the configuration in effect at that point.
#pragma once

#include <cstdint>

#include "messages/log_id.hpp"
#include "messages/membership.hpp"

namespace raft {

struct snapshot_meta {
  log_id last;          // last included index and term; {0,0} when there is no snapshot
  membership config;    // configuration as of `last`
  uint64_t size = 0;    // bytes of the snapshot data
  uint32_t checksum = 0;

  friend bool operator==(const snapshot_meta& a, const snapshot_meta& b) {
    return a.last == b.last && a.config == b.config && a.size == b.size
           && a.checksum == b.checksum;
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, snapshot_meta& x) {
  return f(caf::meta::type_name("raft.snapshot_meta"), x.last, x.config, x.size, x.checksum);
}

} // namespace raft
