// Quorum math for simple and joint configurations: majorities, commit index, vote outcomes.
#pragma once

#include <functional>
#include <vector>

#include "core/log_terms.hpp"
#include "messages/log_id.hpp"
#include "messages/membership.hpp"

namespace raft {

enum class vote_outcome { pending, won, lost };

/// Size of a majority of n voters.
constexpr size_t majority(size_t n) { return n / 2 + 1; }

/// Highest index acknowledged by a majority of `voters`, where `acked(id)` gives each voter's
/// durable match index. An empty voter set has no quorum and yields 0.
index_t quorum_index(const std::vector<node_id>& voters,
                     const std::function<index_t(node_id)>& acked);

/// The same for a configuration: in a joint configuration both halves must agree.
index_t quorum_index(const membership& config, const std::function<index_t(node_id)>& acked);

/// The leader's new commit index: the quorum index of `config`, but only if that entry belongs
/// to `current_term` (Raft §5.4.2, the paper's Figure 8: an older term's entry stored on a
/// majority can still be overwritten, so it commits only under an entry of the current term).
/// Returns `commit` when nothing new may commit.
index_t next_commit(const membership& config, const std::function<index_t(node_id)>& acked,
                    const log_terms& log, term_t current_term, index_t commit);

/// Outcome of a vote among `voters` given who granted and who refused.
vote_outcome tally(const std::vector<node_id>& voters, const std::vector<node_id>& granted,
                   const std::vector<node_id>& refused);

/// Joint configurations need a win in both halves; a loss in either half is a loss.
vote_outcome tally(const membership& config, const std::vector<node_id>& granted,
                   const std::vector<node_id>& refused);

/// True if the nodes in `active` form a quorum of `config` (used by CheckQuorum and ReadIndex).
bool has_quorum(const membership& config, const std::vector<node_id>& active);

} // namespace raft
