// Single-server membership changes: which changes are allowed and what configuration they yield.
// Two configurations one server apart always share a majority, so no two leaders can be elected
// by disjoint quorums while the change is under way.
#pragma once

#include <string>

#include "messages/membership.hpp"
#include "messages/membership_change.hpp"

namespace raft {

struct change_outcome {
  bool ok = false;
  std::string error;  // why the change is refused
  membership next;
};

/// The configuration after `change`, or why it is refused (existing id, unknown id, removing the
/// last voter, promoting a non-learner). Lag and in-progress checks are the leader's, not here.
change_outcome apply_change(const membership& current, const membership_change& change);

/// True if the voter sets of a and b differ by at most one server (the single-server rule).
bool one_server_apart(const membership& a, const membership& b);

} // namespace raft
