// Majorities over voter sets; joint configurations take the minimum / conjunction of both halves.
#include "core/quorum.hpp"

#include <algorithm>

namespace raft {

namespace {

bool contains(const std::vector<node_id>& xs, node_id x) {
  return std::find(xs.begin(), xs.end(), x) != xs.end();
}

} // namespace

index_t quorum_index(const std::vector<node_id>& voters,
                     const std::function<index_t(node_id)>& acked) {
  if (voters.empty())
    return 0;
  std::vector<index_t> xs;
  xs.reserve(voters.size());
  for (auto v : voters)
    xs.push_back(acked(v));
  // Sorted descending, the majority-th value is acknowledged by at least a majority.
  std::sort(xs.begin(), xs.end(), std::greater<>{});
  return xs[majority(xs.size()) - 1];
}

index_t quorum_index(const membership& config, const std::function<index_t(node_id)>& acked) {
  auto idx = quorum_index(config.voters, acked);
  if (config.joint())
    idx = std::min(idx, quorum_index(config.old_voters, acked));
  return idx;
}

vote_outcome tally(const std::vector<node_id>& voters, const std::vector<node_id>& granted,
                   const std::vector<node_id>& refused) {
  if (voters.empty())
    return vote_outcome::won;  // an empty half imposes no constraint
  size_t yes = 0;
  size_t no = 0;
  for (auto v : voters) {
    if (contains(granted, v))
      ++yes;
    else if (contains(refused, v))
      ++no;
  }
  auto need = majority(voters.size());
  if (yes >= need)
    return vote_outcome::won;
  if (voters.size() - no < need)
    return vote_outcome::lost;
  return vote_outcome::pending;
}

vote_outcome tally(const membership& config, const std::vector<node_id>& granted,
                   const std::vector<node_id>& refused) {
  if (config.voters.empty() && config.old_voters.empty())
    return vote_outcome::lost;
  auto a = tally(config.voters, granted, refused);
  if (!config.joint())
    return a;
  auto b = tally(config.old_voters, granted, refused);
  if (a == vote_outcome::lost || b == vote_outcome::lost)
    return vote_outcome::lost;
  if (a == vote_outcome::won && b == vote_outcome::won)
    return vote_outcome::won;
  return vote_outcome::pending;
}

bool has_quorum(const membership& config, const std::vector<node_id>& active) {
  return tally(config, active, {}) == vote_outcome::won;
}

index_t next_commit(const membership& config, const std::function<index_t(node_id)>& acked,
                    const log_terms& log, term_t current_term, index_t commit) {
  auto idx = quorum_index(config, acked);
  if (idx > commit && log.term_at(idx) == current_term)
    return idx;
  return commit;
}

} // namespace raft
