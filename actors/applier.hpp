// The apply actor: feeds committed entries to the state machine exactly once, in index order, and
// answers the clients waiting for them (proposals by index and term, reads by read index).
#pragma once

#include <memory>

#include <caf/fwd.hpp>

#include "actors/node.hpp"
#include "actors/state_machine.hpp"
#include "messages/log_id.hpp"

namespace raft {

/// Messages:
///   (apply_atom, log_entries)             committed entries, consecutive, from the node
///   (await_atom, index_t, term_t)         -> std::string: the result of the entry at index once
///                                          applied, or not_leader if another term's entry landed
///   (query_atom, index_t, std::string)    -> std::string: state_machine::query once applied >= index
///   (deposed_atom, term_t)                the node lost leadership of that term: its waiting
///                                          writes fail with unavailable (outcome unknown)
/// Sends (applied_atom, index_t) to `node` after each batch.
caf::actor spawn_applier(caf::actor_system& sys, caf::actor node,
                         std::unique_ptr<state_machine> sm, index_t applied, node_id id = no_node,
                         std::function<void(const node_event&)> observer = {});

} // namespace raft
