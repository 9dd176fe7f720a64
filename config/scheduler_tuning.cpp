// See scheduler_tuning.hpp.
#include "config/scheduler_tuning.hpp"

#include <caf/actor_system_config.hpp>

namespace raft {

void tune_scheduler(caf::actor_system_config& cfg) {
  cfg.set("work-stealing.aggressive-poll-attempts", size_t{10});
  cfg.set("work-stealing.moderate-poll-attempts", size_t{10});
}

} // namespace raft
