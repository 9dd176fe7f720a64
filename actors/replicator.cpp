// Replicator actor. New entries arrive as shared batches and wait in a bounded buffer; entries
// that fell out of it (slow or returning followers) are read back from storage in byte-bounded
// chunks. Replies reach this actor through the node, which has already checked their term.
#include "actors/replicator.hpp"

#include <deque>

#include <caf/all.hpp>

#include "core/log_matching.hpp"
#include "core/progress.hpp"
#include "messages/append.hpp"
#include "messages/errc.hpp"
#include "messages/internal.hpp"

namespace raft {

namespace {

// Heartbeat ticks without progress while requests are in flight before we assume a loss.
constexpr int stall_ticks = 4;

struct replicator_state {
  static inline const char* name = "raft.replicator";
  replicator_options opts;
  caf::actor peer;
  persistence_actor store;
  log_terms log;
  index_t commit = 0;
  std::unique_ptr<progress> prog;
  std::deque<std::shared_ptr<const log_entries>> chunks;  // consecutive, oldest first
  size_t buffered_bytes = 0;
  uint64_t seq = 0;
  bool reading = false;
  caf::actor_clock::time_point last_sent;
  index_t match_at_last_tick = 0;
  int stalled = 0;

  index_t buffer_first() const {
    return chunks.empty() ? log.last().index + 1 : chunks.front()->front().index;
  }

  void trim() {
    // Entries the follower holds are never needed again; a buffer over budget sheds its oldest.
    while (!chunks.empty()
           && (chunks.front()->back().index <= prog->match()
               || (buffered_bytes > opts.max_buffer_bytes && chunks.size() > 1))) {
      for (const auto& e : *chunks.front())
        buffered_bytes -= entry_bytes(e);
      chunks.pop_front();
    }
  }

  // Copies up to the batch limits from the buffer, starting at `from`.
  log_entries collect(index_t from, size_t budget) const {
    log_entries out;
    size_t bytes = 0;
    for (const auto& chunk : chunks) {
      if (chunk->back().index < from)
        continue;
      for (const auto& e : *chunk) {
        if (e.index < from)
          continue;
        if (!out.empty()
            && (out.size() >= opts.max_batch_entries || bytes + entry_bytes(e) > budget))
          return out;
        bytes += entry_bytes(e);
        out.push_back(e);
      }
    }
    return out;
  }
};

using self_ptr = caf::stateful_actor<replicator_state>*;

void send_append(self_ptr self, log_entries entries) {
  auto& st = self->state;
  index_t next = entries.empty() ? st.prog->next() : entries.front().index;
  auto prev_term = st.log.term_at(next - 1);
  if (!prev_term) {
    // The entry before `next` was compacted away: only a snapshot can help this follower.
    st.prog->begin_snapshot(st.log.base().index);
    return;
  }
  size_t bytes = 0;
  for (const auto& e : entries)
    bytes += entry_bytes(e);
  index_t last = entries.empty() ? next - 1 : entries.back().index;
  append_request req{st.opts.term, st.opts.leader, log_id{*prev_term, next - 1},
                     std::move(entries), st.commit, st.seq};
  self->send(st.peer, std::move(req));
  st.prog->sent(last, bytes);
  st.last_sent = self->clock().now();
}

void send_heartbeat(self_ptr self) {
  auto& st = self->state;
  index_t m = std::max(st.prog->match(), st.log.base().index);
  auto t = st.log.term_at(m);
  append_request req{st.opts.term, st.opts.leader, log_id{t.value_or(0), m}, {}, st.commit,
                     st.seq};
  self->send(st.peer, std::move(req));
  st.last_sent = self->clock().now();
}

void pump(self_ptr self) {
  auto& st = self->state;
  while (st.prog->can_send()) {
    index_t next = st.prog->next();
    if (next > st.log.last().index) {
      if (st.prog->state() == progress::mode::probe)
        send_append(self, {});  // an empty probe finds out where the follower stands
      return;
    }
    if (next < st.buffer_first()) {
      if (st.reading)
        return;
      st.reading = true;
      index_t stop = std::min(st.buffer_first(), next + st.opts.max_batch_entries);
      uint64_t budget = std::min<uint64_t>(st.opts.max_batch_bytes, st.prog->byte_budget());
      self->request(st.store, caf::infinite, read_atom::value, next, stop, budget)
        .then(
          [self, next](log_entries& xs) {
            auto& st = self->state;
            st.reading = false;
            if (st.prog->can_send() && st.prog->next() == next && !xs.empty())
              send_append(self, std::move(xs));
            pump(self);
          },
          [self](caf::error& err) {
            auto& st = self->state;
            st.reading = false;
            if (is(err, errc::snapshot_needed))
              st.prog->begin_snapshot(st.log.base().index);
            else
              aout(self) << "replicator " << st.opts.follower << ": read failed: "
                         << self->system().render(err) << "\n";
          });
      return;
    }
    auto budget = std::min<size_t>(st.opts.max_batch_bytes, st.prog->byte_budget());
    auto batch = st.collect(next, budget);
    if (batch.empty())
      return;
    send_append(self, std::move(batch));
  }
}

caf::behavior replicator(self_ptr self, replicator_options opts, caf::actor peer,
                         persistence_actor store, log_terms log, index_t commit) {
  auto& st = self->state;
  st.opts = opts;
  st.peer = std::move(peer);
  st.store = std::move(store);
  st.log = std::move(log);
  st.commit = commit;
  st.prog = std::make_unique<progress>(st.log.last().index + 1, opts.max_inflight_msgs,
                                       opts.max_inflight_bytes);
  self->send(self, tick_atom_t::value);
  return {
    [self](replicate_atom, const entry_batch& batch) {
      auto& st = self->state;
      if (!batch.entries || batch.entries->empty())
        return;
      auto xs = batch.entries;
      if (xs->front().index > st.log.last().index + 1 || xs->back().index <= st.log.last().index)
        return;  // a gap or nothing new: cannot happen on a live leader
      if (xs->front().index <= st.log.last().index) {
        // Overlaps what we already know: keep the new part; the rest is read from storage.
        auto from = st.log.last().index + 1 - xs->front().index;
        xs = std::make_shared<const log_entries>(xs->begin() + from, xs->end());
      }
      for (const auto& e : *xs) {
        st.log.append(e.term, 1);
        st.buffered_bytes += entry_bytes(e);
      }
      st.chunks.push_back(std::move(xs));
      st.trim();
      pump(self);
    },
    [self](commit_atom, index_t commit) { self->state.commit = commit; },
    [self](heartbeat_atom, uint64_t seq) {
      self->state.seq = seq;
      send_heartbeat(self);
    },
    [self](const append_response& resp) {
      auto& st = self->state;
      if (resp.success) {
        if (resp.match.index >= st.prog->match()) {
          st.prog->acked(resp.match.index);
          st.trim();
        } else {
          st.prog->heard();
        }
      } else {
        auto hint = next_after_reject(st.log, st.prog->match(), resp.rejected,
                                      resp.conflict_term, resp.conflict_index);
        st.prog->rejected(resp.rejected, hint);
      }
      pump(self);
    },
    [self](peer_atom, caf::actor& peer) {
      auto& st = self->state;
      st.peer = std::move(peer);
      st.prog->reset();
      pump(self);
    },
    [self](tick_atom_t) {
      auto& st = self->state;
      auto now = self->clock().now();
      if (now - st.last_sent >= st.opts.heartbeat_interval)
        send_heartbeat(self);
      // In-flight requests but no progress for several ticks: assume they were lost.
      if (st.prog->inflight() > 0 && st.prog->match() == st.match_at_last_tick) {
        if (++st.stalled >= stall_ticks) {
          st.prog->reset();
          st.stalled = 0;
        }
      } else {
        st.stalled = 0;
      }
      st.match_at_last_tick = st.prog->match();
      pump(self);
      self->delayed_send(self, st.opts.heartbeat_interval, tick_atom_t::value);
    },
  };
}

} // namespace

caf::actor spawn_replicator(caf::actor_system& sys, replicator_options opts, caf::actor peer,
                            persistence_actor store, log_terms log, index_t commit) {
  return sys.spawn(replicator, opts, std::move(peer), std::move(store), std::move(log), commit);
}

} // namespace raft
