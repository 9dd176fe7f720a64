// The CAF scheduler settings we recommend for a node's actor_system: the CLI and the benchmarks
// use them, and embedders should call tune_scheduler before constructing their actor_system.
#pragma once

#include <cstddef>

#include <caf/fwd.hpp>

namespace raft {

/// CAF's work-stealing workers spin through hundreds of polls, then sleep 50 us at a time,
/// before they wait on their queue. On a small machine that costs an idle 3-node cluster half a
/// core and a busy one up to a third of its CPU per write (bench/HISTORY.md). We keep ten polls,
/// skip the sleeping phase and wait right away.
///
/// `max_workers` caps the worker threads; 0 means one per core. (CAF's own choice is at least
/// four. A worker beyond the cores only sleeps more: an actor woken by a message waits in the
/// queue of the busy worker that sent it until another worker steals it, and a sleeping one
/// looks only every 10 ms. With three in-process nodes on two cores, four workers put the p99
/// at 11 ms where two kept it at 5 ms; bench/HISTORY.md, session 13.)
/// A message between actors on one busy worker costs no thread wake-up, and on the
/// virtual machine we measure on, a wake-up costs a hypercall (bench/HISTORY.md, sessions 9 and
/// 11). The CLI runs a node on one: its snapshot writers, and its storage while it syncs, have
/// threads of their own (unsynced storage never blocks for long), and the built-in KV store
/// captures a snapshot as a view, not a copy, so nothing it does holds the worker for long,
/// except restoring a large snapshot that a lagging follower installs,
/// while it is out of the quorum anyway. An embedder whose state machine copies a large state in
/// snapshot() should keep two, so that heartbeats go on meanwhile. A client needs one. A process
/// hosting several nodes is best served by one per core.
/// Values given later (config file, command line) still win.
void tune_scheduler(caf::actor_system_config& cfg, size_t max_workers = 0);

} // namespace raft
