// Textual cluster descriptions shared by the CLI and embedders: "host:port" endpoints and
// "id=host:port,..." member lists, parsed into values with errors as caf::error.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "messages/log_id.hpp"

namespace raft {

struct endpoint {
  std::string host;
  uint16_t port = 0;

  std::string to_string() const;

  friend bool operator==(const endpoint& a, const endpoint& b) {
    return a.host == b.host && a.port == b.port;
  }
  friend bool operator!=(const endpoint& a, const endpoint& b) { return !(a == b); }
  friend bool operator<(const endpoint& a, const endpoint& b) {
    return a.host < b.host || (a.host == b.host && a.port < b.port);
  }
};

/// Parses "host:port" (port 1..65535; an IPv6 host must be bracketed: "[::1]:7000").
caf::expected<endpoint> parse_endpoint(const std::string& text);

/// Parses a comma-separated endpoint list ("h:p,h:p"); empty items are errors, duplicates are
/// removed while keeping the first occurrence's position.
caf::expected<std::vector<endpoint>> parse_endpoints(const std::string& text);

/// Parses a positive node id written in decimal.
caf::expected<node_id> parse_node_id(const std::string& text);

/// Parses one member spec "id=host:port".
caf::expected<std::pair<node_id, endpoint>> parse_member(const std::string& spec);

/// Parses member specs "id=host:port". Each item of `items` may itself hold several
/// comma-separated specs, so both ["1=a:1,2=b:2"] and ["1=a:1", "2=b:2"] are accepted.
/// Duplicate ids or duplicate addresses are errors.
caf::expected<std::map<node_id, endpoint>> parse_members(const std::vector<std::string>& items);

/// The human-readable part of an error made by this file (its string context), or a rendering
/// of the whole error otherwise.
std::string error_text(const caf::error& err);

/// Renders members back into the "id=host:port,..." form accepted by parse_members.
std::string format_members(const std::map<node_id, endpoint>& members);

} // namespace raft
