// See scheduler_tuning.hpp.
#include "config/scheduler_tuning.hpp"

#include <algorithm>
#include <thread>

#include <caf/actor_system_config.hpp>

namespace raft {

void tune_scheduler(caf::actor_system_config& cfg, size_t max_workers) {
  if (max_workers == 0)
    max_workers = std::max(1u, std::thread::hardware_concurrency());
  cfg.set("scheduler.max-threads", max_workers);
  cfg.set("work-stealing.aggressive-poll-attempts", size_t{10});
  // No moderate phase: its 50 us sleeps cost a context switch each, and on a virtual machine
  // that was the largest single item in a node's profile. An idle worker goes straight to
  // waiting on its queue. A message from outside the workers wakes it; one from an actor on
  // another worker does not (the receiver waits in that worker's queue to be stolen), which is
  // why we keep no more workers than cores.
  cfg.set("work-stealing.moderate-poll-attempts", size_t{0});
}

} // namespace raft
