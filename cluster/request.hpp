// The client commands (put/get/cas/del/status/digest): parsing from words, execution through
// cluster_client, and the JSON reply format of the client shell.
#pragma once

#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "cluster/client.hpp"

namespace raft::cli {

struct request {
  enum class kind { put, get, cas, del, status, digest };
  kind op = kind::get;
  std::string key;
  std::string value;     // put: value; cas: new value
  std::string expected;  // cas: old value
};

/// Parses {"put", "K", "V"} and friends; errors are errc::invalid_argument with a message.
caf::expected<request> parse_request(const std::vector<std::string>& words);

/// Splits a shell line at spaces and tabs (ignoring a trailing '\r').
std::vector<std::string> split_words(const std::string& line);

/// What a request produced: a KV result or a status (only one is set), or an error.
struct response {
  caf::expected<kv_result> kv = kv_result{};
  caf::expected<node_status> status = node_status{};
};

response execute(cluster_client& client, const request& req);

/// The shell's reply line (without the newline).
std::string to_json(const request& req, const response& res);
std::string error_json(const caf::error& err);

} // namespace raft::cli
