// The node actor: owns role, term, vote, log shape and commit index, and turns peer and client
// messages into calls of the Raft rules in core/. Storage, elections, replication and apply run in
// their own actors; this one only decides.
#include "actors/node.hpp"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <iterator>
#include <map>
#include <optional>

#include <caf/all.hpp>

#include "actors/applier.hpp"
#include "actors/election.hpp"
#include "actors/replicator.hpp"
#include "core/compaction_policy.hpp"
#include "core/log_matching.hpp"
#include "core/log_terms.hpp"
#include "core/membership_rules.hpp"
#include "core/quorum.hpp"
#include "core/vote_rules.hpp"
#include "messages/append.hpp"
#include "messages/codec.hpp"
#include "messages/errc.hpp"
#include "messages/install_snapshot.hpp"
#include "messages/internal.hpp"
#include "messages/vote.hpp"
#include "persistence/persistence.hpp"
#include "persistence/snapshot_store.hpp"

namespace raft {

const char* to_string(node_role r) {
  switch (r) {
    case node_role::follower: return "follower";
    case node_role::candidate: return "candidate";
    case node_role::leader: return "leader";
    case node_role::learner: return "learner";
  }
  return "unknown";
}

namespace {

using clock_type = caf::actor_clock;
using time_point = clock_type::time_point;

struct node_state {
  static inline const char* name = "raft.node";

  node_config cfg;
  persistence_actor store;
  caf::actor election;
  caf::actor applier;
  std::map<node_id, caf::actor> peers;
  std::map<node_id, caf::actor> replicators;

  hard_state hs;
  node_role role = node_role::follower;
  node_id leader = no_node;
  log_terms log;            // accepted entries; storage may lag behind (see `durable`)
  index_t durable = 0;      // last index of `log` known to be synced to storage
  index_t commit = 0;
  shared_commit_index published_commit;  // `commit`, as the replicators read it
  index_t stored_commit = 0;    // the commit index last sent to the store
  bool store_commit_due = false;  // a timer will send the store a newer commit index
  index_t applied = 0;
  index_t fed = 0;          // last index handed to the applier
  bool feeding = false;     // a storage read for the applier is outstanding
  std::deque<log_entry> cache;  // entries after `fed` that are still in memory
  membership config;        // in effect: the newest configuration in the log
  log_id config_id;
  membership base_config;   // in effect before the first configuration entry still in the log
  std::map<index_t, std::pair<log_id, membership>> configs;  // configuration entries in the log
  snapshot_meta snapshot;   // the newest snapshot, recorded in storage or on its way there
  index_t stored_snapshot = 0;  // the newest one storage has recorded: a restart loads it
  snapshot_store snapshots;
  index_t pruned_below = 0; // snapshot files below this index are removed
  std::unique_ptr<snapshot_store::receiver> incoming;  // a snapshot a leader is streaming to us

  // Leader.
  index_t term_start = 0;   // index of this term's no-op; reads wait until it commits
  std::map<node_id, index_t> match;
  std::map<node_id, time_point> last_ack;
  // Followers receiving a snapshot: the first entry each will ask for once it has installed it.
  // Compaction keeps that entry while the follower stays in contact.
  std::map<node_id, index_t> snapshot_holds;
  log_entries batch;        // proposals waiting for the next flush
  // Clients waiting for their proposals, by index; handed to the applier with their entries.
  std::deque<waiting_write> writes;
  bool flush_scheduled = false;
  uint64_t read_round = 0;
  std::map<node_id, uint64_t> acked_round;
  struct read_request {
    caf::response_promise rp;
    std::string request;
    uint64_t round = 0;
    index_t index = 0;
  };
  std::vector<read_request> unrounded;  // waiting for a heartbeat round to start
  std::vector<read_request> reads;      // waiting for a quorum to confirm their round
  struct pending_change {
    caf::response_promise rp;
    index_t index;
  };
  std::optional<pending_change> change;  // the one configuration change in flight
  node_id transfer_to = no_node;         // leadership transfer target; writes wait meanwhile
  caf::response_promise transfer_rp;
  uint64_t transfer_epoch = 0;

  // Stopping: we wait for the storage and apply actors to end before we do (exit handler).
  std::optional<caf::error> stopping;
  std::vector<caf::actor_addr> stop_waits;

  // Follower: replies that wait until their entries are durable.
  struct pending_ack {
    node_id to;
    append_response resp;
  };
  std::deque<pending_ack> acks;
  time_point last_leader_contact;

  bool is_voter() const { return config.is_voter(cfg.id); }

  /// Whether a peer last heard from at `heard` still counts as in contact: the one notion that
  /// CheckQuorum, the vote lease and the snapshot holds share.
  bool in_contact(time_point heard, time_point now) const {
    return now - heard < cfg.election_timeout;
  }

  /// A voter may campaign; so may a node that an uncommitted configuration entry just removed.
  /// Otherwise a leader that removed itself and lost its quorum before committing the removal
  /// could hold the only up-to-date log while refusing to stand: nobody could ever win.
  bool may_campaign() const {
    if (is_voter())
      return true;
    if (config_id.index <= commit || configs.empty())
      return false;
    auto latest = std::prev(configs.end());
    const auto& previous = latest == configs.begin() ? base_config : std::prev(latest)->second.second;
    return previous.is_voter(cfg.id);
  }
};

using self_ptr = caf::stateful_actor<node_state>*;

// -- helpers -----------------------------------------------------------------------------------

void say(self_ptr self, const std::string& line) {
  auto& st = self->state;
  auto text = "raft node " + std::to_string(st.cfg.id) + ": " + line;
  if (st.cfg.log)
    st.cfg.log(text);
  else
    std::fprintf(stderr, "%s\n", text.c_str());  // one call: lines of concurrent nodes do not mix
}

void fatal(self_ptr self, const char* what, const caf::error& err) {
  say(self, std::string{what} + ": " + self->system().render(err) + " -- stopping");
  self->quit(err);
}

void send_to_peer(self_ptr self, node_id to, caf::message msg) {
  auto i = self->state.peers.find(to);
  if (i != self->state.peers.end() && i->second)
    self->send(i->second, std::move(msg));
}

// Persists the current hard state; `then` runs once it is durable.
template <class F>
void save_hard_state(self_ptr self, F then) {
  self->request(self->state.store, caf::infinite, vote_atom::value, self->state.hs)
    .then([then](hard_state&) mutable { then(); },
          [self](caf::error& err) { fatal(self, "cannot persist term and vote", err); });
}

void notify_role(self_ptr self) {
  auto& st = self->state;
  if (!st.election)
    return;  // still loading
  self->send(st.election, role_atom::value, st.role, st.hs.term);
  if (st.cfg.observer) {
    node_event ev{node_event::role_changed, st.cfg.id, to_string(st.role), st.hs.term};
    ev.log = &st.log;
    st.cfg.observer(ev);
  }
}

void feed_applier(self_ptr self);
void maybe_commit(self_ptr self);
void flush_batch(self_ptr self);
void become_follower(self_ptr self, term_t term, node_id leader);

// The store gets the commit index in a message, ordered after the appends of the entries it
// covers: read from the shared index at flush time, it could cover entries not yet staged there,
// over stale ones. The store only records it with its next write (it is a restart hint), so a
// busy node sends it along with its next append, where it costs no extra wake-up of the store's
// thread; a quiet one sends it after a heartbeat interval.
void send_store_commit(self_ptr self) {
  auto& st = self->state;
  if (st.commit > st.stored_commit) {
    st.stored_commit = st.commit;
    self->send(st.store, commit_atom::value, st.commit);
  }
}

void defer_store_commit(self_ptr self) {
  auto& st = self->state;
  if (!st.store_commit_due) {
    st.store_commit_due = true;
    self->delayed_send(self, st.cfg.heartbeat_interval, commit_atom::value);
  }
}

void set_commit(self_ptr self, index_t c) {
  auto& st = self->state;
  if (c <= st.commit)
    return;
  st.commit = c;
  if (st.cfg.observer) {
    node_event ev{node_event::committed, st.cfg.id, to_string(st.role), st.hs.term, c};
    ev.log = &st.log;
    st.cfg.observer(ev);
  }
  defer_store_commit(self);
  st.published_commit.raise(c);
  feed_applier(self);
  if (st.change && c >= st.change->index) {
    st.change->rp.deliver(st.config);
    st.change.reset();
  }
  // A leader removed from the configuration leads until the removal commits, then steps aside.
  if (st.role == node_role::leader && !st.is_voter() && st.config_id.index <= c) {
    say(self, "removed from the configuration; stepping down");
    become_follower(self, st.hs.term, no_node);
  } else if (st.role == node_role::follower && !st.may_campaign()) {
    st.role = node_role::learner;  // our removal is committed now
    notify_role(self);
  }
}

void send_ready_acks(self_ptr self) {
  auto& st = self->state;
  while (!st.acks.empty() && st.acks.front().resp.match.index <= st.durable) {
    auto& a = st.acks.front();
    // An entry truncated since the request arrived must not be acknowledged.
    if (st.log.matches(a.resp.match) && a.resp.term == st.hs.term)
      send_to_peer(self, a.to, caf::make_message(a.resp));
    st.acks.pop_front();
  }
}

void on_durable(self_ptr self, log_id last) {
  auto& st = self->state;
  // Only a position our current log still holds proves that everything before it is synced.
  if (last.index > st.durable && st.log.matches(last))
    st.durable = last.index;
  if (st.role == node_role::leader)
    maybe_commit(self);
  else
    send_ready_acks(self);
}

template <class Entries>  // log_entries, or an entry_batch shared with the replicators
void store_entries(self_ptr self, Entries entries) {
  auto& st = self->state;
  self->request(st.store, caf::infinite, append_atom::value, std::move(entries))
    .then([self](log_id last) { on_durable(self, last); },
          [self](caf::error& err) { fatal(self, "cannot append to the log", err); });
  send_store_commit(self);
}

void sync_replicators(self_ptr self);
void notify_role(self_ptr self);

void adopt_latest_config(self_ptr self, bool via_snapshot = false) {
  auto& st = self->state;
  auto previous = st.config;
  if (st.configs.empty()) {
    st.config = st.base_config;
    st.config_id = st.snapshot.last;
  } else {
    st.config = st.configs.rbegin()->second.second;
    st.config_id = st.configs.rbegin()->second.first;
  }
  if (st.config == previous || !st.election)
    return;  // unchanged, or still loading the stored configuration
  if (st.cfg.observer) {
    node_event ev{node_event::config_changed, st.cfg.id, to_string(st.role), st.hs.term};
    ev.index = st.config_id.index;
    ev.config = &st.config;
    ev.previous = &previous;
    ev.via_snapshot = via_snapshot;
    st.cfg.observer(ev);
  }
  // A configuration takes effect as soon as it is in the log, on leaders and followers alike.
  if (st.role == node_role::leader) {
    sync_replicators(self);
  } else {
    auto role = st.may_campaign()
                  ? (st.role == node_role::learner ? node_role::follower : st.role)
                  : node_role::learner;
    if (role != st.role) {
      st.role = role;
      notify_role(self);
    }
  }
}

// Adds entries to the in-memory log and cache (the caller sends them to storage).
void accept_entries(self_ptr self, const log_entries& xs, size_t from) {
  auto& st = self->state;
  for (size_t k = from; k < xs.size(); ++k) {
    const auto& e = xs[k];
    st.log.append(e.term, 1);
    st.cache.push_back(e);
    if (e.kind == entry_kind::config) {
      if (auto m = decode<membership>(e.payload)) {
        st.configs[e.index] = {e.id(), std::move(*m)};
        adopt_latest_config(self);
      }
    }
  }
}

void fail_writes(self_ptr self, const caf::error& err) {
  for (auto& w : self->state.writes)
    w.rp.deliver(err);
  self->state.writes.clear();
}

// The waiting clients of entries up to `last`, to travel with those entries to the applier.
waiting_writes take_writes(self_ptr self, index_t last) {
  auto& ws = self->state.writes;
  auto ready = std::find_if(ws.begin(), ws.end(), [last](const auto& w) { return w.last > last; });
  waiting_writes out;
  out.list.assign(std::make_move_iterator(ws.begin()), std::make_move_iterator(ready));
  ws.erase(ws.begin(), ready);
  return out;
}

void stop_leading(self_ptr self) {
  auto& st = self->state;
  flush_batch(self);  // entries already in our log must reach storage like any other
  for (auto& kv : st.replicators)
    self->send_exit(kv.second, caf::exit_reason::user_shutdown);
  st.replicators.clear();
  st.match.clear();
  st.last_ack.clear();
  st.snapshot_holds.clear();
  st.acked_round.clear();
  // Our uncommitted proposals may or may not commit under the next leader.
  fail_writes(self, make_error(errc::unavailable, "leader stepped down; outcome unknown"));
  auto not_leader = make_error(errc::not_leader, node_id{0}, "leadership lost");
  for (auto& r : st.unrounded)
    r.rp.deliver(not_leader);
  for (auto& r : st.reads)
    r.rp.deliver(not_leader);
  st.unrounded.clear();
  st.reads.clear();
  if (st.change) {
    // The entry may still commit under the next leader: the outcome is unknown.
    st.change->rp.deliver(make_error(errc::unavailable, "leadership lost during the change"));
    st.change.reset();
  }
  if (st.transfer_to != no_node) {
    st.transfer_rp.deliver(st.transfer_to);  // we stepped down for (most likely) the target
    st.transfer_to = no_node;
  }
}

void become_follower(self_ptr self, term_t term, node_id leader) {
  auto& st = self->state;
  bool changed = false;
  if (term > st.hs.term) {
    st.hs = hard_state{term, no_node};
    // Acknowledgements sent later are queued behind this write, so they imply it is durable.
    save_hard_state(self, [] {});
    changed = true;
  }
  auto new_role = st.may_campaign() ? node_role::follower : node_role::learner;
  if (st.role == node_role::leader)
    stop_leading(self);
  if (st.role != new_role) {
    st.role = new_role;
    changed = true;
  }
  st.leader = leader;
  if (changed)
    notify_role(self);
}

void broadcast_votes(self_ptr self, term_t term, bool pre, bool transfer = false) {
  auto& st = self->state;
  vote_request req{term, st.cfg.id, st.log.last(), pre, transfer};
  for (auto v : st.config.all_members())
    if (v != st.cfg.id && st.config.is_voter(v))
      send_to_peer(self, v, caf::make_message(req));
  self->send(st.election, campaign_atom::value, pre, term, st.config);
}

void start_campaign(self_ptr self, bool pre, bool transfer = false) {
  auto& st = self->state;
  if (st.role == node_role::leader || !st.may_campaign())
    return;
  if (pre) {
    broadcast_votes(self, st.hs.term + 1, true);
    return;
  }
  st.hs = hard_state{st.hs.term + 1, st.cfg.id};
  st.role = node_role::candidate;
  st.leader = no_node;
  notify_role(self);
  auto term = st.hs.term;
  save_hard_state(self, [self, term, transfer] {
    auto& st = self->state;
    if (st.role == node_role::candidate && st.hs.term == term)
      broadcast_votes(self, term, false, transfer);
  });
}

void become_leader(self_ptr self) {
  auto& st = self->state;
  st.role = node_role::leader;
  st.leader = st.cfg.id;
  notify_role(self);
  sync_replicators(self);
  // A no-op of our own term lets us commit (and serve reads for) everything before it.
  st.term_start = st.log.last().index + 1;
  log_entry noop{st.term_start, st.hs.term, entry_kind::noop, {}};
  st.log.append(noop.term, 1);
  st.cache.push_back(noop);
  st.batch.push_back(std::move(noop));
  flush_batch(self);
}

// Leader: one replicator per member other than us; members that left lose theirs.
void sync_replicators(self_ptr self) {
  auto& st = self->state;
  auto members = st.config.all_members();
  for (auto it = st.replicators.begin(); it != st.replicators.end();) {
    if (std::binary_search(members.begin(), members.end(), it->first)) {
      ++it;
      continue;
    }
    self->send_exit(it->second, caf::exit_reason::user_shutdown);
    st.match.erase(it->first);
    st.last_ack.erase(it->first);
    st.snapshot_holds.erase(it->first);
    st.acked_round.erase(it->first);
    it = st.replicators.erase(it);
  }
  auto now = self->clock().now();
  for (auto id : members) {
    if (id == st.cfg.id || st.replicators.count(id))
      continue;
    replicator_options ro;
    ro.leader = st.cfg.id;
    ro.follower = id;
    ro.term = st.hs.term;
    ro.heartbeat_interval = st.cfg.heartbeat_interval;
    ro.max_batch_entries = st.cfg.max_batch_entries;
    ro.max_batch_bytes = st.cfg.max_batch_bytes;
    ro.max_inflight_msgs = st.cfg.max_inflight_msgs;
    ro.max_inflight_bytes = st.cfg.max_inflight_bytes;
    ro.snapshot_dir = st.snapshots.dir();
    ro.snapshot_chunk_bytes = st.cfg.snapshot_chunk_bytes;
    ro.log = st.cfg.log;
    ro.commit = st.published_commit;
    auto peer = st.peers.count(id) ? st.peers[id] : caf::actor{};
    // Entries still waiting for the next flush reach the new replicator with that flush.
    auto known = st.log;
    if (!st.batch.empty())
      known.truncate_from(st.batch.front().index);
    auto r = spawn_replicator(self->system(), ro, peer, st.store, std::move(known), st.snapshot);
    self->link_to(r);
    st.replicators.emplace(id, r);
    st.match[id] = 0;
    st.last_ack[id] = now;  // a new follower gets one full timeout before CheckQuorum counts it
  }
}

// -- leader: commit, reads -----------------------------------------------------------------------

void start_read_round(self_ptr self) {
  auto& st = self->state;
  if (st.unrounded.empty() || st.commit < st.term_start)
    return;
  auto round = ++st.read_round;
  for (auto& r : st.unrounded) {
    r.round = round;
    r.index = st.commit;
    st.reads.push_back(std::move(r));
  }
  st.unrounded.clear();
  for (auto& kv : st.replicators)
    self->send(kv.second, heartbeat_atom::value, round);
}

void check_reads(self_ptr self) {
  auto& st = self->state;
  if (st.reads.empty())
    return;
  // Reads are confirmed in round order, so find the newest round a quorum has echoed.
  std::vector<node_id> active{st.cfg.id};
  auto newest = st.reads.back().round;
  uint64_t confirmed = 0;
  for (auto round = st.reads.front().round; round <= newest; ++round) {
    active.assign(1, st.cfg.id);
    for (auto& kv : st.acked_round)
      if (kv.second >= round)
        active.push_back(kv.first);
    if (!has_quorum(st.config, active))
      break;
    confirmed = round;
  }
  auto it = st.reads.begin();
  for (; it != st.reads.end() && it->round <= confirmed; ++it)
    it->rp.delegate(st.applier, query_atom::value, it->index, std::move(it->request));
  st.reads.erase(st.reads.begin(), it);
}

void maybe_commit(self_ptr self) {
  auto& st = self->state;
  auto acked = [&](node_id id) -> index_t {
    if (id == st.cfg.id)
      return st.durable;
    auto i = st.match.find(id);
    return i == st.match.end() ? 0 : i->second;
  };
  auto idx = next_commit(st.config, acked, st.log, st.hs.term, st.commit);
  if (idx > st.commit) {
    set_commit(self, idx);
    start_read_round(self);
  }
}

void flush_batch(self_ptr self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  if (!st.batch.empty()) {
    auto size = st.batch.size();
    auto shared = std::make_shared<const log_entries>(std::move(st.batch));
    st.batch.clear();
    // Under load the next batch is about as large: growing it from nothing takes a chain of
    // reallocations, and each one past 1 KiB makes glibc consolidate its fast bins.
    st.batch.reserve(size);
    store_entries(self, entry_batch{shared});
    auto msg = caf::make_message(replicate_atom::value, entry_batch{shared});
    for (auto& kv : st.replicators)
      self->send(kv.second, msg);
  }
  if (st.role == node_role::leader) {
    start_read_round(self);
    check_reads(self);
  }
}

void schedule_flush(self_ptr self) {
  if (!self->state.flush_scheduled) {
    self->state.flush_scheduled = true;
    self->send(self, flush_atom::value);
  }
}

// -- proposals -----------------------------------------------------------------------------------

// Whether the leader takes `count` new commands now, the largest of `largest` bytes. A batch is
// taken or refused as a whole, so its client never has to sort out a partial outcome.
caf::error check_proposals(const node_state& st, size_t count, size_t largest) {
  if (st.role != node_role::leader)
    return make_error(errc::not_leader, st.leader, "not the leader");
  if (st.transfer_to != no_node)
    return make_error(errc::transfer_in_progress, "leadership transfer in progress");
  if (largest > st.cfg.max_entry_bytes)
    return make_error(errc::entry_too_large, "entry exceeds max-entry-bytes");
  if (st.log.last().index - st.commit + (count - 1) > st.cfg.max_pending_proposals)
    return make_error(errc::busy, "too many uncommitted proposals");
  return caf::none;
}

index_t append_proposal(self_ptr self, std::string&& cmd) {
  auto& st = self->state;
  log_entry e{st.log.last().index + 1, st.hs.term, entry_kind::normal, std::move(cmd)};
  st.log.append(e.term, 1);
  st.cache.push_back(e);
  auto index = e.index;
  st.batch.push_back(std::move(e));
  schedule_flush(self);
  return index;
}

// -- apply ---------------------------------------------------------------------------------------

// How far the applier may be fed, up to `upto`: never into the middle of a batch proposal, whose
// client gets all its results in one reply. Its tail commits moments later. (A batch already
// split, by a read of committed entries it alone overflowed, holds nothing back.)
index_t feed_limit(const node_state& st, index_t upto) {
  if (st.writes.empty())
    return upto;
  const auto& w = st.writes.front();
  if (w.first > st.fed && w.first <= upto && w.last > upto)
    return w.first - 1;
  return upto;
}

void feed_applier(self_ptr self) {
  auto& st = self->state;
  while (!st.cache.empty() && st.cache.front().index <= st.fed)
    st.cache.pop_front();
  auto upto = feed_limit(st, st.commit);
  if (st.fed >= upto || st.feeding)
    return;
  if (!st.cache.empty() && st.cache.front().index == st.fed + 1) {
    log_entries xs;
    xs.reserve(std::min<size_t>(st.cache.size(), upto - st.fed));
    while (!st.cache.empty() && st.cache.front().index <= upto) {
      xs.push_back(std::move(st.cache.front()));
      st.cache.pop_front();
    }
    st.fed = xs.back().index;
    self->send(st.applier, apply_atom::value, std::move(xs), take_writes(self, st.fed));
    return;
  }
  // The entries are only on disk (after a restart, or evicted): read them back in chunks.
  index_t stop = upto + 1;
  if (!st.cache.empty())
    stop = std::min(stop, st.cache.front().index);
  st.feeding = true;
  self->request(st.store, caf::infinite, read_atom::value, st.fed + 1, stop, uint64_t{4} << 20)
    .then(
      [self](log_entries& xs) {
        auto& st = self->state;
        st.feeding = false;
        if (!xs.empty() && xs.front().index == st.fed + 1) {
          // A byte-limited read may end inside a batch proposal: keep its head for the next read
          // (unless the batch alone fills a read; its client then learns the outcome is unknown).
          auto cut = feed_limit(st, xs.back().index);
          while (xs.size() > 1 && xs.back().index > cut)
            xs.pop_back();
          st.fed = xs.back().index;
          self->send(st.applier, apply_atom::value, std::move(xs), take_writes(self, st.fed));
        }
        feed_applier(self);
      },
      [self](caf::error& err) { fatal(self, "cannot read committed entries", err); });
}

// -- message handlers ----------------------------------------------------------------------------

void on_vote_request(self_ptr self, const vote_request& req) {
  auto& st = self->state;
  auto now = self->clock().now();
  bool lease = st.cfg.check_quorum
               && (st.role == node_role::leader
                   || (st.leader != no_node
                       && st.in_contact(st.last_leader_contact, now)));
  auto verdict = decide_vote(st.hs, st.log.last(), req, lease);
  vote_response resp{verdict.reply_term, st.cfg.id, verdict.granted, req.pre_vote};
  if (!verdict.persist) {
    send_to_peer(self, req.candidate, caf::make_message(resp));
    return;
  }
  if (verdict.persist->term > st.hs.term)
    become_follower(self, verdict.persist->term, no_node);
  st.hs = *verdict.persist;
  if (verdict.granted)
    self->send(st.election, heard_atom::value);  // voting for someone resets our own timer
  save_hard_state(self, [self, resp, to = req.candidate] {
    send_to_peer(self, to, caf::make_message(resp));
  });
}

void on_vote_response(self_ptr self, const vote_response& resp) {
  auto& st = self->state;
  if (resp.term > st.hs.term && !(resp.pre_vote && resp.granted)) {
    become_follower(self, resp.term, no_node);
    return;
  }
  self->send(st.election, resp);
}

enum class leader_check { stale, impossible, ok };

// The term check of every request from a leader. A stale one is answered with our term by the
// caller (so that a deposed leader steps down); otherwise we follow that leader and its contact
// resets our election timer.
leader_check accept_leader(self_ptr self, term_t term, node_id leader) {
  auto& st = self->state;
  if (term < st.hs.term)
    return leader_check::stale;
  if (st.role == node_role::leader && term == st.hs.term) {
    say(self, "BUG: two leaders in term " + std::to_string(term));
    return leader_check::impossible;
  }
  if (term > st.hs.term || st.role != node_role::follower || st.leader != leader)
    become_follower(self, term, leader);
  st.last_leader_contact = self->clock().now();
  self->send(st.election, heard_atom::value);
  return leader_check::ok;
}

void on_append_request(self_ptr self, append_request& req) {
  auto& st = self->state;
  append_response resp;
  resp.from = st.cfg.id;
  resp.seq = req.seq;
  switch (accept_leader(self, req.term, req.leader)) {
    case leader_check::stale:
      resp.term = st.hs.term;  // tells a deposed leader to step down
      resp.rejected = req.prev.index;
      resp.last_index = st.log.last().index;
      send_to_peer(self, req.leader, caf::make_message(resp));
      return;
    case leader_check::impossible:
      return;
    case leader_check::ok:
      break;
  }
  resp.term = st.hs.term;
  auto verdict = check_append(st.log, st.commit, req.prev, req.entries);
  if (verdict.violates_commit) {
    say(self, "refusing to truncate committed entries (leader " + std::to_string(req.leader)
                + ", term " + std::to_string(req.term) + ")");
    return;
  }
  if (!verdict.accept) {
    resp.rejected = req.prev.index;
    resp.conflict_term = verdict.conflict_term;
    resp.conflict_index = verdict.conflict_index;
    resp.last_index = st.log.last().index;
    send_to_peer(self, req.leader, caf::make_message(resp));
    return;
  }
  if (verdict.truncate_from != 0) {
    st.log.truncate_from(verdict.truncate_from);
    while (!st.cache.empty() && st.cache.back().index >= verdict.truncate_from)
      st.cache.pop_back();
    st.durable = std::min(st.durable, verdict.truncate_from - 1);
    // A configuration takes effect when appended, so removing its entry reverts it.
    st.configs.erase(st.configs.lower_bound(verdict.truncate_from), st.configs.end());
    adopt_latest_config(self);
  }
  if (verdict.skip < req.entries.size()) {
    accept_entries(self, req.entries, verdict.skip);
    log_entries fresh(std::make_move_iterator(req.entries.begin() + verdict.skip),
                      std::make_move_iterator(req.entries.end()));
    store_entries(self, std::move(fresh));
  }
  resp.success = true;
  resp.match = verdict.match;
  resp.last_index = st.log.last().index;
  set_commit(self, std::min(req.commit, verdict.match.index));
  st.acks.push_back({req.leader, resp});
  send_ready_acks(self);
}

// -- snapshots -----------------------------------------------------------------------------------

// Removes the snapshot files that the newest recorded one replaced, but none the applier may
// still restore (two installs in a row send it both, and the first must still be there), and
// none a restart may load: until storage has recorded an installed snapshot, that is the older.
void prune_snapshots(self_ptr self) {
  auto& st = self->state;
  auto upto = std::min(st.stored_snapshot, st.applied);
  if (upto > st.pruned_below) {
    st.snapshots.remove_below(upto);
    st.pruned_below = upto;
  }
}

// Tells every replicator of a newer snapshot file (and how far the log is purged by now).
void announce_snapshot(self_ptr self, const snapshot_meta& meta) {
  auto& st = self->state;
  for (auto& kv : st.replicators)
    self->send(kv.second, snapshot_atom::value, meta, st.log.base());
}

// The snapshot `meta` is durable in storage: forget what it replaced.
void record_snapshot(self_ptr self, const snapshot_meta& meta, bool installed) {
  auto& st = self->state;
  st.snapshot = meta;
  // Configuration entries it covers are committed: the snapshot's configuration replaces them.
  st.configs.erase(st.configs.begin(), st.configs.upper_bound(meta.last.index));
  st.base_config = meta.config;
  adopt_latest_config(self, installed);
  prune_snapshots(self);
  announce_snapshot(self, meta);
}

// Our applier wrote a snapshot file: record it and purge the log below it, keeping a tail of
// entries so a follower that lags a little still catches up from the log.
void compact(self_ptr self, const snapshot_meta& meta) {
  auto& st = self->state;
  if (meta.last.index <= st.snapshot.last.index)
    return;
  index_t keep_from = 0;
  auto now = self->clock().now();
  for (auto& [id, first] : st.snapshot_holds) {
    // A follower silent for an election timeout may be gone: it gets a newer snapshot instead.
    auto heard = st.last_ack.find(id);
    if (heard != st.last_ack.end() && st.in_contact(heard->second, now))
      keep_from = keep_from == 0 ? first : std::min(keep_from, first);
  }
  auto upto = purge_upto(meta.last.index, st.cfg.snapshot_trailing_entries, keep_from);
  upto = std::max(upto, st.log.base().index);
  // The file is complete: replicators may stream it at once, before the purge below lands in
  // storage and their reads of the purged entries start to fail.
  announce_snapshot(self, meta);
  self->request(st.store, caf::infinite, purge_atom::value, meta, upto)
    .then(
      [self, meta, upto](index_t) {
        auto& st = self->state;
        st.stored_snapshot = std::max(st.stored_snapshot, meta.last.index);
        if (meta.last.index <= st.snapshot.last.index)
          return;  // a snapshot from the leader overtook this one
        if (auto t = st.log.term_at(upto); t && upto > st.log.base().index)
          st.log.purge_to(log_id{*t, upto});
        record_snapshot(self, meta, false);
      },
      [self](caf::error& err) { fatal(self, "cannot record a snapshot", err); });
}

// The leader's snapshot `meta` arrived whole and checked: make it our state.
void install_snapshot(self_ptr self, const snapshot_meta& meta, install_snapshot_response resp,
                      node_id leader) {
  auto& st = self->state;
  // Storage first, in message order: the purge must precede the commit index and any append
  // that builds on the snapshot.
  self->request(st.store, caf::infinite, purge_atom::value, meta, meta.last.index)
    .then(
      [self, meta, resp, leader](index_t) mutable {
        auto& st = self->state;
        st.stored_snapshot = std::max(st.stored_snapshot, meta.last.index);
        prune_snapshots(self);
        on_durable(self, meta.last);
        resp.installed = true;
        send_to_peer(self, leader, caf::make_message(resp));
      },
      [self](caf::error& err) { fatal(self, "cannot install a snapshot", err); });
  bool kept = st.log.matches(meta.last);
  st.log.purge_to(meta.last);  // keeps the entries after it only if our log agrees with it
  if (kept) {
    while (!st.cache.empty() && st.cache.front().index <= meta.last.index)
      st.cache.pop_front();
  } else {
    st.cache.clear();
    st.configs.clear();
    st.durable = meta.last.index;  // nothing else is left to become durable
  }
  // The applier restores the file before anything fed after this message.
  self->send(st.applier, install_atom::value, meta);
  st.fed = std::max(st.fed, meta.last.index);
  record_snapshot(self, meta, true);
  set_commit(self, meta.last.index);
}

void on_install_snapshot(self_ptr self, install_snapshot_request& req) {
  auto& st = self->state;
  install_snapshot_response resp;
  resp.from = st.cfg.id;
  resp.last = req.meta.last;
  switch (accept_leader(self, req.term, req.leader)) {
    case leader_check::stale:
      resp.term = st.hs.term;  // tells a deposed leader to step down
      send_to_peer(self, req.leader, caf::make_message(resp));
      return;
    case leader_check::impossible:
      return;
    case leader_check::ok:
      break;
  }
  resp.term = st.hs.term;
  auto reply = [&] { send_to_peer(self, req.leader, caf::make_message(resp)); };
  if (req.meta.last.index <= st.commit) {
    // Everything the snapshot covers is committed here already (Log Matching does the rest).
    st.incoming.reset();
    resp.installed = true;
    resp.received = req.meta.size;
    reply();
    return;
  }
  if (st.incoming && !(st.incoming->meta() == req.meta))
    st.incoming.reset();  // the leader moved on to a newer snapshot
  if (!st.incoming) {
    if (req.offset != 0) {
      reply();  // received = 0: start over
      return;
    }
    auto r = st.snapshots.receive(req.meta);
    if (!r) {
      say(self, "cannot receive a snapshot: " + self->system().render(r.error()));
      return;
    }
    st.incoming = std::move(*r);
  }
  if (req.offset == st.incoming->received()) {
    if (auto err = st.incoming->append(req.data)) {
      say(self, "cannot store a snapshot chunk: " + self->system().render(err));
      st.incoming.reset();
      reply();
      return;
    }
    if (req.done) {
      auto err = st.incoming->commit();
      st.incoming.reset();
      if (err) {
        say(self, "discarding a received snapshot: " + self->system().render(err));
        reply();
        return;
      }
      install_snapshot(self, req.meta, resp, req.leader);
      return;
    }
  }
  resp.received = st.incoming->received();  // in order, or where the leader should resume
  reply();
}

// The term check of every follower reply: a newer term deposes us; a stale reply, or one to a
// leader we no longer are, is dropped. Otherwise the replicator of that follower, which gets the
// reply forwarded, and the follower counts as heard from (CheckQuorum).
caf::actor* accept_reply(self_ptr self, term_t term, node_id from) {
  auto& st = self->state;
  if (term > st.hs.term) {
    become_follower(self, term, no_node);
    return nullptr;
  }
  if (term < st.hs.term || st.role != node_role::leader)
    return nullptr;
  auto r = st.replicators.find(from);
  if (r == st.replicators.end())
    return nullptr;
  st.last_ack[from] = self->clock().now();
  return &r->second;
}

void on_install_response(self_ptr self, const install_snapshot_response& resp) {
  auto& st = self->state;
  auto r = accept_reply(self, resp.term, resp.from);
  if (!r)
    return;
  self->send(*r, resp);
  if (!resp.installed && st.match[resp.from] <= resp.last.index)  // not a stale reply
    st.snapshot_holds[resp.from] = resp.last.index + 1;
  if (resp.installed && resp.last.index > st.match[resp.from]) {
    st.match[resp.from] = resp.last.index;
    maybe_commit(self);
  }
}

// Leadership transfer: once the target holds our whole log, tell it to campaign right away.
void try_transfer(self_ptr self) {
  auto& st = self->state;
  if (st.transfer_to == no_node || st.role != node_role::leader)
    return;
  auto m = st.match.find(st.transfer_to);
  if (m != st.match.end() && m->second >= st.log.last().index)
    send_to_peer(self, st.transfer_to, caf::make_message(timeout_now{st.hs.term, st.cfg.id}));
}

void on_append_response(self_ptr self, const append_response& resp) {
  auto& st = self->state;
  auto r = accept_reply(self, resp.term, resp.from);
  if (!r)
    return;
  // Forward first: committing below may end our leadership (a committed removal of ourselves),
  // which clears the replicators.
  self->send(*r, resp);
  auto& acked = st.acked_round[resp.from];
  acked = std::max(acked, resp.seq);
  if (resp.success && resp.match.index > st.match[resp.from]) {
    st.match[resp.from] = resp.match.index;
    // It holds an entry past its snapshot: the replicator reads on from the log it kept.
    if (auto h = st.snapshot_holds.find(resp.from);
        h != st.snapshot_holds.end() && resp.match.index >= h->second)
      st.snapshot_holds.erase(h);
    maybe_commit(self);
  }
  if (st.role != node_role::leader)
    return;
  check_reads(self);
  if (st.transfer_to == resp.from)
    try_transfer(self);
}

void on_check_quorum(self_ptr self) {
  auto& st = self->state;
  if (st.role != node_role::leader)
    return;
  auto now = self->clock().now();
  std::vector<node_id> active{st.cfg.id};
  for (auto& kv : st.last_ack)
    if (st.in_contact(kv.second, now))
      active.push_back(kv.first);
  if (!has_quorum(st.config, active)) {
    say(self, "lost contact with a quorum in term " + std::to_string(st.hs.term)
                + "; stepping down");
    become_follower(self, st.hs.term, no_node);
  }
}

node_status make_status(self_ptr self) {
  auto& st = self->state;
  node_status s;
  s.id = st.cfg.id;
  s.role = to_string(st.role);
  s.term = st.hs.term;
  s.leader = st.leader;
  s.commit = st.commit;
  s.applied = st.applied;
  s.first_index = st.log.first_index();
  s.last = st.log.last();
  s.config = st.config;
  s.snapshot_index = st.snapshot.last.index;
  return s;
}

void init_from(self_ptr self, stored_state& s, std::unique_ptr<state_machine> sm) {
  auto& st = self->state;
  st.hs = s.hard;
  // A log entry of a later term proves we saw that term; never start below it.
  if (s.last.term > st.hs.term)
    st.hs = hard_state{s.last.term, no_node};
  st.log = log_terms{s.log_base, std::move(s.term_starts), s.last};
  st.snapshot = s.snapshot;
  auto snaps = snapshot_store::open(st.cfg.data_dir);
  if (!snaps) {
    fatal(self, "cannot open the snapshot directory", snaps.error());
    return;
  }
  st.snapshots = std::move(*snaps);
  st.snapshots.remove_except(st.snapshot.last);  // files a crash left unrecorded
  st.stored_snapshot = st.pruned_below = st.snapshot.last.index;
  st.durable = s.last.index;
  st.base_config = std::move(s.base_config);
  for (auto& rec : s.configs)
    st.configs[rec.id.index] = {rec.id, std::move(rec.config)};
  adopt_latest_config(self);
  st.applied = s.snapshot.last.index;
  st.fed = st.applied;
  st.commit = std::max(s.commit, st.applied);
  st.published_commit.raise(st.commit);
  st.role = st.may_campaign() ? node_role::follower : node_role::learner;
  applier_options ao;
  ao.id = st.cfg.id;
  ao.start = st.snapshot;
  ao.config = st.base_config;  // the snapshot's configuration, or the bootstrap one
  ao.snapshot_dir = st.snapshots.dir();
  ao.compaction = {st.cfg.snapshot_entries, st.cfg.snapshot_bytes, st.cfg.snapshot_log_ratio};
  ao.detached = st.cfg.detached;
  ao.observer = st.cfg.observer;
  st.applier = spawn_applier(self->system(), caf::actor_cast<caf::actor>(self), std::move(sm),
                             std::move(ao));
  self->link_to(st.applier);
  election_options eo;
  eo.self = st.cfg.id;
  eo.timeout = st.cfg.election_timeout;
  eo.pre_vote = st.cfg.pre_vote;
  eo.check_quorum = st.cfg.check_quorum;
  eo.seed = st.cfg.seed;
  st.election = spawn_election(self->system(), caf::actor_cast<caf::actor>(self), eo);
  self->link_to(st.election);
  notify_role(self);
  feed_applier(self);
}

caf::behavior node(self_ptr self, node_config cfg, persistence_actor store,
                   std::shared_ptr<std::unique_ptr<state_machine>> sm) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.store = std::move(store);
  self->link_to(st.store);
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& st = self->state;
    if (st.stopping)
      return;  // already on the way down (e.g. our applier's link reporting its own exit)
    if (msg.source != nullptr
        && (msg.source == st.store.address() || msg.source == st.applier.address()
            || msg.source == st.election.address()))
      say(self, "our storage, apply or election actor stopped: " + self->system().render(msg.reason)
                  + " -- stopping");
    // A promise dropped unanswered would leave its client waiting for its own timeout.
    fail_writes(self, make_error(errc::unavailable, "node stopped; outcome unknown"));
    auto stopped = make_error(errc::shutting_down, "node stopped");
    for (auto* rs : {&st.unrounded, &st.reads}) {
      for (auto& r : *rs)
        r.rp.deliver(stopped);
      rs->clear();
    }
    if (st.change) {
      st.change->rp.deliver(make_error(errc::unavailable, "node stopped; outcome unknown"));
      st.change.reset();
    }
    for (auto& kv : st.replicators)
      self->send_exit(kv.second, msg.reason);
    for (auto& h : {st.applier, st.election})
      if (h)
        self->send_exit(h, msg.reason);
    self->send_exit(st.store, msg.reason);
    // The data dir stays locked until the storage actor has closed its store,
    // and the apply actor waits for a snapshot writer still busy in it. Ending only after both
    // means that whoever sees this node go down can reopen or remove the directory at once,
    // e.g. to restart the node in the same process. Meanwhile every request is refused.
    st.stopping = msg.reason;
    for (auto addr : {st.store.address(), st.applier.address()})
      if (addr) {
        st.stop_waits.push_back(addr);
        self->monitor(addr);
      }
    if (st.stop_waits.empty()) {
      self->quit(msg.reason);
      return;
    }
    self->set_default_handler([](caf::scheduled_actor* me, caf::message_view&) {
      // Only requests get an answer: CAF would deliver an error "reply" to a peer's plain
      // message as a message of its own, and an actor that receives an unhandled error quits.
      auto* x = me->current_mailbox_element();
      if (x != nullptr && x->mid.is_request())
        return caf::result<caf::message>{make_error(errc::shutting_down, "node stopping")};
      return caf::result<caf::message>{caf::skip()};
    });
    self->become([self](stop_atom) { self->quit(*self->state.stopping); });
    self->delayed_send(self, std::chrono::seconds(10), stop_atom::value);  // a stuck fsync
  });
  self->set_down_handler([self](caf::down_msg& dm) {
    if (auto& st = self->state; st.stopping) {
      auto& ws = st.stop_waits;
      ws.erase(std::remove(ws.begin(), ws.end(), dm.source), ws.end());
      if (ws.empty())
        self->quit(*st.stopping);
      return;
    }
    // Our handle to the leader died (its process or connection is gone): forget the leader, so
    // that our lease no longer refuses votes, and ask the election actor to hurry.
    auto& st = self->state;
    auto i = st.peers.find(st.leader);
    if (st.role == node_role::follower && i != st.peers.end() && i->second
        && i->second.address() == dm.source) {
      say(self, "lost the connection to leader " + std::to_string(st.leader));
      st.leader = no_node;
      self->send(st.election, leader_lost_atom::value);
    }
  });
  // Nothing else is processed until the stored state is loaded.
  self->request(st.store, caf::infinite, load_atom::value)
    .await([self, sm](stored_state& s) { init_from(self, s, std::move(*sm)); },
           [self](caf::error& err) { fatal(self, "cannot load stored state", err); });
  return {
    // Peers.
    [self](peer_atom, node_id id, caf::actor& h) {
      auto& st = self->state;
      if (h)
        self->monitor(h);  // a remote peer's handle goes down with its connection
      st.peers[id] = h;
      auto r = st.replicators.find(id);
      if (r != st.replicators.end())
        self->send(r->second, peer_atom::value, h);
    },
    [self](const vote_request& req) { on_vote_request(self, req); },
    [self](const vote_response& resp) { on_vote_response(self, resp); },
    [self](append_request& req) { on_append_request(self, req); },
    [self](const append_response& resp) { on_append_response(self, resp); },
    // Election actor.
    [self](campaign_atom, bool pre) { start_campaign(self, pre); },
    [self](elected_atom, bool pre, term_t term) {
      auto& st = self->state;
      if (pre) {
        if (st.role != node_role::leader && st.hs.term + 1 == term)
          start_campaign(self, false);
      } else if (st.role == node_role::candidate && st.hs.term == term) {
        become_leader(self);
      }
    },
    [self](check_atom) { on_check_quorum(self); },
    // Applier.
    // Progress reports trail the feed (batches after `idx` may be on their way), so they never
    // move `fed` back: doing so re-sent applied entries and, once those were compacted, failed.
    [self](applied_atom, index_t idx) {
      auto& st = self->state;
      st.applied = std::max(st.applied, idx);
      prune_snapshots(self);  // files an install kept for the applier, once it is past them
    },
    [self](flush_atom) { flush_batch(self); },
    [self](commit_atom) {
      self->state.store_commit_due = false;
      send_store_commit(self);
    },
    [self](snapshot_atom, const snapshot_meta& meta) { compact(self, meta); },
    [self](snapshot_atom, const caf::error& err) {
      say(self, "snapshot failed (retried later): " + self->system().render(err));
    },
    [self](install_snapshot_request& req) { on_install_snapshot(self, req); },
    [self](const install_snapshot_response& resp) { on_install_response(self, resp); },
    // Clients.
    [self](propose_atom, std::string& cmd) -> caf::result<std::string> {
      if (auto err = check_proposals(self->state, 1, cmd.size()))
        return err;
      auto index = append_proposal(self, std::move(cmd));
      self->state.writes.push_back({index, index, false, self->make_response_promise()});
      return caf::delegated<std::string>();
    },
    [self](propose_atom, std::vector<std::string>& cmds) -> caf::result<std::vector<std::string>> {
      if (cmds.empty())
        return std::vector<std::string>{};
      size_t largest = 0;
      for (const auto& c : cmds)
        largest = std::max(largest, c.size());
      if (auto err = check_proposals(self->state, cmds.size(), largest))
        return err;
      auto first = self->state.log.last().index + 1;
      index_t last = 0;
      for (auto& c : cmds)
        last = append_proposal(self, std::move(c));
      self->state.writes.push_back({first, last, true, self->make_response_promise()});
      return caf::delegated<std::vector<std::string>>();
    },
    [self](query_atom, std::string& request) -> caf::result<std::string> {
      auto& st = self->state;
      if (st.role != node_role::leader)
        return make_error(errc::not_leader, st.leader, "not the leader");
      auto rp = self->make_response_promise();
      st.unrounded.push_back({rp, std::move(request)});
      schedule_flush(self);
      return caf::delegated<std::string>();
    },
    [self](status_atom) { return make_status(self); },
    [self](query_atom, local_atom, std::string& request) {
      // A read of this replica's applied state: possibly stale, never linearizable. For
      // monitoring and for comparing replicas, not for clients that need the latest value.
      self->delegate(self->state.applier, query_atom::value, index_t{0}, std::move(request));
      return caf::delegated<std::string>();
    },
    // Operators.
    [self](change_atom, const membership_change& c) -> caf::result<membership> {
      auto& st = self->state;
      if (st.role != node_role::leader)
        return make_error(errc::not_leader, st.leader, "not the leader");
      if (st.transfer_to != no_node)
        return make_error(errc::transfer_in_progress, "leadership transfer in progress");
      if (st.change || st.config_id.index > st.commit)
        return make_error(errc::config_change, "another configuration change is in progress");
      // Until an entry of its own term commits, a new leader may not know the latest committed
      // configuration (the single-server change safety fix).
      if (st.commit < st.term_start)
        return make_error(errc::busy, "the leader has not committed an entry yet");
      auto out = apply_change(st.config, c);
      if (!out.ok)
        return make_error(errc::config_change, out.error);
      if (c.kind == membership_change::promote) {
        auto m = st.match.count(c.id) ? st.match[c.id] : 0;
        if (m + st.cfg.max_learner_lag < st.log.last().index)
          return make_error(errc::config_change,
                            "learner " + std::to_string(c.id) + " is "
                              + std::to_string(st.log.last().index - m)
                              + " entries behind; promote it once it has caught up");
      }
      log_entry e{st.log.last().index + 1, st.hs.term, entry_kind::config, encode(out.next)};
      auto rp = self->make_response_promise();
      st.change = node_state::pending_change{rp, e.index};
      // Queue before accepting: accepting may spawn replicators for new members, and they must
      // receive this entry with the flush rather than believe they already have it.
      st.batch.push_back(e);
      accept_entries(self, log_entries{std::move(e)}, 0);
      schedule_flush(self);
      return caf::delegated<membership>();
    },
    [self](transfer_atom, node_id target) -> caf::result<node_id> {
      auto& st = self->state;
      if (st.role != node_role::leader)
        return make_error(errc::not_leader, st.leader, "not the leader");
      if (target == no_node) {
        // The voter closest to our log needs the shortest catch-up.
        index_t best = 0;
        for (auto& [id, m] : st.match)
          if (st.config.is_voter(id) && (target == no_node || m > best)) {
            target = id;
            best = m;
          }
        if (target == no_node)
          return make_error(errc::config_change, "there is no other voter to transfer to");
      }
      if (target == st.cfg.id)
        return target;
      if (!st.config.is_voter(target) || !st.replicators.count(target))
        return make_error(errc::config_change, "node " + std::to_string(target)
                                                 + " is not a voter");
      if (st.transfer_to != no_node)
        return make_error(errc::transfer_in_progress, "a transfer is already running");
      st.transfer_to = target;
      st.transfer_rp = self->make_response_promise();
      self->delayed_send(self, st.cfg.election_timeout, transfer_atom::value,
                         timeout_atom::value, ++st.transfer_epoch);
      try_transfer(self);
      return caf::delegated<node_id>();
    },
    [self](transfer_atom, timeout_atom, uint64_t epoch) {
      // The target did not take over within an election timeout: resume normal operation.
      auto& st = self->state;
      if (epoch != st.transfer_epoch || st.transfer_to == no_node)
        return;
      st.transfer_rp.deliver(make_error(errc::timeout, "leadership transfer timed out"));
      st.transfer_to = no_node;
    },
    [self](const timeout_now& tn) {
      auto& st = self->state;
      if (tn.term == st.hs.term && tn.leader == st.leader && st.role == node_role::follower)
        start_campaign(self, false, true);
    },
  };
}

} // namespace

caf::expected<node_api> spawn_node(caf::actor_system& sys, node_config cfg,
                                   std::unique_ptr<state_machine> sm) {
  if (cfg.id == no_node)
    return make_error(errc::invalid_argument, "node id must be a positive integer");
  if (cfg.data_dir.empty())
    return make_error(errc::invalid_argument, "a data directory is required");
  if (!sm)
    return make_error(errc::invalid_argument, "a state machine is required");
  if (cfg.heartbeat_interval.count() <= 0 || cfg.election_timeout <= cfg.heartbeat_interval)
    return make_error(errc::invalid_argument,
                      "election timeout must be longer than the heartbeat interval");
  storage_options so;
  so.dir = cfg.data_dir;
  so.id = cfg.id;
  so.cluster_id = cfg.cluster_id;
  so.bootstrap = cfg.bootstrap;
  so.sync = cfg.sync;
  so.power_cut = cfg.power_cut;
  auto store = spawn_persistence(sys, so, cfg.detached && cfg.sync);
  if (!store)
    return std::move(store.error());
  auto holder = std::make_shared<std::unique_ptr<state_machine>>(std::move(sm));
  auto h = sys.spawn(node, std::move(cfg), std::move(*store), std::move(holder));
  return caf::actor_cast<node_api>(h);
}

} // namespace raft
