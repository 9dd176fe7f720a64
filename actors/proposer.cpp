// See proposer.hpp. Commands that arrive while all batch slots are taken wait in `queue`; a
// flush message to ourselves lets everything already in the mailbox join the next batch.
#include "actors/proposer.hpp"

#include <deque>
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
  size_t in_flight = 0;
  bool flush_scheduled = false;
};

// The public interface plus the flush we send ourselves.
using proposer_impl = proposal_api::extend<caf::reacts_to<flush_atom>>;
using self_ptr = proposer_impl::stateful_pointer<proposer_state>;

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
  ++st.in_flight;
  auto done = [self] {
    --self->state.in_flight;
    if (!self->state.queue.empty() && !self->state.flush_scheduled)
      send_batch(self);
  };
  auto shared = std::make_shared<std::vector<caf::response_promise>>(std::move(callers));
  self->request(st.leader, st.opts.timeout, propose_atom::value, std::move(cmds))
    .then(
      [shared, done](std::vector<std::string>& results) {
        auto& cs = *shared;
        for (size_t i = 0; i < cs.size(); ++i) {
          if (i < results.size())
            cs[i].deliver(std::move(results[i]));
          else  // a node never answers short; should one ever, nobody waits forever
            cs[i].deliver(make_error(errc::unavailable, "batch answered short; outcome unknown"));
        }
        done();
      },
      [shared, done](caf::error& err) {
        for (auto& c : *shared)
          c.deliver(err);
        done();
      });
}

proposer_impl::behavior_type proposer(self_ptr self, node_api leader, proposer_options opts) {
  self->state.leader = std::move(leader);
  self->state.opts = opts;
  return {
    [self](propose_atom, std::string& cmd) -> caf::result<std::string> {
      auto& st = self->state;
      st.queue.emplace_back(std::move(cmd), self->make_response_promise());
      if (!st.flush_scheduled && st.in_flight < st.opts.max_batches_in_flight) {
        st.flush_scheduled = true;
        self->send(self, flush_atom::value);
      }
      return caf::delegated<std::string>();
    },
    [self](flush_atom) {
      auto& st = self->state;
      st.flush_scheduled = false;
      while (!st.queue.empty() && st.in_flight < st.opts.max_batches_in_flight)
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
