// The peer directory actor. Configurations arrive in the order the node produced them (the
// observer's messages and the status reply come from the same node actor), so the newest message
// always describes the configuration in effect and a plain "make it so" per message is enough.
#include "cluster/peer_directory.hpp"

#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include "config/cluster_spec.hpp"

namespace raft::cli {

namespace {

using namespace std::chrono_literals;
using attach_atom = caf::atom_constant<caf::atom("attach")>;
using config_atom = caf::atom_constant<caf::atom("config")>;
using retry_atom = caf::atom_constant<caf::atom("retry")>;

struct peer_link {
  endpoint where;
  caf::actor connector;
};

struct directory_state {
  static inline const char* name = "peer_directory";
  node_id self = no_node;
  connector_options opts;
  caf::actor node;                    // set by attach
  bool synced_once = false;           // the first sync is the start-up, not a change
  std::map<node_id, peer_link> peers;
  std::set<std::string> bad_addresses;  // reported once each
};

using directory_actor = caf::stateful_actor<directory_state>;

void log_line(const std::string& line) {
  std::fprintf(stderr, "caf-raft: %s\n", line.c_str());
}

// Makes the connectors match `config`: one per other member with a usable address.
void sync(directory_actor* self, const membership& config) {
  auto& st = self->state;
  std::map<node_id, endpoint> wanted;
  for (auto id : config.all_members()) {
    if (id == st.self)
      continue;
    auto addr = config.addresses.find(id);
    auto text = addr == config.addresses.end() ? std::string{} : addr->second;
    auto ep = parse_endpoint(text);
    if (!ep) {
      // In-process peers have no address; a CLI node cannot reach them at all.
      if (st.bad_addresses.insert(std::to_string(id) + "=" + text).second)
        log_line("member " + std::to_string(id) + " has no usable address (\"" + text
                 + "\"); not connecting to it");
      continue;
    }
    wanted.emplace(id, std::move(*ep));
  }
  for (auto i = st.peers.begin(); i != st.peers.end();) {
    auto w = wanted.find(i->first);
    if (w != wanted.end() && w->second == i->second.where) {
      ++i;
      continue;
    }
    log_line("member " + std::to_string(i->first) + " at " + i->second.where.to_string()
             + " left the configuration; disconnecting");
    self->send_exit(i->second.connector, caf::exit_reason::user_shutdown);
    i = st.peers.erase(i);
  }
  for (auto& [id, where] : wanted) {
    if (st.peers.count(id) > 0)
      continue;
    if (st.synced_once)
      log_line("member " + std::to_string(id) + " at " + where.to_string()
               + " joined the configuration; connecting");
    auto c = spawn_peer_connector(self->system(), st.node, id, where, st.opts);
    st.peers.emplace(id, peer_link{where, std::move(c)});
  }
  st.synced_once = true;
}

// Reads the configuration in effect: after a restart it is the stored one, which may differ
// from the --members the process was started with.
void request_config(directory_actor* self) {
  auto& st = self->state;
  self->request(st.node, 5s, status_atom::value)
    .then([=](const node_status& status) { sync(self, status.config); },
          [=](caf::error&) { self->delayed_send(self, 500ms, retry_atom::value); });
}

caf::behavior directory(directory_actor* self, node_id id, connector_options opts) {
  self->state.self = id;
  self->state.opts = opts;
  self->set_exit_handler([=](caf::exit_msg& msg) {
    for (auto& [peer, link] : self->state.peers)
      self->send_exit(link.connector, msg.reason);
    self->state.peers.clear();
    self->quit(msg.reason);
  });
  return {
    [=](attach_atom, caf::actor& node) {
      self->state.node = std::move(node);
      request_config(self);
    },
    [=](retry_atom) { request_config(self); },
    [=](config_atom, const membership& config) {
      // Before attach, the status reply that attach triggers will include this change.
      if (self->state.node)
        sync(self, config);
    },
  };
}

} // namespace

caf::actor spawn_peer_directory(caf::actor_system& sys, node_id self, connector_options opts) {
  return sys.spawn(directory, self, opts);
}

void attach_peer_directory(const caf::actor& directory, const caf::actor& node) {
  caf::anon_send(directory, attach_atom::value, node);
}

std::function<void(const node_event&)> peer_directory_observer(const caf::actor& directory) {
  return [directory](const node_event& ev) {
    if (ev.kind == node_event::config_changed && ev.config != nullptr)
      caf::anon_send(directory, config_atom::value, *ev.config);
  };
}

} // namespace raft::cli
