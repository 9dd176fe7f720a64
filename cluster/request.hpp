// The client commands (put/get/cas/del/status/digest, member, transfer-leader): parsing from
// words, execution through cluster_client, and the JSON reply format of the client shell.
#pragma once

#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "cluster/client.hpp"

namespace raft::cli {

struct request {
  enum class kind {
    put, get, cas, del, status, digest,
    member_list, member_change, transfer_leader,
  };
  kind op = kind::get;
  std::string key;
  std::string value;         // put: value; cas: new value
  std::string expected;      // cas: old value
  membership_change change;  // member add/promote/remove
  node_id target = no_node;  // transfer-leader; 0 lets the leader pick
};

/// The command words as typed, for usage messages.
constexpr const char* member_usage =
  "member list | member add ID=HOST:PORT [--learner] | member promote ID | member remove ID";

/// Parses {"put", "K", "V"}, {"member", "add", "4=h:p", "--learner"} and friends; errors are
/// errc::invalid_argument with a message.
caf::expected<request> parse_request(const std::vector<std::string>& words);

/// Splits a shell line at spaces and tabs (ignoring a trailing '\r').
std::vector<std::string> split_words(const std::string& line);

/// What a request produced; only the member that belongs to the request's kind is meaningful.
struct response {
  caf::expected<kv_result> kv = kv_result{};
  caf::expected<node_status> status = node_status{};  // status, member list
  caf::expected<membership> config = membership{};    // member add/promote/remove
  caf::expected<node_id> leader = node_id{no_node};   // transfer-leader
};

/// The error of a response, if it failed.
caf::error response_error(const request& req, const response& res);

response execute(cluster_client& client, const request& req);

/// The shell's reply line (without the newline).
std::string to_json(const request& req, const response& res);
std::string error_json(const caf::error& err);

} // namespace raft::cli
