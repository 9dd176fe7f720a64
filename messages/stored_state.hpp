// Everything a node recovers from its data directory at start-up, as reported by the persistence actor.
#pragma once

#include <string>
#include <vector>

#include "messages/hard_state.hpp"
#include "messages/log_id.hpp"
#include "messages/membership.hpp"
#include "messages/snapshot_meta.hpp"

namespace raft {

/// One configuration entry of the log.
struct config_record {
  log_id id;
  membership config;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, config_record& x) {
  return f(caf::meta::type_name("raft.config_record"), x.id, x.config);
}

struct stored_state {
  node_id id = no_node;
  std::string cluster_id;
  hard_state hard;
  index_t first_index = 1;    // first index still in the log
  log_id log_base;            // the entry before first_index (purged); snapshot.last or earlier
  log_id last;                // last log id; equals snapshot.last when the log is empty
  index_t commit = 0;         // last persisted commit index (a hint; may lag the real one)
  membership config;          // latest configuration: newest config entry in the log, else snapshot's
  log_id config_id;           // where `config` came from ({0,0}: bootstrap / none)
  snapshot_meta snapshot;     // last snapshot's metadata; snapshot.last == {0,0} if none
  membership base_config;     // in effect before the log's first config entry: snapshot's or bootstrap
  std::vector<config_record> configs;  // config entries after the snapshot, ascending
  std::vector<log_id> term_starts;  // (term, first index of that term) for every term in the log, ascending
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stored_state& x) {
  return f(caf::meta::type_name("raft.stored_state"), x.id, x.cluster_id, x.hard, x.first_index,
           x.log_base, x.last, x.commit, x.config, x.config_id, x.snapshot, x.base_config, x.configs,
           x.term_starts);
}

} // namespace raft
