// InstallSnapshot and its reply: a snapshot streamed in chunks, resumable at the last offset the
// follower confirmed; the checksum in `meta` covers the whole content.
#pragma once

#include <cstdint>
#include <string>

#include "messages/snapshot_meta.hpp"

namespace raft {

struct install_snapshot_request {
  term_t term = 0;
  node_id leader = no_node;
  snapshot_meta meta;       // which snapshot, its size and checksum
  uint64_t offset = 0;      // where `data` starts in the snapshot
  std::string data;         // at most snapshot_chunk_bytes
  bool done = false;        // `data` ends the snapshot
  index_t commit = 0;
};

struct install_snapshot_response {
  term_t term = 0;
  node_id from = no_node;
  log_id last;              // the snapshot this answers (meta.last of the request)
  uint64_t received = 0;    // bytes the follower holds in order: the offset to continue from
  bool installed = false;   // the follower holds the snapshot (or a later state) durably
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, install_snapshot_request& x) {
  return f(caf::meta::type_name("raft.install_snapshot_request"), x.term, x.leader, x.meta,
           x.offset, x.data, x.done, x.commit);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, install_snapshot_response& x) {
  return f(caf::meta::type_name("raft.install_snapshot_response"), x.term, x.from, x.last,
           x.received, x.installed);
}

} // namespace raft
