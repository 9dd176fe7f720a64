// Replicator actor. New entries arrive as shared batches and wait in a bounded buffer; entries
// that fell out of it (slow or returning followers) are read back from storage in byte-bounded
// chunks, and a follower that needs purged entries gets the newest snapshot streamed in chunks
// within the same in-flight byte window. Replies reach this actor through the node, which has
// already checked their term.
#include "actors/replicator.hpp"

#include <cstdio>
#include <deque>

#include <caf/all.hpp>

#include "core/log_matching.hpp"
#include "core/progress.hpp"
#include "messages/append.hpp"
#include "messages/errc.hpp"
#include "messages/install_snapshot.hpp"
#include "messages/internal.hpp"
#include "persistence/snapshot_store.hpp"

namespace raft {

namespace {

// Heartbeat ticks without progress while requests are in flight before we assume a loss.
constexpr int stall_ticks = 4;

// Ticks a snapshot may stay unopenable before we report it. Briefly it is normal: the node
// compacts concurrently, so a read can find entries purged before the node has announced the
// snapshot that replaced them, or the announced file replaced by a newer one on its way to us.
constexpr int snapshot_open_patience = 20;

struct replicator_state {
  static inline const char* name = "raft.replicator";
  replicator_options opts;
  caf::actor peer;
  persistence_actor store;
  log_terms log;
  std::unique_ptr<progress> prog;
  std::deque<std::shared_ptr<const log_entries>> chunks;  // consecutive, oldest first
  size_t buffered_bytes = 0;
  uint64_t seq = 0;
  bool reading = false;
  caf::actor_clock::time_point last_sent;
  index_t match_at_last_tick = 0;
  int stalled = 0;
  // Snapshot streaming: the follower holds [0, snap_acked) of `sending`, we sent [0, snap_sent).
  snapshot_meta latest;
  std::shared_ptr<snapshot_store::reader> sending;
  uint64_t snap_sent = 0;
  uint64_t snap_acked = 0;
  uint64_t acked_at_last_tick = 0;
  bool done_sent = false;
  int open_failures = 0;  // consecutive attempts to open `latest` that failed

  void rewind_snapshot(uint64_t offset) {
    snap_sent = snap_acked = offset;
    done_sent = false;
  }

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

  // Calls f on each buffered entry from `from` on, until f returns false.
  template <class F>
  void for_each_from(index_t from, F f) const {
    for (const auto& chunk : chunks) {
      if (chunk->back().index < from)
        continue;
      for (const auto& e : *chunk)
        if (e.index >= from && !f(e))
          return;
    }
  }

  // Copies up to the batch limits from the buffer, starting at `from`.
  log_entries collect(index_t from, size_t budget) const {
    // Counted first: grown entry by entry, the batch would be reallocated about log2(n) times.
    size_t count = 0;
    size_t bytes = 0;
    for_each_from(from, [&](const log_entry& e) {
      if (count > 0 && (count >= opts.max_batch_entries || bytes + entry_bytes(e) > budget))
        return false;
      bytes += entry_bytes(e);
      ++count;
      return true;
    });
    log_entries out;
    out.reserve(count);
    for_each_from(from, [&](const log_entry& e) {
      out.push_back(e);
      return out.size() < count;
    });
    return out;
  }
};

using self_ptr = caf::stateful_actor<replicator_state>*;

void say(self_ptr self, const std::string& what) {
  auto& st = self->state;
  auto text = "raft node " + std::to_string(st.opts.leader) + ": replicator to "
              + std::to_string(st.opts.follower) + ": " + what;
  if (st.opts.log)
    st.opts.log(text);
  else
    std::fprintf(stderr, "%s\n", text.c_str());
}

// The follower needs entries we no longer have: switch to streaming our newest snapshot.
void start_snapshot(self_ptr self) {
  auto& st = self->state;
  st.prog->begin_snapshot(st.latest.last.index);
  st.sending.reset();
  auto r = st.latest.last.index == 0
             ? caf::expected<std::shared_ptr<snapshot_store::reader>>{make_error(
               errc::snapshot_needed, "entries are purged but no snapshot was announced yet")}
             : snapshot_store{st.opts.snapshot_dir}.open_reader(st.latest);
  if (!r) {
    // Retried on every tick, with the newest snapshot the node has announced by then.
    if (++st.open_failures == snapshot_open_patience)
      say(self, "still cannot open a snapshot to send: " + self->system().render(r.error()));
    return;
  }
  st.open_failures = 0;
  st.sending = std::move(*r);
  st.rewind_snapshot(0);
}

void stream_snapshot(self_ptr self) {
  auto& st = self->state;
  if (!st.sending)
    return;
  const auto& meta = st.sending->meta();
  auto chunk = std::max<size_t>(st.opts.snapshot_chunk_bytes, 1);
  auto window = std::max<uint64_t>(st.opts.max_inflight_bytes, chunk);
  while ((st.snap_sent < meta.size || !st.done_sent) && st.snap_sent - st.snap_acked < window) {
    auto data = st.sending->read(st.snap_sent, chunk);
    if (!data) {
      say(self, "cannot read snapshot: " + self->system().render(data.error()));
      st.sending.reset();
      return;
    }
    install_snapshot_request req{st.opts.term, st.opts.leader, meta, st.snap_sent,
                                 std::move(*data), false, st.opts.commit.get()};
    req.done = req.offset + req.data.size() >= meta.size;
    st.snap_sent += req.data.size();
    st.done_sent = req.done;
    self->send(st.peer, std::move(req));
    st.last_sent = self->clock().now();
  }
}

void send_append(self_ptr self, log_entries entries) {
  auto& st = self->state;
  index_t next = entries.empty() ? st.prog->next() : entries.front().index;
  auto prev_term = st.log.term_at(next - 1);
  if (!prev_term) {
    // The entry before `next` was compacted away: only a snapshot can help this follower.
    start_snapshot(self);
    return;
  }
  size_t bytes = 0;
  for (const auto& e : entries)
    bytes += entry_bytes(e);
  index_t last = entries.empty() ? next - 1 : entries.back().index;
  append_request req{st.opts.term, st.opts.leader, log_id{*prev_term, next - 1},
                     std::move(entries), st.opts.commit.get(), st.seq};
  self->send(st.peer, std::move(req));
  st.prog->sent(last, bytes);
  st.last_sent = self->clock().now();
}

void send_heartbeat(self_ptr self) {
  auto& st = self->state;
  index_t m = std::max(st.prog->match(), st.log.base().index);
  auto t = st.log.term_at(m);
  if (!t) {
    m = st.log.base().index;
    t = st.log.base().term;
  }
  append_request req{st.opts.term,        st.opts.leader, log_id{*t, m}, {},
                     st.opts.commit.get(), st.seq};
  self->send(st.peer, std::move(req));
  st.last_sent = self->clock().now();
}

void pump(self_ptr self) {
  auto& st = self->state;
  if (st.prog->state() == progress::mode::snapshot) {
    stream_snapshot(self);
    return;
  }
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
            if (is(err, errc::snapshot_needed)) {
              start_snapshot(self);
              stream_snapshot(self);
            } else
              say(self, "reading entries failed: " + self->system().render(err));
          });
      return;
    }
    auto budget = std::min<size_t>(st.opts.max_batch_bytes, st.prog->byte_budget());
    auto batch = st.collect(next, budget);
    if (batch.empty())
      return;
    send_append(self, std::move(batch));
  }
  if (st.prog->state() == progress::mode::snapshot)
    stream_snapshot(self);
}

caf::behavior replicator(self_ptr self, replicator_options opts, caf::actor peer,
                         persistence_actor store, log_terms log, snapshot_meta latest) {
  auto& st = self->state;
  st.latest = std::move(latest);
  st.opts = opts;
  st.peer = std::move(peer);
  st.store = std::move(store);
  st.log = std::move(log);
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
        // A stale rejection (e.g. of a heartbeat) still proves the follower is reachable: a
        // probe whose reply was lost may go out again.
        if (!st.prog->rejected(resp.rejected, hint))
          st.prog->heard();
      }
      pump(self);
    },
    [self](peer_atom, caf::actor& peer) {
      auto& st = self->state;
      st.peer = std::move(peer);
      st.prog->reset();
      st.rewind_snapshot(st.snap_acked);
      pump(self);
    },
    [self](snapshot_atom, snapshot_meta& meta, log_id base) {
      auto& st = self->state;
      if (meta.last.index > st.latest.last.index)
        st.latest = std::move(meta);
      if (base.index > st.log.base().index)
        st.log.purge_to(base);
    },
    [self](const install_snapshot_response& resp) {
      auto& st = self->state;
      if (st.prog->state() != progress::mode::snapshot || !st.sending
          || resp.last != st.sending->meta().last)
        return;  // answers a stream we no longer run
      if (resp.installed) {
        st.sending.reset();
        st.prog->snapshot_done(resp.last.index);
        pump(self);
        return;
      }
      if (resp.received < st.snap_acked || resp.received > st.snap_sent)
        st.rewind_snapshot(resp.received);  // the follower restarted the transfer, or is ahead
      else
        st.snap_acked = resp.received;
      stream_snapshot(self);
    },
    [self](tick_atom_t) {
      auto& st = self->state;
      auto now = self->clock().now();
      if (now - st.last_sent >= st.opts.heartbeat_interval)
        send_heartbeat(self);
      if (st.prog->state() == progress::mode::snapshot) {
        if (!st.sending)
          start_snapshot(self);
        // Chunks out but none confirmed for several ticks: resend from the last confirmed one.
        if (st.sending && (st.snap_sent > st.snap_acked || st.done_sent)
            && st.snap_acked == st.acked_at_last_tick) {
          if (++st.stalled >= stall_ticks) {
            st.rewind_snapshot(st.snap_acked);
            st.stalled = 0;
          }
        } else {
          st.stalled = 0;
        }
        st.acked_at_last_tick = st.snap_acked;
      } else if (st.prog->inflight() > 0 && st.prog->match() == st.match_at_last_tick) {
        // In-flight requests but no progress for several ticks: assume they were lost.
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
                            persistence_actor store, log_terms log, snapshot_meta snapshot) {
  return sys.spawn(replicator, opts, std::move(peer), std::move(store), std::move(log),
                   std::move(snapshot));
}

} // namespace raft
