// A cluster configuration: voters, learners, and (during a joint change) the old voters, with addresses.
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "messages/log_id.hpp"

namespace raft {

struct membership {
  std::vector<node_id> voters;      // sorted, unique
  std::vector<node_id> learners;    // sorted, unique, disjoint from voters
  std::vector<node_id> old_voters;  // non-empty only while a joint configuration is in effect
  std::map<node_id, std::string> addresses;  // id -> "host:port"; empty string for in-process peers

  bool joint() const { return !old_voters.empty(); }
  bool is_voter(node_id id) const {
    return std::binary_search(voters.begin(), voters.end(), id)
           || std::binary_search(old_voters.begin(), old_voters.end(), id);
  }
  bool is_learner(node_id id) const {
    return std::binary_search(learners.begin(), learners.end(), id);
  }
  bool contains(node_id id) const { return is_voter(id) || is_learner(id); }
  /// Everybody a leader replicates to (voters of both halves and learners), sorted, unique.
  std::vector<node_id> all_members() const {
    std::vector<node_id> xs = voters;
    xs.insert(xs.end(), old_voters.begin(), old_voters.end());
    xs.insert(xs.end(), learners.begin(), learners.end());
    std::sort(xs.begin(), xs.end());
    xs.erase(std::unique(xs.begin(), xs.end()), xs.end());
    return xs;
  }

  friend bool operator==(const membership& a, const membership& b) {
    return a.voters == b.voters && a.learners == b.learners && a.old_voters == b.old_voters
           && a.addresses == b.addresses;
  }
  friend bool operator!=(const membership& a, const membership& b) { return !(a == b); }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, membership& x) {
  return f(caf::meta::type_name("raft.membership"), x.voters, x.learners, x.old_voters,
           x.addresses);
}

} // namespace raft
