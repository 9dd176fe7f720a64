// The CAF scheduler settings we recommend for a node's actor_system: the CLI and the benchmarks
// use them, and embedders should call tune_scheduler before constructing their actor_system.
#pragma once

#include <caf/fwd.hpp>

namespace raft {

/// CAF's work-stealing workers spin through hundreds of polls, then sleep 50 us at a time,
/// before they wait on their queue. On a small machine that costs an idle 3-node cluster half a
/// core and a busy one up to a third of its CPU per write (BENCHMARKS.md). We keep ten polls,
/// skip the sleeping phase and wait right away. Values given later (config file, command line)
/// still win.
void tune_scheduler(caf::actor_system_config& cfg);

} // namespace raft
