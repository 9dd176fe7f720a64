// One place lists what crosses process boundaries: both sides must register the same names.
#include "messages/registry.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/message.hpp>

#include "messages/append.hpp"
#include "messages/errc.hpp"
#include "messages/hard_state.hpp"
#include "messages/install_snapshot.hpp"
#include "messages/kv.hpp"
#include "messages/log_entry.hpp"
#include "messages/membership_change.hpp"
#include "messages/node_status.hpp"
#include "messages/snapshot_meta.hpp"
#include "messages/stored_state.hpp"
#include "messages/vote.hpp"

namespace raft {

void add_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<log_id>("raft.log_id");
  cfg.add_message_type<log_entry>("raft.log_entry");
  cfg.add_message_type<log_entries>("raft.log_entries");
  cfg.add_message_type<membership>("raft.membership");
  cfg.add_message_type<hard_state>("raft.hard_state");
  cfg.add_message_type<snapshot_meta>("raft.snapshot_meta");
  cfg.add_message_type<stored_state>("raft.stored_state");
  cfg.add_message_type<vote_request>("raft.vote_request");
  cfg.add_message_type<vote_response>("raft.vote_response");
  cfg.add_message_type<append_request>("raft.append_request");
  cfg.add_message_type<append_response>("raft.append_response");
  cfg.add_message_type<install_snapshot_request>("raft.install_snapshot_request");
  cfg.add_message_type<install_snapshot_response>("raft.install_snapshot_response");
  cfg.add_message_type<node_status>("raft.node_status");
  cfg.add_message_type<membership_change>("raft.membership_change");
  cfg.add_message_type<timeout_now>("raft.timeout_now");
  cfg.add_message_type<kv_command>("raft.kv_command");
  cfg.add_message_type<kv_result>("raft.kv_result");
  // CAF 0.17's add_error_category<T> does not compile; give the renderer explicitly.
  cfg.add_error_category(errc_category,
                         [](uint8_t code, caf::atom_value, const caf::message& ctx) {
                           auto s = "raft::" + to_string(static_cast<errc>(code));
                           if (!ctx.empty())
                             s += caf::to_string(ctx);
                           return s;
                         });
}

} // namespace raft
