// Election timing and tallying. Timers cannot be cancelled in CAF, so each timer carries an epoch
// and stale ticks are ignored; the clock is the actor clock, so tests run on virtual time.
#include "actors/election.hpp"

#include <random>
#include <vector>

#include <caf/all.hpp>

#include "core/quorum.hpp"
#include "messages/atoms.hpp"
#include "messages/internal.hpp"
#include "messages/membership.hpp"
#include "messages/vote.hpp"

namespace raft {

namespace {

struct election_state {
  static inline const char* name = "raft.election";
  election_options opts;
  caf::actor node;
  std::mt19937_64 rng;
  node_role role = node_role::follower;
  term_t term = 0;
  uint64_t epoch = 0;
  caf::actor_clock::time_point last_heard;
  caf::timespan wait{0};
  // The running campaign, if any.
  bool campaigning = false;
  bool pre = false;
  term_t campaign_term = 0;
  membership config;
  std::vector<node_id> granted;
  std::vector<node_id> refused;
};

using self_ptr = caf::stateful_actor<election_state>*;

caf::timespan random_wait(self_ptr self) {
  auto& st = self->state;
  auto base = st.opts.timeout.count();
  std::uniform_int_distribution<decltype(base)> dist(base, 2 * base - 1);
  return caf::timespan{dist(st.rng)};
}

void arm(self_ptr self, caf::timespan after) {
  self->delayed_send(self, after, timeout_atom::value, ++self->state.epoch);
}

void arm_for_role(self_ptr self) {
  auto& st = self->state;
  if (st.role == node_role::leader) {
    // CheckQuorum: a leader must hear from a quorum once per election timeout.
    if (st.opts.check_quorum)
      arm(self, st.opts.timeout);
    else
      ++st.epoch;
  } else {
    st.wait = random_wait(self);
    st.last_heard = self->clock().now();
    arm(self, st.wait);
  }
}

void tally(self_ptr self) {
  auto& st = self->state;
  switch (raft::tally(st.config, st.granted, st.refused)) {
    case vote_outcome::won:
      st.campaigning = false;
      self->send(st.node, elected_atom::value, st.pre, st.campaign_term);
      break;
    case vote_outcome::lost:
      st.campaigning = false;  // wait for the next timeout
      break;
    case vote_outcome::pending:
      break;
  }
}

caf::behavior election(self_ptr self, caf::actor node, election_options opts) {
  auto& st = self->state;
  st.opts = opts;
  st.node = std::move(node);
  st.rng.seed(opts.seed != 0 ? opts.seed ^ (opts.self * 0x9E3779B97F4A7C15ull)
                             : std::random_device{}());
  arm_for_role(self);
  return {
    [self](role_atom, node_role role, term_t term) {
      auto& st = self->state;
      st.role = role;
      st.term = term;
      st.campaigning = false;
      arm_for_role(self);
    },
    [self](heard_atom) { self->state.last_heard = self->clock().now(); },
    [self](timeout_atom, uint64_t epoch) {
      auto& st = self->state;
      if (epoch != st.epoch)
        return;  // superseded timer
      if (st.role == node_role::leader) {
        self->send(st.node, check_atom::value);
        arm(self, st.opts.timeout);
        return;
      }
      if (st.role == node_role::learner) {
        arm(self, st.opts.timeout);
        return;  // learners never campaign
      }
      auto now = self->clock().now();
      auto since = now - st.last_heard;
      if (since < st.wait) {
        arm(self, st.wait - since);  // heard from a leader meanwhile: wait out the remainder
        return;
      }
      st.wait = random_wait(self);
      st.last_heard = now;
      arm(self, st.wait);
      self->send(st.node, campaign_atom::value, st.opts.pre_vote);
    },
    [self](leader_lost_atom) {
      // The leader's process or connection is gone: campaign after a short random delay rather
      // than a whole timeout. PreVote still asks first, so a leader that is in fact alive for
      // the others keeps its term.
      auto& st = self->state;
      if (st.role != node_role::follower)
        return;
      auto quarter = st.opts.timeout.count() / 4;
      std::uniform_int_distribution<decltype(quarter)> dist(0, std::max<decltype(quarter)>(quarter, 1));
      st.wait = caf::timespan{dist(st.rng)};
      st.last_heard = self->clock().now();
      arm(self, st.wait);
    },
    [self](timeout_atom) {
      // Leadership transfer (TimeoutNow): campaign at once, skipping PreVote.
      auto& st = self->state;
      st.last_heard = self->clock().now();
      self->send(st.node, campaign_atom::value, false);
    },
    [self](campaign_atom, bool pre, term_t term, membership& config) {
      auto& st = self->state;
      st.campaigning = true;
      st.pre = pre;
      st.campaign_term = term;
      st.config = std::move(config);
      st.granted.assign(1, st.opts.self);
      st.refused.clear();
      if (!pre)
        st.role = node_role::candidate;
      tally(self);  // a single-voter cluster wins at once
    },
    [self](const vote_response& resp) {
      auto& st = self->state;
      if (!st.campaigning || resp.pre_vote != st.pre)
        return;
      if (resp.granted && resp.term != st.campaign_term)
        return;  // a grant for another campaign
      auto& bucket = resp.granted ? st.granted : st.refused;
      if (std::find(bucket.begin(), bucket.end(), resp.from) == bucket.end())
        bucket.push_back(resp.from);
      tally(self);
    },
  };
}

} // namespace

caf::actor spawn_election(caf::actor_system& sys, caf::actor node, election_options opts) {
  return sys.spawn(election, std::move(node), opts);
}

} // namespace raft
