// Apply actor. The node hands it each committed batch together with the clients waiting for
// those entries, so a result travels straight from here to its client; reads wait here for their
// read index. It also decides when to compact: it captures the state machine between two applies
// and hands the capture to a writer actor, so applying never waits for the snapshot file.
#include "actors/applier.hpp"

#include <map>
#include <optional>

#include <caf/all.hpp>

#include "messages/atoms.hpp"
#include "messages/codec.hpp"
#include "messages/errc.hpp"
#include "messages/internal.hpp"
#include "messages/log_entry.hpp"
#include "persistence/snapshot_store.hpp"

namespace raft {

namespace {

struct applier_state {
  static inline const char* name = "raft.applier";
  std::unique_ptr<state_machine> sm;
  caf::actor node;
  applier_options opts;
  snapshot_store snapshots;
  index_t applied = 0;
  term_t applied_term = 0;
  membership config;             // as of `applied`
  index_t snapshot_index = 0;    // last snapshot taken or restored
  uint64_t bytes_since_snapshot = 0;
  uint64_t snapshot_size = 0;    // bytes of the last snapshot taken or restored
  caf::actor writer;             // the snapshot writer at work, if any (monitored)
  std::optional<caf::error> stopping;  // exit requested: we wait for the writer first
  std::multimap<index_t, std::pair<caf::response_promise, std::string>> reads;
  // apply_commands() scratch, kept for its capacity.
  std::vector<const std::string*> commands;
  std::vector<std::string> results;

  void serve_reads() {
    auto end = reads.upper_bound(applied);
    for (auto it = reads.begin(); it != end; ++it)
      it->second.first.deliver(sm->query(it->second.second));
    reads.erase(reads.begin(), end);
  }

  void fail_reads(const caf::error& read_err) {
    for (auto& kv : reads)
      kv.second.first.deliver(read_err);
    reads.clear();
  }

  bool snapshot_due() const {
    if (writer || applied <= snapshot_index)
      return false;
    return opts.compaction.due(applied - snapshot_index, bytes_since_snapshot, snapshot_size);
  }

  // Replaces the state with a snapshot file: checksum first, so a damaged file is never
  // half-loaded, then the state machine's own validation.
  caf::error restore(const snapshot_meta& meta) {
    if (auto err = snapshots.verify(meta))
      return err;
    auto in = snapshots.open_stream(meta);
    if (!in)
      return std::move(in.error());
    if (!sm->restore(**in))
      return make_error(errc::storage_corrupt,
                        snapshots.path_of(meta.last)
                          + ": the state machine refused the snapshot's content");
    applied = meta.last.index;
    applied_term = meta.last.term;
    config = meta.config;
    snapshot_index = meta.last.index;
    snapshot_size = meta.size;
    bytes_since_snapshot = 0;
    if (opts.observer)
      opts.observer(node_event{node_event::snapshot_restored, opts.id, {}, meta.last.term,
                               meta.last.index});
    return caf::none;
  }
};

using self_ptr = caf::stateful_actor<applier_state>*;

// Runs the commands among the entries that follow `applied` without a gap through the state
// machine, each run between two other entries in one apply_batch() call. Leaves a result per
// such entry in st.results, empty for entries that are not commands. Fails if the state machine
// answered a run with a different number of results.
caf::error apply_commands(applier_state& st, const log_entries& xs) {
  st.results.clear();
  auto next = st.applied + 1;
  auto e = xs.begin();
  while (e != xs.end() && e->index < next)
    ++e;
  // The commands collected so far are the run that ends right before `next`.
  auto flush = [&st, &next]() -> caf::error {
    if (st.commands.empty())
      return caf::none;
    auto first = next - st.commands.size();
    auto expected = st.results.size() + st.commands.size();
    st.sm->apply_batch(first, st.commands, st.results);
    st.commands.clear();
    if (st.results.size() != expected)
      return make_error(errc::invalid_argument,
                        "state machine: apply_batch did not give one result per command", first,
                        expected, st.results.size());
    return caf::none;
  };
  for (; e != xs.end() && e->index == next; ++e, ++next) {
    if (e->kind == entry_kind::normal) {
      st.commands.push_back(&e->payload.str());
      continue;
    }
    if (auto err = flush())
      return err;
    st.results.emplace_back();
  }
  return flush();
}

// Writes one captured state to a snapshot file, reports to `applier` and ends. Spawned detached
// in production, so a large state streams to disk without holding up any other actor.
caf::behavior snapshot_writer(caf::event_based_actor* self, caf::actor applier,
                              std::shared_ptr<state_snapshot> capture, snapshot_store store,
                              log_id last, membership config) {
  auto result = [&]() -> caf::expected<snapshot_meta> {
    auto w = store.create();
    if (!w)
      return std::move(w.error());
    if (capture && !capture->write((*w)->stream()))
      return make_error(errc::storage_io, "the state machine could not write its snapshot");
    return (*w)->commit(last, config);
  }();
  if (result)
    self->send(applier, snapshot_atom::value, std::move(*result));
  else
    self->send(applier, snapshot_atom::value, std::move(result.error()));
  self->quit();
  return {};
}

void take_snapshot(self_ptr self) {
  auto& st = self->state;
  std::shared_ptr<state_snapshot> capture = st.sm->snapshot();
  log_id last{st.applied_term, st.applied};
  auto me = caf::actor_cast<caf::actor>(self);
  if (st.opts.detached)
    st.writer = self->system().spawn<caf::detached>(snapshot_writer, me, std::move(capture),
                                                    st.snapshots, last, st.config);
  else
    st.writer = self->system().spawn(snapshot_writer, me, std::move(capture), st.snapshots, last,
                                     st.config);
  self->monitor(st.writer);
}

caf::behavior applier(self_ptr self, caf::actor node,
                      std::shared_ptr<std::unique_ptr<state_machine>> sm, applier_options opts) {
  auto& st = self->state;
  st.sm = std::move(*sm);
  st.node = std::move(node);
  st.opts = std::move(opts);
  st.snapshots = snapshot_store{st.opts.snapshot_dir};
  st.config = st.opts.config;
  if (st.opts.start.last.index > 0) {
    if (auto err = st.restore(st.opts.start)) {
      self->quit(err);
      return {};
    }
  }
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& st = self->state;
    st.fail_reads(make_error(errc::shutting_down, "node stopped"));
    // A snapshot writer cannot be interrupted mid-file; ending after it means nothing writes
    // into the data dir once the node is down.
    if (st.writer) {
      st.stopping = msg.reason;
      return;
    }
    self->quit(msg.reason);
  });
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    if (!st.writer || dm.source != st.writer.address())
      return;
    st.writer = nullptr;  // its report (snapshot_atom) arrived before this
    if (st.stopping)
      self->quit(*st.stopping);
  });
  return {
    [self](apply_atom, const log_entries& xs, waiting_writes& ws) {
      auto& st = self->state;
      auto w = ws.list.begin();
      auto unknown = [](const char* why) { return make_error(errc::unavailable, why); };
      // A write's entries are all in this batch: a write whose head was applied before cannot
      // get all its results (the node avoids this; a client must never get a partial answer).
      for (; w != ws.list.end() && w->first <= st.applied; ++w)
        w->rp.deliver(unknown("entries applied before; outcome unknown"));
      if (auto err = apply_commands(st, xs)) {
        // A state machine that breaks its contract leaves the results unknown.
        for (; w != ws.list.end(); ++w)
          w->rp.deliver(unknown("apply failed; outcome unknown"));
        self->quit(err);
        return;
      }
      size_t next_result = 0;
      std::vector<std::string> results;  // of the batch write *w, so far
      for (const auto& e : xs) {
        if (e.index <= st.applied)
          continue;  // already applied (a duplicate feed after a restart or re-send)
        if (e.index != st.applied + 1) {
          // The node feeds from `applied + 1` on, in order; a gap is a bug. Applying past it
          // would break "exactly once, in order", so we stop (and with us the node, linked).
          for (; w != ws.list.end(); ++w)
            w->rp.deliver(unknown("apply batch refused; outcome unknown"));
          self->quit(make_error(errc::log_conflict, "apply: an entry is missing before this one",
                                st.applied + 1, e.index));
          return;
        }
        auto result = std::move(st.results[next_result++]);
        if (e.kind == entry_kind::config) {
          if (auto m = decode<membership>(e.payload))
            st.config = std::move(*m);
        }
        st.applied = e.index;
        st.applied_term = e.term;
        st.bytes_since_snapshot += e.payload.size();
        if (st.opts.observer) {
          node_event ev{node_event::applied, st.opts.id, {}, e.term, e.index};
          ev.entry = &e;
          st.opts.observer(ev);
        }
        while (w != ws.list.end() && w->last < e.index) {
          (w++)->rp.deliver(unknown("entry skipped; outcome unknown"));
          results.clear();
        }
        if (w == ws.list.end() || w->first > e.index)
          continue;
        if (!w->batch) {
          (w++)->rp.deliver(std::move(result));
          continue;
        }
        results.push_back(std::move(result));
        if (e.index == w->last) {
          (w++)->rp.deliver(std::move(results));
          results = {};
        }
      }
      for (; w != ws.list.end(); ++w)
        w->rp.deliver(unknown("entry not in the batch; outcome unknown"));
      st.serve_reads();
      self->send(st.node, applied_atom::value, st.applied);
      if (st.snapshot_due())
        take_snapshot(self);
    },
    [self](snapshot_atom, snapshot_meta& meta) {
      auto& st = self->state;
      if (meta.last.index <= st.snapshot_index)
        return;  // a snapshot was installed meanwhile; this one is already obsolete
      st.snapshot_index = meta.last.index;
      st.snapshot_size = meta.size;
      st.bytes_since_snapshot = 0;
      self->send(st.node, snapshot_atom::value, std::move(meta));
    },
    [self](snapshot_atom, caf::error& err) {
      // Compaction is retried after the next threshold; the node reports the failure.
      auto& st = self->state;
      st.bytes_since_snapshot = 0;
      st.snapshot_index = st.applied;
      self->send(st.node, snapshot_atom::value, std::move(err));
    },
    [self](install_atom, const snapshot_meta& meta) {
      auto& st = self->state;
      if (meta.last.index <= st.applied)
        return;
      if (auto err = st.restore(meta)) {
        self->quit(err);
        return;
      }
      st.serve_reads();
      self->send(st.node, applied_atom::value, st.applied);
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
                         std::unique_ptr<state_machine> sm, applier_options opts) {
  // spawn() copies its arguments; a shared_ptr carries the move-only state machine through.
  auto holder = std::make_shared<std::unique_ptr<state_machine>>(std::move(sm));
  return sys.spawn(applier, std::move(node), std::move(holder), std::move(opts));
}

} // namespace raft
