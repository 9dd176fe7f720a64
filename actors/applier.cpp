// Apply actor. Proposers reach it by delegation from the node, so a result travels straight from
// here to the client; a promise whose entry was overwritten by another leader fails as not_leader
// (provably not applied), while promises still pending at shutdown fail as unavailable (unknown).
#include "actors/applier.hpp"

#include <map>

#include <caf/all.hpp>

#include "messages/atoms.hpp"
#include "messages/errc.hpp"
#include "messages/internal.hpp"
#include "messages/log_entry.hpp"

namespace raft {

namespace {

struct applier_state {
  static inline const char* name = "raft.applier";
  std::unique_ptr<state_machine> sm;
  caf::actor node;
  index_t applied = 0;
  node_id id = no_node;
  std::function<void(const node_event&)> observer;
  struct waiting_write {
    term_t term;
    caf::response_promise rp;
  };
  std::map<index_t, waiting_write> writes;
  std::multimap<index_t, std::pair<caf::response_promise, std::string>> reads;

  void serve_reads() {
    auto end = reads.upper_bound(applied);
    for (auto it = reads.begin(); it != end; ++it)
      it->second.first.deliver(sm->query(it->second.second));
    reads.erase(reads.begin(), end);
  }

  void fail_all(const caf::error& write_err, const caf::error& read_err) {
    for (auto& kv : writes)
      kv.second.rp.deliver(write_err);
    writes.clear();
    for (auto& kv : reads)
      kv.second.first.deliver(read_err);
    reads.clear();
  }
};

caf::behavior applier(caf::stateful_actor<applier_state>* self, caf::actor node,
                      std::shared_ptr<std::unique_ptr<state_machine>> sm, index_t applied,
                      node_id id, std::function<void(const node_event&)> observer) {
  self->state.sm = std::move(*sm);
  self->state.id = id;
  self->state.observer = std::move(observer);
  self->state.node = std::move(node);
  self->state.applied = applied;
  self->set_exit_handler([self](caf::exit_msg& msg) {
    self->state.fail_all(make_error(errc::unavailable, "node stopped; outcome unknown"),
                         make_error(errc::shutting_down, "node stopped"));
    self->quit(msg.reason);
  });
  return {
    [self](apply_atom, const log_entries& xs) {
      auto& st = self->state;
      for (const auto& e : xs) {
        if (e.index <= st.applied)
          continue;  // already applied (a duplicate feed after a restart or re-send)
        if (e.index != st.applied + 1) {
          // A gap would break "exactly once, in order": refuse and let the node re-feed.
          self->send(st.node, applied_atom::value, st.applied);
          return;
        }
        std::string result;
        if (e.kind == entry_kind::normal)
          result = st.sm->apply(e.index, e.payload);
        st.applied = e.index;
        if (st.observer) {
          node_event ev{node_event::applied, st.id, {}, e.term, e.index};
          ev.entry = &e;
          st.observer(ev);
        }
        auto w = st.writes.find(e.index);
        if (w != st.writes.end()) {
          if (w->second.term == e.term)
            w->second.rp.deliver(std::move(result));
          else
            w->second.rp.deliver(make_error(errc::not_leader, node_id{0},
                                            "entry replaced by another leader; not applied"));
          st.writes.erase(w);
        }
      }
      // Writes waiting on indexes that were applied with other entries are resolved above;
      // drop any that fell behind (they were answered already or never existed).
      st.serve_reads();
      self->send(st.node, applied_atom::value, st.applied);
    },
    [self](deposed_atom, term_t term) {
      // Our node lost leadership of `term`: its pending writes may or may not commit under the
      // next leader, so their clients learn at once that the outcome is unknown.
      auto& st = self->state;
      for (auto it = st.writes.begin(); it != st.writes.end();) {
        if (it->second.term == term) {
          it->second.rp.deliver(make_error(errc::unavailable, "leader stepped down; outcome unknown"));
          it = st.writes.erase(it);
        } else {
          ++it;
        }
      }
    },
    [self](await_atom, index_t index, term_t term) -> caf::result<std::string> {
      auto& st = self->state;
      if (index <= st.applied)
        return make_error(errc::unavailable, "entry applied before the request was registered");
      auto rp = self->make_response_promise();
      st.writes.emplace(index, applier_state::waiting_write{term, rp});
      return caf::delegated<std::string>();
    },
    [self](query_atom, index_t read_index, std::string& request) -> caf::result<std::string> {
      auto& st = self->state;
      if (read_index <= st.applied)
        return st.sm->query(request);
      auto rp = self->make_response_promise();
      st.reads.emplace(read_index, std::make_pair(rp, std::move(request)));
      return caf::delegated<std::string>();
    },
  };
}

} // namespace

caf::actor spawn_applier(caf::actor_system& sys, caf::actor node,
                         std::unique_ptr<state_machine> sm, index_t applied, node_id id,
                         std::function<void(const node_event&)> observer) {
  // spawn() copies its arguments; a shared_ptr carries the move-only state machine through.
  auto holder = std::make_shared<std::unique_ptr<state_machine>>(std::move(sm));
  return sys.spawn(applier, std::move(node), std::move(holder), applied, id,
                   std::move(observer));
}

} // namespace raft
