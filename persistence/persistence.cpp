// The persistence actor: stages writes with their response promises and group-commits everything
// queued in its mailbox in one store commit (one flush) before acknowledging any of it.
#include "persistence/persistence.hpp"

#include <cstdio>
#include <memory>
#include <variant>

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/message_handler.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "messages/errc.hpp"
#include "persistence/log_store.hpp"

namespace raft {

namespace {

// Group commit. The first write staged after a flush sends `flush_atom` to the actor itself; the
// mailbox is FIFO, so every request already queued behind that first write is staged before the
// flush message is processed, and all of them share one transaction and one sync. Under load the
// batch size adapts to the sync latency: the longer a commit takes, the more requests queue up
// for the next one. Replies go out in request order after the commit.
//
// Read visibility: reads (load, read, stats) are answered immediately from a read transaction and
// see only committed (= acknowledged) state, never staged writes. A Raft node only reads entries
// it has already had acknowledged (a leader sends entries it persisted; a follower does not read
// entries back before the append reply), so serving reads from committed state is enough, and it
// keeps reads from forcing premature flushes that would shrink the batches.
struct persistence_state {
  static inline const char* name = "raft.persistence";

  using promise = std::variant<std::monostate,                       // commit: no reply
                               caf::typed_response_promise<log_id>,  // append, truncate
                               caf::typed_response_promise<hard_state>,
                               caf::typed_response_promise<index_t>>;  // purge

  std::shared_ptr<log_store> store;
  std::shared_ptr<std::atomic<bool>> power_cut;  // see storage_options
  write_batch batch;
  std::vector<promise> promises;  // promises[i] answers batch.ops()[i]
  bool flush_scheduled = false;

  bool powered() const {
    return !power_cut || !power_cut->load();
  }

  ~persistence_state() {
    // Killed with writes staged: commit them anyway (best effort) so a staged commit index is not
    // lost; nobody is waiting for an acknowledgment any more, and storing an unacknowledged
    // write is always allowed in Raft.
    if (store && !batch.empty() && powered()) {
      auto res = store->commit(batch);
      if (!res)
        std::fprintf(stderr, "raft.persistence: final flush failed: %s\n",
                     to_string(static_cast<errc>(res.error().code())).c_str());
    }
  }
};

using self_ptr = persistence_actor::stateful_pointer<persistence_state>;

void schedule_flush(self_ptr self) {
  if (self->state.flush_scheduled)
    return;
  self->state.flush_scheduled = true;
  // flush_atom is internal and not part of persistence_actor's interface: a typed actor may not
  // send() it to itself, so it goes out anonymously to the untyped handle.
  caf::anon_send(caf::actor_cast<caf::actor>(self), flush_atom::value);
}

void flush(self_ptr self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  if (st.batch.empty())
    return;
  if (!st.powered()) {
    // The machine is off: nothing reaches the disk, and nobody hears back.
    st.batch.clear();
    st.promises.clear();
    return;
  }
  // Take the batch first: delivering promises never re-enters this actor, but keeping the state
  // clean before any callback runs costs nothing.
  write_batch batch = std::move(st.batch);
  auto promises = std::move(st.promises);
  st.batch.clear();
  st.promises.clear();
  auto results = st.store->commit(batch);
  for (size_t i = 0; i < promises.size(); ++i) {
    auto& p = promises[i];
    const auto& op = batch.ops()[i];
    auto fail = [&](const caf::error& err) {
      std::visit(
        [&](auto& rp) {
          if constexpr (!std::is_same_v<std::decay_t<decltype(rp)>, std::monostate>)
            rp.deliver(err);
        },
        p);
    };
    if (!results) {
      fail(results.error());
      continue;
    }
    auto& r = (*results)[i];
    if (r.error) {
      fail(r.error);
      continue;
    }
    switch (op.kind) {
      case write_batch::op_kind::append:
      case write_batch::op_kind::truncate:
        std::get<caf::typed_response_promise<log_id>>(p).deliver(r.last);
        break;
      case write_batch::op_kind::hard_state:
        std::get<caf::typed_response_promise<hard_state>>(p).deliver(r.hard);
        break;
      case write_batch::op_kind::purge:
        std::get<caf::typed_response_promise<index_t>>(p).deliver(r.first_index);
        break;
      case write_batch::op_kind::commit:
        break;
    }
  }
}

template <class T>
caf::result<T> from_expected(caf::expected<T>&& x) {
  if (!x)
    return std::move(x.error());
  return std::move(*x);
}

persistence_actor::behavior_type persistence_impl(self_ptr self, std::shared_ptr<log_store> store,
                                                   std::shared_ptr<std::atomic<bool>> power_cut) {
  self->state.store = std::move(store);
  self->state.power_cut = std::move(power_cut);
  // Type-checked against the interface first, then extended by the internal flush handler.
  persistence_actor::behavior_type checked{
    [=](load_atom) -> caf::result<stored_state> {
      return from_expected(self->state.store->load());
    },
    [=](append_atom, log_entries& xs) {
      auto rp = self->make_response_promise<log_id>();
      self->state.batch.append(std::move(xs));
      self->state.promises.emplace_back(rp);
      schedule_flush(self);
      return rp;
    },
    [=](append_atom, const entry_batch& xs) {
      auto rp = self->make_response_promise<log_id>();
      self->state.batch.append(xs.entries);
      self->state.promises.emplace_back(rp);
      schedule_flush(self);
      return rp;
    },
    [=](vote_atom, const hard_state& hs) {
      auto rp = self->make_response_promise<hard_state>();
      self->state.batch.save_hard_state(hs);
      self->state.promises.emplace_back(rp);
      schedule_flush(self);
      return rp;
    },
    [=](commit_atom, index_t idx) {
      // Rides along with the next write batch; a commit index is only a restart hint.
      self->state.batch.set_commit(idx);
      self->state.promises.emplace_back(std::monostate{});
    },
    [=](read_atom, index_t start, index_t stop, uint64_t max_bytes) -> caf::result<log_entries> {
      return from_expected(self->state.store->entries(start, stop, max_bytes));
    },
    [=](truncate_atom, index_t from) {
      auto rp = self->make_response_promise<log_id>();
      self->state.batch.truncate(from);
      self->state.promises.emplace_back(rp);
      schedule_flush(self);
      return rp;
    },
    [=](purge_atom, const snapshot_meta& meta, index_t upto) {
      auto rp = self->make_response_promise<index_t>();
      self->state.batch.purge(meta, upto);
      self->state.promises.emplace_back(rp);
      schedule_flush(self);
      return rp;
    },
    [=](stats_atom) -> caf::result<uint64_t, uint64_t, uint64_t, uint64_t> {
      auto c = self->state.store->counters();
      return {c.txns, c.syncs, c.entries, c.bytes};
    },
  };
  caf::message_handler handlers{checked.unbox().as_behavior_impl()};
  return {persistence_actor::behavior_type::unsafe_init{},
          handlers.or_else([=](flush_atom) { flush(self); })};
}

} // namespace

caf::expected<persistence_actor> spawn_persistence(caf::actor_system& sys,
                                                   const storage_options& opts, bool detached) {
  auto store = log_store::open(opts);
  if (!store)
    return std::move(store.error());
  auto ptr = std::make_shared<log_store>(std::move(*store));
  // Detached: commits block on fdatasync, which must not stall a scheduler worker thread.
  if (detached)
    return sys.spawn<caf::detached>(persistence_impl, std::move(ptr), opts.power_cut);
  return sys.spawn(persistence_impl, std::move(ptr), opts.power_cut);
}

} // namespace raft
