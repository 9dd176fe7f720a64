// See proposer.hpp. Commands that arrive while all batch slots are taken wait in `queue`; a
// flush message to ourselves lets everything already in the mailbox join the next batch.
#include "actors/proposer.hpp"

#include <deque>
#include <map>
#include <utility>
#include <vector>

#include <caf/all.hpp>

#include "messages/atoms.hpp"
#include "messages/errc.hpp"

namespace raft {

namespace {

struct proposer_state {
  static inline const char* name = "raft.proposer";
  node_api leader;
  proposer_options opts;
  std::deque<std::pair<std::string, caf::response_promise>> queue;
  // The callers of each unanswered batch, by batch number: kept here rather than in the reply
  // handlers so that a stopping proposer can still answer them.
  std::map<uint64_t, std::vector<caf::response_promise>> in_flight;
  uint64_t next_batch = 0;
  bool flush_scheduled = false;

  // Stopping: what was never sent was not applied; what was sent may have been.
  void fail_all() {
    auto not_sent = make_error(errc::shutting_down, "proposer stopped before sending");
    for (auto& q : queue)
      q.second.deliver(not_sent);
    queue.clear();
    auto unknown = make_error(errc::unavailable, "proposer stopped; outcome unknown");
    for (auto& b : in_flight)
      for (auto& c : b.second)
        c.deliver(unknown);
    in_flight.clear();
  }
};

// The public interface plus the flush we send ourselves.
using proposer_impl = proposal_api::extend<caf::reacts_to<flush_atom>>;
using self_ptr = proposer_impl::stateful_pointer<proposer_state>;

void send_batch(self_ptr self);

// The answer (results or the leader's error) for batch `id`; frees its slot for queued callers.
void answer_batch(self_ptr self, uint64_t id, caf::expected<std::vector<std::string>> results) {
  auto& st = self->state;
  auto it = st.in_flight.find(id);
  if (it == st.in_flight.end())
    return;  // already answered while stopping
  auto& callers = it->second;
  for (size_t i = 0; i < callers.size(); ++i) {
    if (!results)
      callers[i].deliver(results.error());
    else if (i < results->size())
      callers[i].deliver(std::move((*results)[i]));
    else  // a node never answers short; should one ever, nobody waits forever
      callers[i].deliver(make_error(errc::unavailable, "batch answered short; outcome unknown"));
  }
  st.in_flight.erase(it);
  if (!st.queue.empty() && !st.flush_scheduled)
    send_batch(self);
}

void send_batch(self_ptr self) {
  auto& st = self->state;
  auto n = std::min(st.queue.size(), st.opts.max_batch);
  if (n == 0)
    return;
  std::vector<std::string> cmds;
  std::vector<caf::response_promise> callers;
  cmds.reserve(n);
  callers.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    cmds.push_back(std::move(st.queue.front().first));
    callers.push_back(std::move(st.queue.front().second));
    st.queue.pop_front();
  }
  auto id = st.next_batch++;
  st.in_flight.emplace(id, std::move(callers));
  self->request(st.leader, st.opts.timeout, propose_atom::value, std::move(cmds))
    .then([self, id](std::vector<std::string>& rs) { answer_batch(self, id, std::move(rs)); },
          [self, id](caf::error& err) { answer_batch(self, id, std::move(err)); });
}

proposer_impl::behavior_type proposer(self_ptr self, node_api leader, proposer_options opts) {
  self->state.leader = std::move(leader);
  self->state.opts = opts;
  self->set_exit_handler([self](caf::exit_msg& msg) {
    self->state.fail_all();
    self->quit(msg.reason);
  });
  return {
    [self](propose_atom, std::string& cmd) -> caf::result<std::string> {
      auto& st = self->state;
      st.queue.emplace_back(std::move(cmd), self->make_response_promise());
      if (!st.flush_scheduled && st.in_flight.size() < st.opts.max_batches_in_flight) {
        st.flush_scheduled = true;
        self->send(self, flush_atom::value);
      }
      return caf::delegated<std::string>();
    },
    [self](flush_atom) {
      auto& st = self->state;
      st.flush_scheduled = false;
      while (!st.queue.empty() && st.in_flight.size() < st.opts.max_batches_in_flight)
        send_batch(self);
    },
  };
}

} // namespace

proposal_api spawn_proposer(caf::actor_system& sys, node_api leader, proposer_options opts) {
  opts.max_batches_in_flight = std::max<size_t>(opts.max_batches_in_flight, 1);
  opts.max_batch = std::max<size_t>(opts.max_batch, 1);
  return sys.spawn(proposer, std::move(leader), opts);
}

} // namespace raft
