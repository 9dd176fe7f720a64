// RequestVote and its reply, for both PreVote (a dry run that changes no state) and real elections.
#pragma once

#include "messages/log_id.hpp"

namespace raft {

struct vote_request {
  term_t term = 0;          // the candidate's term (for PreVote: the term it would campaign in)
  node_id candidate = no_node;
  log_id last;              // candidate's last log id, for the up-to-date check
  bool pre_vote = false;
  bool transfer = false;    // leadership transfer: voters ignore their leader lease
};

struct vote_response {
  term_t term = 0;          // responder's term, or the request's term for a granted PreVote
  node_id from = no_node;
  bool granted = false;
  bool pre_vote = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, vote_request& x) {
  return f(caf::meta::type_name("raft.vote_request"), x.term, x.candidate, x.last, x.pre_vote,
           x.transfer);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, vote_response& x) {
  return f(caf::meta::type_name("raft.vote_response"), x.term, x.from, x.granted, x.pre_vote);
}

} // namespace raft
