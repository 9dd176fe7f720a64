// See proposer.hpp. Commands that arrive while all batch slots are taken wait in `queue`; a
// flush message to ourselves lets everything already in the mailbox join the next batch. A
// following proposer parks batches the leader refused without taking them, and resends them to
// the leader it learns of once nothing else is in flight, so that they keep their order.
// Batches wait for their answers without a CAF request timeout each: one watchdog timer,
// armed while anything is in flight, answers those whose time is up.
#include "actors/proposer.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include <caf/all.hpp>

#include "messages/atoms.hpp"
#include "messages/errc.hpp"

namespace raft {

namespace {

using retry_atom = caf::atom_constant<caf::atom("retry")>;
using expire_atom = caf::atom_constant<caf::atom("expire")>;

struct batch {
  std::vector<caf::response_promise> callers;
  // Kept by a following proposer only: the commands, for a resend.
  std::optional<std::vector<std::string>> cmds;
  caf::actor_clock::time_point deadline;  // for the callers' answer, resends included
  node_id sent_to = no_node;              // the member asked last (following only)
  caf::error refusal;                     // set: refused, not taken; parked for a resend
};

struct proposer_state {
  static inline const char* name = "raft.proposer";
  std::map<node_id, node_api> members;  // empty: a fixed leader
  node_id target = no_node;             // the member we send to (following only)
  node_api leader;
  proposer_options opts;
  std::deque<std::pair<std::string, caf::response_promise>> queue;
  // Unanswered and parked batches, by batch number: kept here rather than in the reply handlers
  // so that a stopping proposer can still answer them.
  std::map<uint64_t, batch> in_flight;
  uint64_t next_batch = 0;
  // The newest batch that a leader took (or may have): an older refused batch resent now would
  // be applied after it.
  std::optional<uint64_t> newest_taken;
  bool flush_scheduled = false;
  bool retry_scheduled = false;
  std::optional<caf::actor_clock::time_point> watchdog_at;  // when the watchdog wakes us

  bool following() const { return !members.empty(); }

  size_t parked() const {
    return static_cast<size_t>(std::count_if(in_flight.begin(), in_flight.end(),
                                             [](const auto& kv) { return kv.second.refusal; }));
  }

  void aim_at(node_id id) {
    target = id;
    leader = members.at(id);
  }

  // The next member after `target`, for when no leader is named.
  void rotate() {
    auto it = members.upper_bound(target);
    aim_at(it == members.end() ? members.begin()->first : it->first);
  }

  // Stopping: what was never sent was not applied; what was sent may have been.
  void fail_all() {
    auto not_sent = make_error(errc::shutting_down, "proposer stopped before sending");
    for (auto& q : queue)
      q.second.deliver(not_sent);
    queue.clear();
    auto unknown = make_error(errc::unavailable, "proposer stopped; outcome unknown");
    for (auto& b : in_flight)
      for (auto& c : b.second.callers)
        c.deliver(b.second.refusal ? b.second.refusal : unknown);
    in_flight.clear();
  }
};

// The public interface plus the messages we send ourselves.
using proposer_impl = proposal_api::extend<caf::reacts_to<flush_atom>, caf::reacts_to<retry_atom>,
                                           caf::reacts_to<expire_atom>>;
using self_ptr = proposer_impl::stateful_pointer<proposer_state>;

void send_batch(self_ptr self);
void send(self_ptr self, uint64_t id, std::vector<std::string> cmds);

// A refusal that says the batch was not taken and another attempt may succeed.
bool retryable(const caf::error& err) {
  return is(err, errc::not_leader) || is(err, errc::busy) || is(err, errc::transfer_in_progress);
}

void deliver(batch& b, caf::expected<std::vector<std::string>> results) {
  for (size_t i = 0; i < b.callers.size(); ++i) {
    if (!results)
      b.callers[i].deliver(results.error());
    else if (i < results->size())
      b.callers[i].deliver(std::move((*results)[i]));
    else  // a node never answers short; should one ever, nobody waits forever
      b.callers[i].deliver(make_error(errc::unavailable, "batch answered short; outcome unknown"));
  }
}

// Sends what waits in the queue into the free slots, unless parked batches must go first. (A
// flush already scheduled leaves them to it, so newcomers in the mailbox join the batch.)
void fill_slots(self_ptr self) {
  auto& st = self->state;
  while (!st.flush_scheduled && !st.queue.empty() && st.parked() == 0
         && st.in_flight.size() < st.opts.max_batches_in_flight)
    send_batch(self);
}

// Every batch still in flight was refused: resend those that can keep their order, to the
// leader we now aim at; answer the others with their refusal (not applied).
void resend_parked(self_ptr self) {
  auto& st = self->state;
  st.retry_scheduled = false;
  if (st.in_flight.size() != st.parked())
    return;  // an answer is still due; the last one brings us back here
  auto now = self->clock().now();
  for (auto it = st.in_flight.begin(); it != st.in_flight.end();) {
    auto& b = it->second;
    if ((st.newest_taken && *st.newest_taken > it->first) || now >= b.deadline) {
      deliver(b, std::move(b.refusal));
      it = st.in_flight.erase(it);
    } else {
      b.refusal = caf::error{};
      send(self, it->first, *b.cmds);
      ++it;
    }
  }
  fill_slots(self);
}

// A refused batch waits until nothing else is in flight. Then, if a refusal named a leader we
// have not asked yet, the batches go there at once; otherwise after retry_delay (to the next
// member if nobody named a leader: a follower then names it), so that nodes which disagree
// about the leader mid-election cannot make us spin.
void park(self_ptr self, uint64_t id, caf::error err) {
  auto& st = self->state;
  auto hint = leader_hint(err);
  auto& b = st.in_flight.at(id);
  b.refusal = std::move(err);
  if (hint != no_node && st.members.count(hint) > 0)
    st.aim_at(hint);
  if (st.in_flight.size() != st.parked() || st.retry_scheduled)
    return;
  if (st.target != st.in_flight.rbegin()->second.sent_to) {
    resend_parked(self);
  } else {
    st.retry_scheduled = true;
    self->delayed_send(self, st.opts.retry_delay, retry_atom::value);
  }
}

// The answer (results or the leader's error) for batch `id`; frees its slot for queued callers.
void answer_batch(self_ptr self, uint64_t id, caf::expected<std::vector<std::string>> results) {
  auto& st = self->state;
  auto it = st.in_flight.find(id);
  if (it == st.in_flight.end())
    return;  // already answered while stopping
  if (!results && st.following() && retryable(results.error())) {
    park(self, id, std::move(results.error()));
    return;
  }
  st.newest_taken = std::max(st.newest_taken.value_or(id), id);
  if (!results && st.following() && results.error().category() != errc_category)
    st.rotate();  // the leader is gone or silent (a dead actor, a timeout): ask around
  deliver(it->second, std::move(results));
  st.in_flight.erase(it);
  if (st.parked() > 0 && st.in_flight.size() == st.parked() && !st.retry_scheduled)
    resend_parked(self);
  else
    fill_slots(self);
}

// Wakes us at the earliest deadline of a batch in flight. A CAF request timeout per batch
// arms a timer on CAF's clock thread, and wakes that thread, for every batch; this arms about
// one per `timeout` under steady load.
void arm_watchdog(self_ptr self) {
  auto& st = self->state;
  // Parked batches are not waiting for an answer: resend_parked checks their time.
  std::optional<caf::actor_clock::time_point> first;
  for (auto& kv : st.in_flight)
    if (!kv.second.refusal && (!first || kv.second.deadline < *first))
      first = kv.second.deadline;
  // Deadlines grow with each new batch; only a resent batch keeps an earlier one.
  if (!first || (st.watchdog_at && *st.watchdog_at <= *first))
    return;
  st.watchdog_at = first;
  auto left = std::chrono::duration_cast<caf::timespan>(*first - self->clock().now());
  self->delayed_send(self, std::max(left, caf::timespan{1}), expire_atom::value);
}

void send(self_ptr self, uint64_t id, std::vector<std::string> cmds) {
  auto& st = self->state;
  st.in_flight.at(id).sent_to = st.target;
  self->request(st.leader, caf::infinite, propose_atom::value, std::move(cmds))
    .then([self, id](std::vector<std::string>& rs) { answer_batch(self, id, std::move(rs)); },
          [self, id](caf::error& err) { answer_batch(self, id, std::move(err)); });
  arm_watchdog(self);
}

void send_batch(self_ptr self) {
  auto& st = self->state;
  auto n = std::min(st.queue.size(), st.opts.max_batch);
  if (n == 0)
    return;
  batch b;
  std::vector<std::string> cmds;
  cmds.reserve(n);
  b.callers.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    cmds.push_back(std::move(st.queue.front().first));
    b.callers.push_back(std::move(st.queue.front().second));
    st.queue.pop_front();
  }
  if (st.following())
    b.cmds = cmds;
  b.deadline = self->clock().now() + st.opts.timeout;
  auto id = st.next_batch++;
  st.in_flight.emplace(id, std::move(b));
  send(self, id, std::move(cmds));
}

proposer_impl::behavior_type proposer(self_ptr self, std::map<node_id, node_api> members,
                                      node_api leader, node_id first, proposer_options opts) {
  auto& st = self->state;
  st.members = std::move(members);
  st.opts = opts;
  if (st.following())
    st.aim_at(first);
  else
    st.leader = std::move(leader);
  self->set_exit_handler([self](caf::exit_msg& msg) {
    self->state.fail_all();
    self->quit(msg.reason);
  });
  return {
    [self](propose_atom, std::string& cmd) -> caf::result<std::string> {
      auto& st = self->state;
      st.queue.emplace_back(std::move(cmd), self->make_response_promise());
      if (!st.flush_scheduled && st.parked() == 0
          && st.in_flight.size() < st.opts.max_batches_in_flight) {
        st.flush_scheduled = true;
        self->send(self, flush_atom::value);
      }
      return caf::delegated<std::string>();
    },
    [self](flush_atom) {
      self->state.flush_scheduled = false;
      fill_slots(self);
    },
    [self](expire_atom) {
      auto& st = self->state;
      auto now = self->clock().now();
      if (st.watchdog_at && now < *st.watchdog_at)
        return;  // armed before a resend moved the watchdog earlier: the current one is due later
      st.watchdog_at.reset();
      std::vector<uint64_t> expired;
      for (auto& kv : st.in_flight)
        if (!kv.second.refusal && now >= kv.second.deadline)
          expired.push_back(kv.first);
      // As CAF's own request timeout would: the outcome is unknown. A late answer finds its
      // batch gone and is dropped.
      for (auto id : expired)
        answer_batch(self, id, caf::make_error(caf::sec::request_timeout));
      arm_watchdog(self);
    },
    [self](retry_atom) {
      auto& st = self->state;
      if (!st.retry_scheduled || st.in_flight.empty())
        return;
      auto& last = st.in_flight.rbegin()->second.refusal;
      if (is(last, errc::not_leader))
        st.rotate();  // nobody named a leader: a follower of the current one will
      resend_parked(self);
    },
  };
}

proposer_options checked(proposer_options opts) {
  opts.max_batches_in_flight = std::max<size_t>(opts.max_batches_in_flight, 1);
  opts.max_batch = std::max<size_t>(opts.max_batch, 1);
  return opts;
}

} // namespace

proposal_api spawn_proposer(caf::actor_system& sys, node_api leader, proposer_options opts) {
  return sys.spawn(proposer, std::map<node_id, node_api>{}, std::move(leader), no_node,
                   checked(opts));
}

caf::expected<proposal_api> spawn_proposer(caf::actor_system& sys,
                                           std::map<node_id, node_api> members, node_id first,
                                           proposer_options opts) {
  if (members.empty())
    return make_error(errc::invalid_argument, "a proposer needs at least one member");
  if (first == no_node)
    first = members.begin()->first;
  if (members.count(first) == 0)
    return make_error(errc::invalid_argument, "the first member to ask is not a member");
  return sys.spawn(proposer, std::move(members), node_api{}, first, checked(opts));
}

} // namespace raft
