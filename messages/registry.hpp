// Registers every caf-raft message type and the "raft" error category with an actor system config.
#pragma once

#include <caf/fwd.hpp>

namespace raft {

/// Call before constructing the actor_system; required for CAF remoting between nodes.
void add_message_types(caf::actor_system_config& cfg);

} // namespace raft
