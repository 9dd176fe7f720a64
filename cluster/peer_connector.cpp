// Connect, monitor, reconnect: the peer connector's loop. A dropped connection (peer killed, or
// hung past the middleman's connection timeout) yields a down_msg and a new connect attempt.
#include "cluster/peer_connector.hpp"

#include <algorithm>
#include <cstdio>
#include <set>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/node.hpp"

namespace raft::cli {

namespace {

using retry_atom = caf::atom_constant<caf::atom("retry")>;

struct connector_state {
  static inline const char* name = "peer_connector";
  node_id id = no_node;
  endpoint where;
  connector_options opts;
  caf::actor node;
  caf::actor current;  // the live proxy, if connected
  // The proxy that died last. The middleman caches (host, port) -> proxy until *it* sees the
  // disconnect, so a connect right after our down_msg may return this dead proxy again. We keep
  // a strong reference so the pointer comparison cannot be fooled by address reuse; comparing
  // node ids instead would wrongly reject a SIGCONTed peer, which keeps its node id.
  caf::strong_actor_ptr last_dead;
  caf::timespan backoff{0};
  uint64_t epoch = 0;       // ignores stale retry ticks
  bool reported_failure = false;
};

using connector_actor = caf::stateful_actor<connector_state>;

void schedule(connector_actor* self, caf::timespan delay) {
  auto& st = self->state;
  self->delayed_send(self, delay, retry_atom::value, ++st.epoch);
}

void schedule_backoff(connector_actor* self) {
  auto& st = self->state;
  st.backoff = std::min(st.opts.max_backoff,
                        std::max(st.opts.min_backoff, st.backoff * 2));
  schedule(self, st.backoff);
}

void adopt(connector_actor* self, caf::actor peer) {
  auto& st = self->state;
  st.current = std::move(peer);
  st.backoff = caf::timespan{0};
  st.reported_failure = false;
  self->monitor(st.current);
  self->send(st.node, peer_atom::value, st.id, st.current);
  if (st.opts.verbose)
    std::fprintf(stderr, "caf-raft: connected to peer %llu at %s\n",
                 static_cast<unsigned long long>(st.id), st.where.to_string().c_str());
}

// Asks the peer for its id before handing it to the node: a wrong address in --members (or a
// port taken over by another node) must not make the node talk to the wrong peer.
void verify_and_adopt(connector_actor* self, caf::actor peer) {
  auto& st = self->state;
  self->request(peer, st.opts.connect_timeout, status_atom::value)
    .then(
      [=](const node_status& status) {
        auto& st = self->state;
        if (st.current)
          return;
        if (status.id != st.id) {
          if (!st.reported_failure)
            std::fprintf(stderr, "caf-raft: %s serves node %llu, not peer %llu; check --members\n",
                         st.where.to_string().c_str(),
                         static_cast<unsigned long long>(status.id),
                         static_cast<unsigned long long>(st.id));
          st.reported_failure = true;
          st.backoff = st.opts.max_backoff;
          schedule(self, st.opts.max_backoff);
          return;
        }
        adopt(self, peer);
      },
      [=](caf::error&) { schedule_backoff(self); });
}

void try_connect(connector_actor* self) {
  auto& st = self->state;
  auto mm = self->system().middleman().actor_handle();
  self->request(mm, st.opts.connect_timeout, caf::connect_atom::value, st.where.host,
                st.where.port)
    .then(
      [=](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
        auto& st = self->state;
        if (st.current)
          return;  // a concurrent attempt won (cannot happen with one epoch, but be safe)
        if (!ptr || ptr == st.last_dead) {
          // Nothing published there (the peer is still starting) or the cached dead proxy.
          schedule(self, st.opts.min_backoff * 2);
          return;
        }
        verify_and_adopt(self, caf::actor_cast<caf::actor>(std::move(ptr)));
      },
      [=](caf::error& err) {
        auto& st = self->state;
        if (st.opts.verbose && !st.reported_failure) {
          st.reported_failure = true;
          std::fprintf(stderr, "caf-raft: peer %llu at %s not reachable yet (%s); retrying\n",
                       static_cast<unsigned long long>(st.id), st.where.to_string().c_str(),
                       self->system().render(err).c_str());
        }
        schedule_backoff(self);
      });
}

caf::behavior connector(connector_actor* self, caf::actor node, node_id id, endpoint where,
                        connector_options opts) {
  auto& st = self->state;
  st.node = std::move(node);
  st.id = id;
  st.where = std::move(where);
  st.opts = opts;
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    if (!st.current || dm.source != st.current.address())
      return;
    if (st.opts.verbose)
      std::fprintf(stderr, "caf-raft: lost connection to peer %llu (%s); reconnecting\n",
                   static_cast<unsigned long long>(st.id), self->system().render(dm.reason).c_str());
    st.last_dead = caf::actor_cast<caf::strong_actor_ptr>(st.current);
    st.current = nullptr;
    st.reported_failure = false;
    schedule(self, st.opts.min_backoff);
  });
  try_connect(self);
  return {
    [=](retry_atom, uint64_t epoch) {
      auto& st = self->state;
      if (epoch == st.epoch && !st.current)
        try_connect(self);
    },
  };
}

} // namespace

caf::actor spawn_peer_connector(caf::actor_system& sys, caf::actor node, node_id id,
                                endpoint where, connector_options opts) {
  return sys.spawn(connector, std::move(node), id, std::move(where), opts);
}

} // namespace raft::cli
