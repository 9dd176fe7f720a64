// Unit tests of the pure Raft rules in core/: log term index, quorum math, vote decisions,
// log matching (incl. the paper's Figure 7 and a seeded convergence property) and flow control.
#define BOOST_TEST_MODULE core_rules
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "core/compaction_policy.hpp"
#include "core/log_matching.hpp"
#include "core/log_terms.hpp"
#include "core/progress.hpp"
#include "core/quorum.hpp"
#include "core/vote_rules.hpp"

using namespace raft;

// Boost.Test prints both operands of a failed BOOST_TEST(a == b); teach it our value types.
namespace boost::test_tools::tt_detail {
template <class T>
struct print_log_value<std::optional<T>> {
  void operator()(std::ostream& os, const std::optional<T>& x) {
    if (x)
      os << *x;
    else
      os << "nullopt";
  }
};
template <>
struct print_log_value<raft::log_id> {
  void operator()(std::ostream& os, const raft::log_id& x) {
    os << "(term " << x.term << ", index " << x.index << ")";
  }
};
} // namespace boost::test_tools::tt_detail

namespace {

// ---------------------------------------------------------------------------------------------
// Helpers shared by the suites.

/// A log spelled as terms: terms[k] is the term of index base.index + 1 + k. Simple enough to be
/// obviously right, so it serves as the reference model for log_terms.
struct vec_log {
  log_id base;
  std::vector<term_t> terms;

  index_t last_index() const { return base.index + terms.size(); }
  std::optional<term_t> term_at(index_t i) const {
    if (i == base.index)
      return base.term;
    if (i < base.index || i > last_index())
      return std::nullopt;
    return terms[i - base.index - 1];
  }
  log_id last() const { return terms.empty() ? base : log_id{terms.back(), last_index()}; }
  log_terms to_terms() const {
    log_terms lt{base, {}, base};
    for (auto t : terms)
      lt.append(t, 1);
    return lt;
  }
};

/// A log without snapshot, written as in the paper's figures: {1,1,1,4,4,...}.
log_terms make_log(const std::vector<term_t>& terms, log_id base = {}) {
  return vec_log{base, terms}.to_terms();
}

/// Entries [from, to] of a leader log given as terms starting at index 1.
log_entries slice(const std::vector<term_t>& leader, index_t from, index_t to) {
  log_entries xs;
  for (index_t i = from; i <= to; ++i) {
    log_entry e;
    e.index = i;
    e.term = leader[i - 1];
    e.payload = "x" + std::to_string(i);
    xs.push_back(std::move(e));
  }
  return xs;
}

log_id id_at(const std::vector<term_t>& leader, index_t i) {
  return {i == 0 ? 0 : leader[i - 1], i};
}

/// Applies an accepted verdict to the follower model exactly as the node would.
void apply_verdict(vec_log& f, const append_verdict& v, const log_entries& entries) {
  BOOST_REQUIRE(v.accept);
  if (v.truncate_from != 0) {
    BOOST_REQUIRE_GT(v.truncate_from, f.base.index);
    f.terms.resize(v.truncate_from - f.base.index - 1);
  }
  for (size_t k = v.skip; k < entries.size(); ++k) {
    // Appends must be contiguous: anything else would be a hole in the follower's log.
    BOOST_REQUIRE_EQUAL(entries[k].index, f.last_index() + 1);
    f.terms.push_back(entries[k].term);
  }
}

/// True if the follower holds exactly the leader's entries on (base, upto].
bool holds_prefix(const vec_log& f, const std::vector<term_t>& leader, index_t upto) {
  if (upto > f.last_index() || upto > leader.size())
    return false;
  if (f.base.index > 0 && f.base.index <= leader.size() && f.base.term != leader[f.base.index - 1])
    return false;
  for (index_t i = f.base.index + 1; i <= upto; ++i)
    if (*f.term_at(i) != leader[i - 1])
      return false;
  return true;
}

struct sent_request {
  log_id prev;
  log_entries entries;
};

struct sync_stats {
  size_t rejects = 0;
  size_t requests = 0;
  index_t first_match = 0;  // follower position when the first request was accepted
  std::vector<sent_request> history;
};

/// Drives one follower to the leader's log the way a fresh leader does: probe at its last index,
/// back off with next_after_reject, then stream batches. Fails the test on any rule violation.
sync_stats sync_follower(const std::vector<term_t>& leader, vec_log& f, index_t commit,
                         size_t batch) {
  sync_stats st;
  auto leader_lt = make_log(leader);
  index_t last = leader.size();
  index_t next = last + 1;
  index_t match = 0;
  bool matched_once = false;
  while (st.requests < 10'000) {
    ++st.requests;
    index_t prev_index = next - 1;
    auto prev = id_at(leader, prev_index);
    auto entries = matched_once ? slice(leader, next, std::min<index_t>(last, next + batch - 1))
                                : log_entries{};
    st.history.push_back({prev, entries});
    auto v = check_append(f.to_terms(), commit, prev, entries);
    BOOST_REQUIRE_MESSAGE(!v.violates_commit, "leader-consistent append reported a commit "
                                              "violation at prev index "
                                                << prev_index);
    if (!v.accept) {
      ++st.rejects;
      auto n = next_after_reject(leader_lt, match, prev_index, v.conflict_term, v.conflict_index);
      // The contract: never below match + 1, always strictly below the rejected position + 1.
      BOOST_REQUIRE_GE(n, match + 1);
      BOOST_REQUIRE_LE(n, prev_index);
      BOOST_REQUIRE_LT(n, next);
      next = n;
      continue;
    }
    apply_verdict(f, v, entries);
    BOOST_REQUIRE_GE(v.match.index, prev_index);
    BOOST_REQUIRE(holds_prefix(f, leader, v.match.index));
    if (!matched_once)
      st.first_match = v.match.index;
    matched_once = true;
    match = std::max(match, v.match.index);
    next = match + 1;
    if (match >= last)
      break;
  }
  BOOST_REQUIRE_GE(match, last);
  return st;
}

std::vector<term_t> distinct(std::vector<term_t> xs) {
  xs.erase(std::unique(xs.begin(), xs.end()), xs.end());
  return xs;
}

} // namespace

// =============================================================================================
BOOST_AUTO_TEST_SUITE(log_terms_suite)

BOOST_AUTO_TEST_CASE(empty_log_has_only_the_zero_position) {
  log_terms lt;
  BOOST_TEST(lt.empty());
  BOOST_TEST(lt.first_index() == 1u);
  BOOST_TEST(lt.last() == (log_id{0, 0}));
  BOOST_TEST(lt.term_at(0) == std::optional<term_t>{0});
  BOOST_TEST(!lt.term_at(1).has_value());
  // Index 0 / term 0 is the universal "before everything" position every log matches.
  BOOST_TEST(lt.matches({0, 0}));
  BOOST_TEST(!lt.matches({1, 1}));
  BOOST_TEST(!lt.first_index_of(1).has_value());
  BOOST_TEST(lt.last_index_at_or_below(5) == 0u);
}

BOOST_AUTO_TEST_CASE(constructor_reads_boundaries) {
  // Figure 7's leader: 1 1 1 4 4 5 5 6 6 6.
  log_terms lt{{0, 0}, {{1, 1}, {4, 4}, {5, 6}, {6, 8}}, {6, 10}};
  std::vector<term_t> expected{1, 1, 1, 4, 4, 5, 5, 6, 6, 6};
  for (index_t i = 1; i <= 10; ++i)
    BOOST_TEST(lt.term_at(i) == std::optional<term_t>{expected[i - 1]}, "index " << i);
  BOOST_TEST(!lt.term_at(11).has_value());
  BOOST_TEST(lt.first_index_of(4) == std::optional<index_t>{4});
  BOOST_TEST(lt.first_index_of(6) == std::optional<index_t>{8});
  BOOST_TEST(!lt.first_index_of(2).has_value());
  BOOST_TEST(!lt.first_index_of(7).has_value());
  BOOST_TEST(lt.last_index_at_or_below(0) == 0u);
  BOOST_TEST(lt.last_index_at_or_below(1) == 3u);
  BOOST_TEST(lt.last_index_at_or_below(3) == 3u);  // no term 3: the last term-1 entry
  BOOST_TEST(lt.last_index_at_or_below(4) == 5u);
  BOOST_TEST(lt.last_index_at_or_below(6) == 10u);
  BOOST_TEST(lt.last_index_at_or_below(99) == 10u);
}

BOOST_AUTO_TEST_CASE(constructor_normalizes_last_below_base) {
  // A `last` behind the snapshot means "empty after the snapshot": stale starts must vanish.
  log_terms lt{{3, 10}, {{3, 11}}, {2, 5}};
  BOOST_TEST(lt.empty());
  BOOST_TEST(lt.last() == (log_id{3, 10}));
  BOOST_TEST(lt.starts().empty());
  BOOST_TEST(lt.first_index() == 11u);
}

BOOST_AUTO_TEST_CASE(snapshot_base_counts_as_a_position) {
  log_terms lt{{3, 10}, {{3, 11}, {5, 13}}, {5, 14}};
  BOOST_TEST(lt.first_index() == 11u);
  BOOST_TEST(lt.term_at(10) == std::optional<term_t>{3});
  BOOST_TEST(!lt.term_at(9).has_value());  // purged: unknown
  BOOST_TEST(lt.matches({3, 10}));
  BOOST_TEST(!lt.matches({2, 10}));
  BOOST_TEST(lt.term_at(12) == std::optional<term_t>{3});
  BOOST_TEST(lt.term_at(14) == std::optional<term_t>{5});
  BOOST_TEST(lt.last_index_at_or_below(2) == 0u);   // base term 3 > 2: nothing qualifies
  BOOST_TEST(lt.last_index_at_or_below(4) == 12u);
}

BOOST_AUTO_TEST_CASE(append_merges_runs_of_one_term) {
  log_terms lt;
  lt.append(1, 3);
  lt.append(1, 2);  // same term: extends the run instead of adding a boundary
  lt.append(2, 0);  // nothing appended: no boundary either
  lt.append(3, 1);
  BOOST_TEST(lt.starts().size() == 2u);
  BOOST_TEST(lt.last() == (log_id{3, 6}));
  BOOST_TEST(lt.term_at(5) == std::optional<term_t>{1});
  BOOST_TEST(!lt.first_index_of(2).has_value());
}

BOOST_AUTO_TEST_CASE(truncate_from_drops_tail_and_boundaries) {
  auto lt = make_log({1, 1, 2, 2, 3, 3});
  lt.truncate_from(7);  // past the end: no-op
  BOOST_TEST(lt.last() == (log_id{3, 6}));
  lt.truncate_from(4);
  BOOST_TEST(lt.last() == (log_id{2, 3}));
  BOOST_TEST(!lt.first_index_of(3).has_value());
  lt.truncate_from(3);  // removes the whole term-2 run, including its boundary
  BOOST_TEST(lt.last() == (log_id{1, 2}));
  BOOST_TEST(!lt.first_index_of(2).has_value());
  lt.append(5, 1);
  BOOST_TEST(lt.term_at(3) == std::optional<term_t>{5});
  lt.truncate_from(1);
  BOOST_TEST(lt.empty());
  BOOST_TEST(lt.last() == (log_id{0, 0}));
}

BOOST_AUTO_TEST_CASE(truncate_at_or_below_base_keeps_base) {
  log_terms lt{{3, 10}, {{4, 11}}, {4, 12}};
  lt.truncate_from(10);
  BOOST_TEST(lt.empty());
  BOOST_TEST(lt.last() == (log_id{3, 10}));
  BOOST_TEST(lt.matches({3, 10}));
}

BOOST_AUTO_TEST_CASE(purge_to_inside_a_run_moves_its_start) {
  auto lt = make_log({1, 1, 2, 2, 2, 3});
  lt.purge_to({2, 4});
  BOOST_TEST(lt.base() == (log_id{2, 4}));
  BOOST_TEST(lt.first_index() == 5u);
  BOOST_TEST(!lt.term_at(3).has_value());
  BOOST_TEST(lt.term_at(4) == std::optional<term_t>{2});
  BOOST_TEST(lt.term_at(5) == std::optional<term_t>{2});
  BOOST_TEST(lt.first_index_of(2) == std::optional<index_t>{5});  // run clipped at base + 1
  BOOST_TEST(!lt.first_index_of(1).has_value());
  BOOST_TEST(lt.last() == (log_id{3, 6}));
}

BOOST_AUTO_TEST_CASE(purge_to_run_end_and_to_last) {
  auto lt = make_log({1, 1, 2, 2, 3});
  lt.purge_to({2, 4});  // exactly the end of term 2's run
  BOOST_TEST(lt.starts().size() == 1u);
  BOOST_TEST(lt.first_index_of(3) == std::optional<index_t>{5});
  lt.purge_to({3, 5});  // everything
  BOOST_TEST(lt.empty());
  BOOST_TEST(lt.last() == (log_id{3, 5}));
  lt.purge_to({1, 2});  // behind the base: ignored
  BOOST_TEST(lt.base() == (log_id{3, 5}));
}

BOOST_AUTO_TEST_CASE(purge_to_foreign_id_empties_the_log) {
  // Installing a snapshot whose last id we do not hold: the whole log is superseded.
  auto lt = make_log({1, 1, 2});
  lt.purge_to({5, 2});
  BOOST_TEST(lt.empty());
  BOOST_TEST(lt.base() == (log_id{5, 2}));
  BOOST_TEST(lt.last() == (log_id{5, 2}));
  lt.purge_to({6, 9});  // beyond our last
  BOOST_TEST(lt.last() == (log_id{6, 9}));
  BOOST_TEST(lt.first_index() == 10u);
}

// Random operation sequences against the vector model: every query must agree afterwards.
BOOST_AUTO_TEST_CASE(random_operations_match_the_model) {
  std::mt19937_64 rng{12345};
  auto pick = [&rng](uint64_t n) { return n == 0 ? 0 : rng() % n; };
  for (int run = 0; run < 300; ++run) {
    vec_log model;
    log_terms lt;
    for (int step = 0; step < 40; ++step) {
      auto op = pick(10);
      if (op < 5) {
        term_t t = model.last().term + pick(3);
        auto n = pick(4);
        lt.append(t, n);
        model.terms.insert(model.terms.end(), n, t);
      } else if (op < 7) {
        index_t i = model.base.index + pick(model.terms.size() + 3);
        lt.truncate_from(i);
        if (i <= model.base.index)
          model.terms.clear();
        else if (i <= model.last_index())
          model.terms.resize(i - model.base.index - 1);
      } else if (op < 9) {
        index_t i = model.base.index + pick(model.terms.size() + 2);
        log_id id{model.term_at(i).value_or(model.last().term + 1), i};
        if (pick(4) == 0)
          id.term += 1;  // sometimes a snapshot we do not hold
        lt.purge_to(id);
        if (id.index > model.base.index) {
          if (model.term_at(id.index) == std::optional<term_t>{id.term}) {
            model.terms.erase(model.terms.begin(),
                              model.terms.begin() + (id.index - model.base.index));
          } else {
            model.terms.clear();
          }
          model.base = id;
        }
      } else {
        lt = model.to_terms();  // rebuild: the constructor path must agree too
        lt = log_terms{lt.base(), lt.starts(), lt.last()};
      }
      BOOST_REQUIRE(lt.base() == model.base);
      BOOST_REQUIRE(lt.last() == model.last());
      BOOST_REQUIRE_EQUAL(lt.empty(), model.terms.empty());
      for (index_t i = 0; i <= model.last_index() + 2; ++i)
        BOOST_REQUIRE_MESSAGE(lt.term_at(i) == model.term_at(i), "run " << run << " index " << i);
      for (term_t t = 0; t <= model.last().term + 2; ++t) {
        std::optional<index_t> first;
        index_t below = 0;
        for (index_t i = model.base.index; i <= model.last_index(); ++i) {
          auto ti = *model.term_at(i);
          if (i > model.base.index && ti == t && !first)
            first = i;
          if (ti <= t)
            below = i;
        }
        BOOST_REQUIRE_MESSAGE(lt.first_index_of(t) == first, "run " << run << " term " << t);
        BOOST_REQUIRE_MESSAGE(lt.last_index_at_or_below(t) == below,
                              "run " << run << " term " << t);
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

// =============================================================================================
BOOST_AUTO_TEST_SUITE(quorum_suite)

std::function<index_t(node_id)> acks(std::map<node_id, index_t> m) {
  return [m](node_id n) {
    auto it = m.find(n);
    return it == m.end() ? index_t{0} : it->second;
  };
}

// The paper's Figure 8: S1 leads term 4 with log [1@1, 2@2, 3@4]. Once S1 has copied index 2
// (term 2) to S2 and S3, a majority stores it, yet S5 (log [1@1, 2@3]) could still win an
// election with the votes of S2-S4 and overwrite it. So index 2 must not commit by counting;
// it commits only together with index 3 of term 4.
BOOST_AUTO_TEST_CASE(figure_8_an_older_terms_entry_never_commits_by_counting) {
  membership five;
  five.voters = {1, 2, 3, 4, 5};
  log_terms s1{{0, 0}, {{1, 1}, {2, 2}, {4, 3}}, {4, 3}};
  // (c): index 2 on S1, S2, S3; index 3 only on S1.
  auto c = acks({{1, 3}, {2, 2}, {3, 2}, {4, 1}, {5, 1}});
  BOOST_TEST(quorum_index(five, c) == 2u);
  BOOST_TEST(next_commit(five, c, s1, 4, 1) == 1u);
  // (e): index 3 of term 4 reaches a majority; everything up to it commits.
  auto e = acks({{1, 3}, {2, 3}, {3, 3}, {4, 1}, {5, 1}});
  BOOST_TEST(next_commit(five, e, s1, 4, 1) == 3u);
  // Never backwards, and never beyond what a majority holds.
  BOOST_TEST(next_commit(five, c, s1, 4, 3) == 3u);
  BOOST_TEST(next_commit(five, acks({{1, 3}}), s1, 4, 0) == 0u);
}

BOOST_AUTO_TEST_CASE(majority_sizes) {
  BOOST_TEST(majority(1) == 1u);
  BOOST_TEST(majority(2) == 2u);
  BOOST_TEST(majority(3) == 2u);
  BOOST_TEST(majority(4) == 3u);
  BOOST_TEST(majority(5) == 3u);
  BOOST_TEST(majority(7) == 4u);
}

BOOST_AUTO_TEST_CASE(quorum_index_simple) {
  BOOST_TEST(quorum_index(std::vector<node_id>{}, acks({{1, 9}})) == 0u);
  BOOST_TEST(quorum_index(std::vector<node_id>{1}, acks({{1, 9}})) == 9u);
  BOOST_TEST(quorum_index(std::vector<node_id>{1, 2, 3}, acks({{1, 5}, {2, 3}, {3, 1}})) == 3u);
  BOOST_TEST(quorum_index(std::vector<node_id>{1, 2, 3}, acks({{1, 5}})) == 0u);
  BOOST_TEST(quorum_index(std::vector<node_id>{1, 2, 3, 4}, acks({{1, 4}, {2, 3}, {3, 2}, {4, 1}}))
             == 2u);
  BOOST_TEST(quorum_index(std::vector<node_id>{1, 2, 3, 4, 5},
                          acks({{1, 1}, {2, 9}, {3, 5}, {4, 7}, {5, 3}}))
             == 5u);
  // Non-voters' progress never counts.
  BOOST_TEST(quorum_index(std::vector<node_id>{1, 2, 3}, acks({{1, 8}, {7, 8}, {8, 8}})) == 0u);
}

BOOST_AUTO_TEST_CASE(quorum_index_joint_takes_the_minimum) {
  membership m;
  m.voters = {1, 2, 3};
  m.old_voters = {4, 5, 6};
  auto f = acks({{1, 10}, {2, 10}, {3, 10}, {4, 4}, {5, 7}, {6, 1}});
  BOOST_TEST(quorum_index(m, f) == 4u);  // new half says 10, old half only 4
  m.old_voters.clear();
  BOOST_TEST(quorum_index(m, f) == 10u);
  // Overlapping halves: {1,2,3} -> 5, {3,4,5} -> 2 (node 3 counts in both).
  membership j;
  j.voters = {1, 2, 3};
  j.old_voters = {3, 4, 5};
  BOOST_TEST(quorum_index(j, acks({{1, 5}, {2, 5}, {3, 2}, {4, 2}, {5, 0}})) == 2u);
  BOOST_TEST(quorum_index(j, acks({{1, 5}, {2, 5}, {3, 5}, {4, 1}, {5, 0}})) == 1u);
  BOOST_TEST(quorum_index(j, acks({{1, 5}, {2, 0}, {3, 5}, {4, 5}, {5, 0}})) == 5u);
}

BOOST_AUTO_TEST_CASE(tally_simple) {
  std::vector<node_id> v{1, 2, 3};
  BOOST_TEST((tally(v, {1}, {}) == vote_outcome::pending));
  BOOST_TEST((tally(v, {1, 2}, {}) == vote_outcome::won));
  BOOST_TEST((tally(v, {1}, {2}) == vote_outcome::pending));
  BOOST_TEST((tally(v, {1}, {2, 3}) == vote_outcome::lost));
  BOOST_TEST((tally(v, {}, {2, 3}) == vote_outcome::lost));
  // Duplicates and outsiders must not count.
  BOOST_TEST((tally(v, {1, 1, 1}, {}) == vote_outcome::pending));
  BOOST_TEST((tally(v, {1, 8, 9}, {}) == vote_outcome::pending));
  std::vector<node_id> four{1, 2, 3, 4};
  BOOST_TEST((tally(four, {1, 2}, {3}) == vote_outcome::pending));
  BOOST_TEST((tally(four, {1, 2}, {3, 4}) == vote_outcome::lost));  // 2 of 4 is no majority
  BOOST_TEST((tally(four, {1, 2, 4}, {3}) == vote_outcome::won));
  BOOST_TEST((tally(std::vector<node_id>{1}, {1}, {}) == vote_outcome::won));
}

BOOST_AUTO_TEST_CASE(tally_joint_needs_both_halves) {
  membership m;
  m.voters = {1, 2, 3};
  m.old_voters = {4, 5, 6};
  BOOST_TEST((tally(m, {1, 2}, {}) == vote_outcome::pending));      // new won, old pending
  BOOST_TEST((tally(m, {1, 2, 4, 5}, {}) == vote_outcome::won));
  BOOST_TEST((tally(m, {1, 2}, {4, 5}) == vote_outcome::lost));     // old half lost
  BOOST_TEST((tally(m, {4, 5}, {1, 2}) == vote_outcome::lost));     // new half lost
  BOOST_TEST((tally(m, {1, 4}, {2, 5}) == vote_outcome::pending));
  membership empty;
  BOOST_TEST((tally(empty, {1}, {}) == vote_outcome::lost));
  // has_quorum is the same "won" test over the active set.
  BOOST_TEST(has_quorum(m, {1, 3, 5, 6}));
  BOOST_TEST(!has_quorum(m, {1, 2, 3, 4}));
  membership single;
  single.voters = {7};
  BOOST_TEST(has_quorum(single, {7}));
  BOOST_TEST(!has_quorum(single, {1}));
  BOOST_TEST(!has_quorum(empty, {}));
}

BOOST_AUTO_TEST_SUITE_END()

// =============================================================================================
BOOST_AUTO_TEST_SUITE(vote_rules_suite)

vote_request req(term_t term, node_id cand, log_id last, bool pre = false, bool transfer = false) {
  vote_request r;
  r.term = term;
  r.candidate = cand;
  r.last = last;
  r.pre_vote = pre;
  r.transfer = transfer;
  return r;
}

BOOST_AUTO_TEST_CASE(up_to_date_compares_term_then_index) {
  BOOST_TEST(log_up_to_date({3, 7}, {3, 7}));
  BOOST_TEST(log_up_to_date({3, 8}, {3, 7}));
  BOOST_TEST(!log_up_to_date({3, 6}, {3, 7}));
  BOOST_TEST(log_up_to_date({4, 1}, {3, 7}));  // higher last term wins regardless of length
  BOOST_TEST(!log_up_to_date({2, 99}, {3, 7}));
  BOOST_TEST(log_up_to_date({0, 0}, {0, 0}));
}

BOOST_AUTO_TEST_CASE(stale_candidate_gets_our_term) {
  hard_state hs{5, 2};
  auto v = decide_vote(hs, {5, 10}, req(4, 3, {9, 99}), false);
  BOOST_TEST(!v.granted);
  BOOST_TEST(v.reply_term == 5u);
  BOOST_TEST(!v.persist.has_value());
  auto p = decide_vote(hs, {5, 10}, req(4, 3, {9, 99}, true), false);
  BOOST_TEST(!p.granted);
  BOOST_TEST(p.reply_term == 5u);
  BOOST_TEST(!p.persist.has_value());
}

BOOST_AUTO_TEST_CASE(higher_term_adopts_term_and_resets_vote) {
  hard_state hs{5, 2};
  auto v = decide_vote(hs, {5, 10}, req(7, 3, {5, 10}), false);
  BOOST_TEST(v.granted);
  BOOST_TEST(v.reply_term == 7u);
  BOOST_REQUIRE(v.persist.has_value());
  BOOST_TEST((*v.persist == hard_state{7, 3}));
  // Same, but the candidate's log is behind: term adopted, vote withheld (and not cast for anyone).
  auto w = decide_vote(hs, {5, 10}, req(7, 3, {5, 9}), false);
  BOOST_TEST(!w.granted);
  BOOST_TEST(w.reply_term == 7u);
  BOOST_REQUIRE(w.persist.has_value());
  BOOST_TEST((*w.persist == hard_state{7, no_node}));
}

BOOST_AUTO_TEST_CASE(one_vote_per_term) {
  hard_state fresh{5, no_node};
  auto a = decide_vote(fresh, {5, 10}, req(5, 3, {5, 10}), false);
  BOOST_TEST(a.granted);
  BOOST_REQUIRE(a.persist.has_value());
  BOOST_TEST((*a.persist == hard_state{5, 3}));
  hard_state voted{5, 3};
  auto again = decide_vote(voted, {5, 10}, req(5, 3, {5, 10}), false);
  BOOST_TEST(again.granted);                // a retransmitted request gets the same answer
  BOOST_TEST(!again.persist.has_value());   // but nothing changed, so nothing to persist
  auto other = decide_vote(voted, {5, 10}, req(5, 4, {6, 20}), false);
  BOOST_TEST(!other.granted);
  BOOST_TEST(other.reply_term == 5u);
  BOOST_TEST(!other.persist.has_value());
  auto behind = decide_vote(fresh, {5, 10}, req(5, 4, {5, 9}), false);
  BOOST_TEST(!behind.granted);
  BOOST_TEST(!behind.persist.has_value());
}

BOOST_AUTO_TEST_CASE(lease_blocks_disruptive_candidates) {
  hard_state hs{5, 1};
  auto v = decide_vote(hs, {5, 10}, req(6, 3, {5, 10}), true);
  BOOST_TEST(!v.granted);
  BOOST_TEST(v.reply_term == 5u);  // our term: the candidate must not learn of a raise we refused
  BOOST_TEST(!v.persist.has_value());
  auto pre = decide_vote(hs, {5, 10}, req(6, 3, {5, 10}, true), true);
  BOOST_TEST(!pre.granted);
  BOOST_TEST(!pre.persist.has_value());
  // Leadership transfer overrides the lease.
  auto t = decide_vote(hs, {5, 10}, req(6, 3, {5, 10}, false, true), true);
  BOOST_TEST(t.granted);
  BOOST_TEST(t.reply_term == 6u);
  BOOST_REQUIRE(t.persist.has_value());
  BOOST_TEST((*t.persist == hard_state{6, 3}));
  // The lease is about term raises only: a same-term request is decided normally.
  auto same = decide_vote(hard_state{5, 3}, {5, 10}, req(5, 3, {5, 10}), true);
  BOOST_TEST(same.granted);
}

BOOST_AUTO_TEST_CASE(pre_vote_changes_nothing) {
  hard_state hs{5, 2};
  auto up = decide_vote(hs, {5, 10}, req(6, 3, {5, 10}, true), false);
  BOOST_TEST(up.granted);
  BOOST_TEST(up.reply_term == 6u);  // granted PreVote echoes the request's term
  BOOST_TEST(!up.persist.has_value());
  auto behind = decide_vote(hs, {5, 10}, req(6, 3, {4, 30}, true), false);
  BOOST_TEST(!behind.granted);
  BOOST_TEST(behind.reply_term == 5u);
  BOOST_TEST(!behind.persist.has_value());
  // Same term: only if we could have voted for it anyway.
  auto same_other = decide_vote(hs, {5, 10}, req(5, 3, {5, 10}, true), false);
  BOOST_TEST(!same_other.granted);
  auto same_free = decide_vote(hard_state{5, no_node}, {5, 10}, req(5, 3, {5, 10}, true), false);
  BOOST_TEST(same_free.granted);
  BOOST_TEST(!same_free.persist.has_value());
}

// Exhaustive sweep over small inputs: the invariants that hold for every decision.
BOOST_AUTO_TEST_CASE(invariants_over_all_small_inputs) {
  size_t cases = 0;
  for (term_t my_term = 0; my_term <= 3; ++my_term)
    for (node_id voted : {no_node, node_id{1}, node_id{2}})
      for (term_t rt = 0; rt <= 4; ++rt)
        for (term_t lt = 0; lt <= 3; ++lt)
          for (index_t li = 0; li <= 2; ++li)
            for (int flags = 0; flags < 8; ++flags) {
              bool pre = flags & 1, transfer = flags & 2, lease = flags & 4;
              hard_state hs{my_term, voted};
              log_id mine{std::min<term_t>(my_term, 2), 1};
              auto r = req(rt, 1, {lt, li}, pre, transfer);
              auto v = decide_vote(hs, mine, r, lease);
              ++cases;
              BOOST_TEST_CONTEXT("term " << my_term << " voted " << voted << " req " << rt
                                         << " last " << lt << "/" << li << " flags " << flags) {
                if (v.granted) {
                  BOOST_TEST(rt >= my_term);
                  BOOST_TEST(log_up_to_date(r.last, mine));
                  BOOST_TEST(v.reply_term == rt);
                }
                if (pre || rt < my_term)
                  BOOST_TEST(!v.persist.has_value());
                if (lease && !transfer && rt > my_term) {
                  BOOST_TEST(!v.granted);
                  BOOST_TEST(!v.persist.has_value());
                }
                if (v.persist) {
                  BOOST_TEST((*v.persist != hs));  // persist only when something changed
                  BOOST_TEST(v.persist->term == rt);
                  BOOST_TEST((v.persist->voted_for == (v.granted ? r.candidate : voted)
                              || (rt > my_term && v.persist->voted_for == no_node)));
                }
                if (!pre && !v.granted && rt > my_term && !(lease && !transfer)) {
                  BOOST_REQUIRE(v.persist.has_value());  // the term raise must be durable
                  BOOST_TEST((*v.persist == hard_state{rt, no_node}));
                }
                BOOST_TEST(v.reply_term >= my_term);
              }
            }
  BOOST_TEST_MESSAGE("vote sweep cases: " << cases);
}

BOOST_AUTO_TEST_SUITE_END()

// =============================================================================================
BOOST_AUTO_TEST_SUITE(log_matching_suite)

BOOST_AUTO_TEST_CASE(heartbeat_on_matching_prev) {
  auto f = make_log({1, 1, 2});
  auto v = check_append(f, 0, {2, 3}, {});
  BOOST_TEST(v.accept);
  BOOST_TEST(v.truncate_from == 0u);
  BOOST_TEST(v.skip == 0u);
  BOOST_TEST(v.match == (log_id{2, 3}));
  // A heartbeat at an earlier matching position must not drop the tail either.
  auto w = check_append(f, 0, {1, 1}, {});
  BOOST_TEST(w.accept);
  BOOST_TEST(w.truncate_from == 0u);
  BOOST_TEST(w.match == (log_id{1, 1}));
  auto z = check_append(make_log({}), 0, {0, 0}, {});
  BOOST_TEST(z.accept);
}

BOOST_AUTO_TEST_CASE(reject_hints) {
  auto f = make_log({1, 1, 2, 2, 2});
  // prev beyond our log: conflict_term 0, conflict_index = our last + 1.
  auto a = check_append(f, 0, {3, 8}, {});
  BOOST_TEST(!a.accept);
  BOOST_TEST(!a.violates_commit);
  BOOST_TEST(a.conflict_term == 0u);
  BOOST_TEST(a.conflict_index == 6u);
  // prev present with another term: our term there and the first index of that term.
  auto b = check_append(f, 0, {3, 5}, {});
  BOOST_TEST(!b.accept);
  BOOST_TEST(b.conflict_term == 2u);
  BOOST_TEST(b.conflict_index == 3u);
  auto c = check_append(f, 0, {3, 2}, {});
  BOOST_TEST(c.conflict_term == 1u);
  BOOST_TEST(c.conflict_index == 1u);
}

BOOST_AUTO_TEST_CASE(append_new_entries) {
  std::vector<term_t> leader{1, 1, 2, 2, 3};
  auto v = check_append(make_log({1, 1}), 0, {1, 2}, slice(leader, 3, 5));
  BOOST_TEST(v.accept);
  BOOST_TEST(v.truncate_from == 0u);
  BOOST_TEST(v.skip == 0u);
  BOOST_TEST(v.match == (log_id{3, 5}));
}

BOOST_AUTO_TEST_CASE(truncate_only_at_first_conflict) {
  std::vector<term_t> leader{1, 1, 2, 3, 3};
  auto v = check_append(make_log({1, 1, 2, 2, 2, 2}), 0, {1, 1}, slice(leader, 2, 5));
  BOOST_TEST(v.accept);
  BOOST_TEST(v.skip == 2u);             // indexes 2 and 3 are already there
  BOOST_TEST(v.truncate_from == 4u);    // index 4 has term 2 here, 3 at the leader
  BOOST_TEST(v.match == (log_id{3, 5}));
  vec_log f{{}, {1, 1, 2, 2, 2, 2}};
  apply_verdict(f, v, slice(leader, 2, 5));
  BOOST_TEST((f.terms == leader));
}

BOOST_AUTO_TEST_CASE(conflict_at_or_below_commit_is_a_violation) {
  std::vector<term_t> leader{1, 1, 3, 3};
  auto f = make_log({1, 1, 2, 2});
  auto ok = check_append(f, 2, {1, 2}, slice(leader, 3, 4));
  BOOST_TEST(ok.accept);
  BOOST_TEST(ok.truncate_from == 3u);
  auto bad = check_append(f, 3, {1, 2}, slice(leader, 3, 4));
  BOOST_TEST(!bad.accept);
  BOOST_TEST(bad.violates_commit);
  BOOST_TEST(bad.truncate_from == 0u);
  // A matching overlap below commit is fine: only a real conflict is a violation.
  auto same = check_append(f, 4, {1, 1}, slice({1, 1, 2, 2}, 2, 4));
  BOOST_TEST(same.accept);
  BOOST_TEST(!same.violates_commit);
  BOOST_TEST(same.skip == 3u);
}

BOOST_AUTO_TEST_CASE(prev_before_snapshot_base) {
  // Leader 1 1 1 2 2 2 3 3; follower compacted through (2,5) and holds 6..8.
  std::vector<term_t> leader{1, 1, 1, 2, 2, 2, 3, 3};
  log_terms f{{2, 5}, {{2, 6}, {3, 7}}, {3, 8}};
  auto v = check_append(f, 5, {1, 3}, slice(leader, 4, 7));
  BOOST_TEST(v.accept);
  BOOST_TEST(!v.violates_commit);
  BOOST_TEST(v.truncate_from == 0u);
  BOOST_TEST(v.skip == 4u);  // 4 and 5 are inside the snapshot, 6 and 7 already present
  BOOST_TEST(v.match == (log_id{3, 7}));
  // Entries wholly inside the snapshot: accepted, nothing to do.
  auto w = check_append(f, 5, {1, 2}, slice(leader, 3, 4));
  BOOST_TEST(w.accept);
  BOOST_TEST(w.skip == 2u);
  BOOST_TEST(w.truncate_from == 0u);
  BOOST_TEST(w.match == (log_id{2, 4}));
  // Entries crossing the base and going past our last.
  vec_log fm{{2, 5}, {2, 3, 3}};
  leader.push_back(4);
  auto entries = slice(leader, 3, 9);
  auto x = check_append(fm.to_terms(), 5, {1, 2}, entries);
  BOOST_TEST(x.accept);
  BOOST_TEST(x.skip == 6u);
  apply_verdict(fm, x, entries);
  BOOST_TEST(holds_prefix(fm, leader, 9));
  // A heartbeat below the base: accepted; the follower holds at least the request's prev.
  auto h = check_append(f, 5, {1, 2}, {});
  BOOST_TEST(h.accept);
  BOOST_TEST(h.truncate_from == 0u);
  BOOST_TEST(h.match.index >= 2u);
  BOOST_TEST(f.matches(h.match));
}

BOOST_AUTO_TEST_CASE(reject_hint_on_compacted_follower) {
  // Term 2 runs across the snapshot base: the hint must not point into the snapshot.
  log_terms f{{2, 5}, {{2, 6}}, {2, 7}};
  auto v = check_append(f, 5, {3, 7}, {});
  BOOST_TEST(!v.accept);
  BOOST_TEST(v.conflict_term == 2u);
  BOOST_TEST(v.conflict_index == 6u);
}

// Pipelined requests may be duplicated and reordered; none may undo newer matching entries.
BOOST_AUTO_TEST_CASE(duplicated_and_reordered_requests) {
  std::vector<term_t> leader{1, 1, 2, 2, 2, 2};
  vec_log f{{}, {1, 1}};
  log_id prev_a{1, 2};
  auto a = slice(leader, 3, 4);
  log_id prev_b{2, 4};
  auto b = slice(leader, 5, 6);
  // B overtakes A: rejected with "send from 3".
  auto vb = check_append(f.to_terms(), 2, prev_b, b);
  BOOST_TEST(!vb.accept);
  BOOST_TEST(vb.conflict_term == 0u);
  BOOST_TEST(vb.conflict_index == 3u);
  auto va = check_append(f.to_terms(), 2, prev_a, a);
  apply_verdict(f, va, a);
  vb = check_append(f.to_terms(), 2, prev_b, b);  // the retransmission
  apply_verdict(f, vb, b);
  BOOST_TEST((f.terms == leader));
  // Now A arrives again, and again, and an even older heartbeat and a sub-range of A.
  for (int i = 0; i < 2; ++i) {
    auto dup = check_append(f.to_terms(), 4, prev_a, a);
    BOOST_TEST(dup.accept);
    BOOST_TEST(dup.truncate_from == 0u);
    BOOST_TEST(dup.skip == a.size());
    BOOST_TEST(dup.match == (log_id{2, 4}));  // only what this request covered
    apply_verdict(f, dup, a);
  }
  auto hb = check_append(f.to_terms(), 4, {1, 1}, {});
  BOOST_TEST(hb.accept);
  BOOST_TEST(hb.truncate_from == 0u);
  auto part = check_append(f.to_terms(), 4, {1, 2}, slice(leader, 3, 3));
  BOOST_TEST(part.accept);
  BOOST_TEST(part.truncate_from == 0u);
  BOOST_TEST((f.terms == leader));
}

BOOST_AUTO_TEST_CASE(next_after_reject_rules) {
  auto leader = make_log({1, 1, 1, 4, 4, 5, 5, 6, 6, 6});
  // No term at prev on the follower: resume at the follower's end.
  BOOST_TEST(next_after_reject(leader, 0, 10, 0, 8) == 8u);
  // Leader has the follower's term: resume after the leader's last entry of it.
  BOOST_TEST(next_after_reject(leader, 0, 7, 4, 4) == 6u);
  // Leader lacks the term: skip the follower's whole run of it.
  BOOST_TEST(next_after_reject(leader, 0, 10, 3, 7) == 7u);
  BOOST_TEST(next_after_reject(leader, 0, 6, 2, 4) == 4u);
  // Clamps: never at or above the rejected position + 1, never at or below match.
  BOOST_TEST(next_after_reject(leader, 0, 5, 0, 9) == 5u);
  BOOST_TEST(next_after_reject(leader, 3, 6, 1, 1) == 4u);
  BOOST_TEST(next_after_reject(leader, 0, 3, 0, 0) == 1u);
}

// Raft paper, Figure 7: leader for term 8 with log 1 1 1 4 4 5 5 6 6 6 and followers (a)-(f).
BOOST_AUTO_TEST_CASE(paper_figure_7) {
  const std::vector<term_t> leader{1, 1, 1, 4, 4, 5, 5, 6, 6, 6};
  struct row {
    const char* name;
    std::vector<term_t> log;
    bool accept;           // verdict on the first probe at prev = (6, 10)
    term_t conflict_term;
    index_t conflict_index;
    size_t rejects;        // until acceptance
    index_t first_match;   // where the logs first agree
  };
  const std::vector<row> rows{
    {"a", {1, 1, 1, 4, 4, 5, 5, 6, 6}, false, 0, 10, 1, 9},
    {"b", {1, 1, 1, 4}, false, 0, 5, 1, 4},
    {"c", {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6}, true, 0, 0, 0, 10},
    {"d", {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7}, true, 0, 0, 0, 10},
    {"e", {1, 1, 1, 4, 4, 4, 4}, false, 0, 8, 2, 5},
    {"f", {1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3}, false, 3, 7, 2, 3},
  };
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT("follower " << r.name) {
      auto v = check_append(make_log(r.log), 0, {6, 10}, {});
      BOOST_TEST(v.accept == r.accept);
      BOOST_TEST(v.conflict_term == r.conflict_term);
      BOOST_TEST(v.conflict_index == r.conflict_index);
      if (v.accept) {
        BOOST_TEST(v.truncate_from == 0u);  // extra entries stay until a real conflict shows up
      }
      vec_log f{{}, r.log};
      auto st = sync_follower(leader, f, 0, 3);
      BOOST_TEST(st.rejects == r.rejects);
      BOOST_TEST(st.first_match == r.first_match);
      BOOST_TEST(holds_prefix(f, leader, 10));
      // The new leader's first own entry (term 8 at 11) then removes (c)'s and (d)'s extras.
      auto with_noop = leader;
      with_noop.push_back(8);
      auto entries = slice(with_noop, 11, 11);
      auto w = check_append(f.to_terms(), 0, {6, 10}, entries);
      apply_verdict(f, w, entries);
      BOOST_TEST((f.terms == with_noop));
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

// =============================================================================================
// Seeded property test: random histories of a small cluster built by simulating elections
// and partial replication; every follower must then converge to the new leader's log.

namespace {

struct sim_node {
  std::vector<term_t> log;
  index_t commit = 0;
};

index_t common_prefix(const std::vector<term_t>& a, const std::vector<term_t>& b) {
  index_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n])
    ++n;
  return n;
}

log_id last_id(const std::vector<term_t>& log) {
  return log.empty() ? log_id{} : log_id{log.back(), log.size()};
}

uint64_t seed_from_env() {
  if (auto s = std::getenv("CAF_RAFT_SEED"))
    return std::strtoull(s, nullptr, 0);
  return std::random_device{}() ^ (uint64_t{std::random_device{}()} << 32);
}

} // namespace

BOOST_AUTO_TEST_CASE(property_random_histories_converge) {
  const uint64_t seed = seed_from_env();
  BOOST_TEST_MESSAGE("property_random_histories_converge: CAF_RAFT_SEED=" << seed);
  std::mt19937_64 rng{seed};
  auto pick = [&rng](uint64_t n) { return n == 0 ? 0 : rng() % n; };
  size_t followers_checked = 0;
  size_t total_rejects = 0;
  for (int run = 0; run < 400; ++run) {
    BOOST_TEST_CONTEXT("seed " << seed << " run " << run) {
      size_t n = 3 + pick(3);
      std::vector<sim_node> nodes(n);
      index_t cluster_commit = 0;
      term_t term = 0;
      size_t leader = 0;
      // Elects a node whose log is up to date against a majority; the most up-to-date always can.
      auto elect = [&] {
        ++term;
        for (;;) {
          size_t c = pick(n);
          size_t votes = 0;
          for (auto& x : nodes)
            votes += log_up_to_date(last_id(nodes[c].log), last_id(x.log)) ? 1 : 0;
          if (votes >= majority(n)) {
            leader = c;
            return;
          }
        }
      };
      size_t terms = 1 + pick(10);
      for (size_t round = 0; round < terms; ++round) {
        elect();
        auto& L = nodes[leader].log;
        L.insert(L.end(), pick(5), term);
        // Replicate a random prefix to a random subset, following the paper's receiver rule.
        for (size_t i = 0; i < n; ++i) {
          if (i == leader || pick(3) == 0)
            continue;
          auto& F = nodes[i].log;
          index_t p = common_prefix(F, L);
          index_t j = p + pick(L.size() - p + 1);
          for (index_t idx = p + 1; idx <= j; ++idx) {
            if (idx <= F.size() && F[idx - 1] != L[idx - 1])
              F.resize(idx - 1);
            if (idx > F.size())
              F.push_back(L[idx - 1]);
          }
          nodes[i].commit = std::max(nodes[i].commit, std::min(nodes[leader].commit, j));
        }
        // Commit: newest entry of the current term held by a majority.
        for (index_t idx = L.size(); idx > cluster_commit; --idx) {
          if (L[idx - 1] != term)
            break;
          size_t holders = 0;
          for (auto& x : nodes)
            holders += common_prefix(x.log, L) >= idx ? 1 : 0;
          if (holders >= majority(n)) {
            cluster_commit = idx;
            nodes[leader].commit = idx;
            break;
          }
        }
      }
      // The final leader; half of the time it has already appended its no-op.
      elect();
      bool noop = pick(2) == 0;
      if (noop)
        nodes[leader].log.push_back(term);
      const auto L = nodes[leader].log;
      for (size_t i = 0; i < n; ++i) {
        if (i == leader)
          continue;
        // The follower may have compacted any prefix of what it knows to be committed.
        auto& node = nodes[i];
        BOOST_REQUIRE_LE(node.commit, cluster_commit);
        index_t b = pick(node.commit + 1);
        vec_log f;
        f.base = {b == 0 ? 0 : node.log[b - 1], b};
        f.terms.assign(node.log.begin() + b, node.log.end());
        auto follower_terms = distinct(node.log);
        auto st = sync_follower(L, f, node.commit, 1 + pick(4));
        ++followers_checked;
        total_rejects += st.rejects;
        // Each rejection after the first moves prev into a lower term of the follower's log.
        BOOST_TEST(st.rejects <= follower_terms.size() + 1,
                   "rejects " << st.rejects << " follower terms " << follower_terms.size());
        BOOST_TEST(holds_prefix(f, L, L.size()));
        if (noop)
          BOOST_TEST(f.last_index() == L.size());  // nobody else can hold current-term entries
        // Replay every request of the exchange, duplicated and shuffled: all must be accepted
        // now and none may truncate anything.
        auto replay = st.history;
        replay.insert(replay.end(), st.history.begin(), st.history.end());
        std::shuffle(replay.begin(), replay.end(), rng);
        auto before = f.terms;
        for (const auto& r : replay) {
          auto v = check_append(f.to_terms(), node.commit, r.prev, r.entries);
          BOOST_REQUIRE(v.accept);
          BOOST_REQUIRE_EQUAL(v.truncate_from, 0u);
          BOOST_REQUIRE_EQUAL(v.skip, r.entries.size());
          apply_verdict(f, v, r.entries);
        }
        BOOST_TEST((f.terms == before));
      }
    }
  }
  BOOST_TEST_MESSAGE("followers synced: " << followers_checked << ", rejections: " << total_rejects);
}

// =============================================================================================
BOOST_AUTO_TEST_SUITE(progress_suite)

BOOST_AUTO_TEST_CASE(constructor_clamps) {
  progress p{0, 0, 0};
  BOOST_TEST(p.next() == 1u);
  BOOST_TEST(p.match() == 0u);
  BOOST_TEST((p.state() == progress::mode::probe));
  BOOST_TEST(p.can_send());
}

BOOST_AUTO_TEST_CASE(probe_sends_one_at_a_time) {
  progress p{11, 4, 1 << 20};
  BOOST_TEST(p.can_send());
  p.sent(10, 0);
  BOOST_TEST(!p.can_send());
  BOOST_TEST(p.next() == 11u);  // a probe may be rejected: next stays
  BOOST_TEST(p.inflight() == 0u);
  p.heard();                     // heartbeat reply: the probe may have been lost, retry allowed
  BOOST_TEST(p.can_send());
}

BOOST_AUTO_TEST_CASE(probe_backs_off_then_replicates) {
  progress p{11, 4, 1 << 20};
  p.sent(10, 0);
  BOOST_TEST(p.rejected(10, 8));
  BOOST_TEST(p.next() == 8u);
  BOOST_TEST((p.state() == progress::mode::probe));
  BOOST_TEST(p.can_send());
  p.sent(7, 0);
  // A duplicate of the first rejection arrives late: ignored, nothing moves.
  BOOST_TEST(!p.rejected(10, 8));
  BOOST_TEST(p.next() == 8u);
  BOOST_TEST(!p.can_send());
  BOOST_TEST(p.rejected(7, 6));
  BOOST_TEST(p.next() == 6u);
  p.sent(9, 4 * 24);  // a probe may carry entries 6..9
  BOOST_TEST(p.acked(9));
  BOOST_TEST((p.state() == progress::mode::replicate));
  BOOST_TEST(p.match() == 9u);
  BOOST_TEST(p.next() == 10u);
  BOOST_TEST(p.inflight() == 0u);
  BOOST_TEST(p.can_send());
}

BOOST_AUTO_TEST_CASE(replicate_window_by_messages) {
  progress p{1, 3, 1 << 20};
  p.acked(0);  // the empty probe at prev 0 succeeded
  BOOST_REQUIRE((p.state() == progress::mode::replicate));
  p.sent(5, 100);
  p.sent(10, 100);
  BOOST_TEST(p.can_send());
  p.sent(15, 100);
  BOOST_TEST(p.inflight() == 3u);
  BOOST_TEST(!p.can_send());
  BOOST_TEST(p.next() == 16u);
  p.sent(15, 0);  // a heartbeat (nothing new) consumes no window
  BOOST_TEST(p.inflight() == 3u);
  BOOST_TEST(p.acked(5));
  BOOST_TEST(p.inflight() == 2u);
  BOOST_TEST(p.inflight_bytes() == 200u);
  BOOST_TEST(p.can_send());
  BOOST_TEST(p.acked(12));  // partial ack: frees only the messages it fully covers
  BOOST_TEST(p.inflight() == 1u);
  BOOST_TEST(!p.acked(11));  // stale ack: no change
  BOOST_TEST(p.match() == 12u);
  BOOST_TEST(p.acked(15));
  BOOST_TEST(p.inflight() == 0u);
  BOOST_TEST(p.inflight_bytes() == 0u);
  BOOST_TEST(p.next() == 16u);
}

BOOST_AUTO_TEST_CASE(replicate_window_by_bytes) {
  progress p{1, 100, 250};
  p.acked(0);
  BOOST_TEST(p.byte_budget() == 250u);
  p.sent(1, 200);
  BOOST_TEST(p.can_send());
  BOOST_TEST(p.byte_budget() == 50u);
  p.sent(2, 100);  // a single oversized batch is allowed to overshoot
  BOOST_TEST(!p.can_send());
  BOOST_TEST(p.byte_budget() == 0u);
  p.acked(1);
  BOOST_TEST(p.inflight_bytes() == 100u);
  BOOST_TEST(p.can_send());
  BOOST_TEST(p.byte_budget() == 150u);
}

BOOST_AUTO_TEST_CASE(rejection_in_replicate_falls_back_to_probe) {
  progress p{1, 8, 1 << 20};
  p.acked(0);
  p.sent(10, 10);
  p.sent(20, 10);
  p.sent(30, 10);
  BOOST_TEST(p.acked(10));
  // The follower lost/rejected the request with prev 20 (a rejection at prev 10 == match would
  // be stale: the follower durably holds 10).
  BOOST_TEST(p.rejected(20, 11));
  BOOST_TEST((p.state() == progress::mode::probe));
  BOOST_TEST(p.next() == 11u);
  BOOST_TEST(p.inflight() == 0u);
  BOOST_TEST(p.inflight_bytes() == 0u);
  BOOST_TEST(p.can_send());
  // The rejection for the pipelined request with prev 30 is now stale and ignored.
  p.sent(20, 10);
  BOOST_TEST(!p.rejected(30, 11));
  BOOST_TEST(p.next() == 11u);
  BOOST_TEST(!p.can_send());
}

BOOST_AUTO_TEST_CASE(stale_rejection_below_match_is_ignored) {
  progress p{1, 8, 1 << 20};
  p.acked(0);
  p.sent(10, 10);
  p.sent(20, 10);
  BOOST_TEST(p.acked(20));
  BOOST_TEST(!p.rejected(5, 3));  // answers a request older than the ack
  BOOST_TEST((p.state() == progress::mode::replicate));
  BOOST_TEST(p.next() == 21u);
  BOOST_TEST(p.match() == 20u);
  // Hints below match never rewind next below match + 1.
  BOOST_TEST(p.rejected(25, 1));
  BOOST_TEST(p.next() == 21u);
}

// Regression (was a bug): progress::rejected treats a rejection of prev == match as fresh (`rejected_prev < match_`
// should be `<=`, as in etcd's MaybeDecrTo). The follower durably acked `match`, so a rejection
// of prev == match can only answer an older, reordered request; acting on it drops replicate
// mode and throws away the whole in-flight window.
BOOST_AUTO_TEST_CASE(stale_rejection_at_match_is_ignored) {
  progress p{1, 8, 1 << 20};
  p.acked(0);
  p.sent(10, 10);  // A: prev 0, entries 1..10
  p.sent(20, 10);  // B: prev 10, entries 11..20
  p.sent(30, 10);  // C: prev 20, entries 21..30
  // B overtook A and was rejected (prev 10 missing); then A's ack arrives, then B's rejection.
  BOOST_TEST(p.acked(10));
  BOOST_TEST(!p.rejected(10, 1));
  BOOST_TEST((p.state() == progress::mode::replicate));
  BOOST_TEST(p.inflight() == 2u);
  BOOST_TEST(p.next() == 31u);
}

BOOST_AUTO_TEST_CASE(snapshot_mode) {
  progress p{50, 8, 1 << 20};
  p.begin_snapshot(40);
  BOOST_TEST((p.state() == progress::mode::snapshot));
  BOOST_TEST(p.pending_snapshot() == 40u);
  BOOST_TEST(!p.can_send());
  BOOST_TEST(!p.rejected(49, 10));  // rejections mean nothing while the snapshot is in flight
  p.heard();
  BOOST_TEST(!p.can_send());
  p.snapshot_done(40);
  BOOST_TEST((p.state() == progress::mode::probe));
  BOOST_TEST(p.match() == 40u);
  BOOST_TEST(p.next() == 41u);
  BOOST_TEST(p.pending_snapshot() == 0u);
  BOOST_TEST(p.can_send());
  p.snapshot_done(99);  // not in snapshot mode: ignored
  BOOST_TEST(p.match() == 40u);
}

BOOST_AUTO_TEST_CASE(ack_past_pending_snapshot_resumes_replication) {
  progress p{50, 8, 1 << 20};
  p.begin_snapshot(40);
  BOOST_TEST(p.acked(30));  // an older append's ack: not enough
  BOOST_TEST((p.state() == progress::mode::snapshot));
  BOOST_TEST(p.acked(45));
  BOOST_TEST((p.state() == progress::mode::replicate));
  BOOST_TEST(p.next() == 50u);
  BOOST_TEST(p.pending_snapshot() == 0u);
  BOOST_TEST(p.can_send());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(compaction_waits_for_the_log_to_outweigh_the_snapshot) {
  compaction_policy p{100, 1000, 1.0};
  BOOST_TEST(!p.due(0, 0, 0));
  BOOST_TEST(!p.due(99, 500, 0));
  BOOST_TEST(p.due(100, 500, 0));       // count trigger, no snapshot yet
  BOOST_TEST(p.due(10, 1000, 0));       // byte trigger
  BOOST_TEST(!p.due(100, 500, 800));    // count reached, but 500 B of commands < 1.0 x 800 B
  BOOST_TEST(p.due(100, 800, 800));
  BOOST_TEST(!p.due(5000, 1500, 2000)); // both triggers reached, still held back by the ratio
  compaction_policy no_ratio{100, 0, 0};
  BOOST_TEST(no_ratio.due(100, 1, 1 << 30));
  compaction_policy never{0, 0, 0};
  BOOST_TEST(!never.due(1 << 20, 1 << 30, 0));
  // With a growing state (every command adds to it), snapshot work stays linear in the bytes
  // written: the snapshots' sizes add up to about twice the final state, not n^2 / entries.
  compaction_policy grow{10, 0, 1.0};
  uint64_t state = 0, since_entries = 0, since_bytes = 0, rewritten = 0;
  for (int i = 0; i < 100000; ++i) {
    state += 100, since_bytes += 100, ++since_entries;
    if (grow.due(since_entries, since_bytes, state - since_bytes)) {
      rewritten += state;
      since_entries = since_bytes = 0;
    }
  }
  BOOST_TEST(rewritten <= 2 * state + 100 * 10);
}

BOOST_AUTO_TEST_CASE(a_purge_keeps_trailing_entries_and_what_a_snapshot_receiver_needs_next) {
  BOOST_TEST(purge_upto(1000, 100, 0) == 900u);
  BOOST_TEST(purge_upto(50, 100, 0) == 0u);   // fewer entries than the tail: nothing goes
  BOOST_TEST(purge_upto(1000, 0, 0) == 1000u);
  // A follower is receiving the snapshot through 400: it will ask for 401 next.
  BOOST_TEST(purge_upto(1000, 100, 401) == 400u);
  // A receiver that needs nothing the tail does not keep anyway changes nothing.
  BOOST_TEST(purge_upto(1000, 100, 950) == 900u);
  BOOST_TEST(purge_upto(1000, 100, 901) == 900u);
  BOOST_TEST(purge_upto(1000, 100, 1) == 0u);
}
