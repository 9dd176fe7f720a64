// Membership change rules on sorted id vectors.
#include "core/membership_rules.hpp"

#include <algorithm>

namespace raft {

namespace {

void insert_sorted(std::vector<node_id>& xs, node_id x) {
  xs.insert(std::lower_bound(xs.begin(), xs.end(), x), x);
}

void erase_value(std::vector<node_id>& xs, node_id x) {
  xs.erase(std::remove(xs.begin(), xs.end(), x), xs.end());
}

change_outcome refuse(std::string why) {
  change_outcome out;
  out.error = std::move(why);
  return out;
}

} // namespace

change_outcome apply_change(const membership& current, const membership_change& change) {
  if (change.id == no_node)
    return refuse("node id must be a positive integer");
  if (current.joint())
    return refuse("a joint configuration is in effect");
  auto id = std::to_string(change.id);
  change_outcome out;
  out.next = current;
  auto& next = out.next;
  switch (change.kind) {
    case membership_change::add_voter:
    case membership_change::add_learner:
      if (current.contains(change.id))
        return refuse("node " + id + " is already a member");
      if (change.kind == membership_change::add_voter)
        insert_sorted(next.voters, change.id);
      else
        insert_sorted(next.learners, change.id);
      next.addresses[change.id] = change.address;
      break;
    case membership_change::promote:
      if (!current.is_learner(change.id))
        return refuse("node " + id + " is not a learner");
      erase_value(next.learners, change.id);
      insert_sorted(next.voters, change.id);
      break;
    case membership_change::remove:
      if (!current.contains(change.id))
        return refuse("node " + id + " is not a member");
      if (current.is_voter(change.id) && current.voters.size() == 1)
        return refuse("cannot remove the last voter");
      erase_value(next.voters, change.id);
      erase_value(next.learners, change.id);
      next.addresses.erase(change.id);
      break;
    default:
      return refuse("unknown change");
  }
  out.ok = true;
  return out;
}

bool one_server_apart(const membership& a, const membership& b) {
  std::vector<node_id> diff;
  std::set_symmetric_difference(a.voters.begin(), a.voters.end(), b.voters.begin(),
                                b.voters.end(), std::back_inserter(diff));
  return diff.size() <= 1;
}

} // namespace raft
