// Parsing of endpoint and member lists; every failure names the offending text so the CLI can
// show it verbatim.
#include "config/cluster_spec.hpp"

#include <set>

#include <caf/error.hpp>
#include <caf/sec.hpp>

namespace raft {

namespace {

caf::error invalid(std::string what) {
  return caf::make_error(caf::sec::invalid_argument, std::move(what));
}

std::string trim(const std::string& s) {
  auto first = s.find_first_not_of(" \t");
  if (first == std::string::npos)
    return {};
  auto last = s.find_last_not_of(" \t");
  return s.substr(first, last - first + 1);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string::size_type pos = 0;
  for (;;) {
    auto next = s.find(sep, pos);
    out.push_back(trim(s.substr(pos, next == std::string::npos ? next : next - pos)));
    if (next == std::string::npos)
      return out;
    pos = next + 1;
  }
}

bool all_digits(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

} // namespace

std::string error_text(const caf::error& err) {
  const auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return caf::to_string(err);
}

std::string endpoint::to_string() const {
  if (host.find(':') != std::string::npos)
    return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

caf::expected<endpoint> parse_endpoint(const std::string& raw) {
  auto text = trim(raw);
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return invalid("expected host:port, got \"" + raw + "\"");
  auto host = text.substr(0, colon);
  auto port = text.substr(colon + 1);
  if (host.front() == '[') {
    if (host.back() != ']' || host.size() < 3)
      return invalid("malformed IPv6 address in \"" + raw + "\"");
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    return invalid("IPv6 addresses need brackets ([::1]:7000), got \"" + raw + "\"");
  }
  // Digits only and at most 5 of them, so stoul can neither throw nor overflow.
  if (!all_digits(port) || port.size() > 5 || std::stoul(port) == 0 || std::stoul(port) > 65535)
    return invalid("invalid port in \"" + raw + "\" (expected 1..65535)");
  return endpoint{host, static_cast<uint16_t>(std::stoul(port))};
}

caf::expected<std::vector<endpoint>> parse_endpoints(const std::string& text) {
  std::vector<endpoint> out;
  if (trim(text).empty())
    return invalid("empty endpoint list");
  for (auto& item : split(text, ',')) {
    auto ep = parse_endpoint(item);
    if (!ep)
      return ep.error();
    bool seen = false;
    for (auto& x : out)
      seen = seen || x == *ep;
    if (!seen)
      out.push_back(std::move(*ep));
  }
  return out;
}

caf::expected<node_id> parse_node_id(const std::string& raw) {
  auto text = trim(raw);
  if (!all_digits(text) || text.size() > 19 || std::stoull(text) == 0)
    return invalid("node ids are positive integers, got \"" + raw + "\"");
  return static_cast<node_id>(std::stoull(text));
}

caf::expected<std::pair<node_id, endpoint>> parse_member(const std::string& raw) {
  auto spec = trim(raw);
  auto eq = spec.find('=');
  if (eq == std::string::npos)
    return invalid("expected member id=host:port, got \"" + raw + "\"");
  auto id = parse_node_id(spec.substr(0, eq));
  if (!id)
    return invalid("in member \"" + raw + "\": " + error_text(id.error()));
  auto ep = parse_endpoint(spec.substr(eq + 1));
  if (!ep)
    return invalid("in member \"" + raw + "\": " + error_text(ep.error()));
  return std::make_pair(*id, std::move(*ep));
}

caf::expected<std::map<node_id, endpoint>> parse_members(const std::vector<std::string>& items) {
  std::map<node_id, endpoint> out;
  std::set<endpoint> addresses;
  for (auto& item : items) {
    for (auto& spec : split(item, ',')) {
      if (spec.empty())  // tolerate "1=a:1,,2=b:2" and trailing commas
        continue;
      auto member = parse_member(spec);
      if (!member)
        return member.error();
      auto& [id, ep] = *member;
      if (out.count(id) > 0)
        return invalid("duplicate member id " + std::to_string(id));
      if (!addresses.insert(ep).second)
        return invalid("duplicate member address " + ep.to_string());
      out.emplace(id, std::move(ep));
    }
  }
  if (out.empty())
    return invalid("no members given");
  return out;
}

std::string format_members(const std::map<node_id, endpoint>& members) {
  std::string out;
  for (auto& [id, ep] : members) {
    if (!out.empty())
      out += ',';
    out += std::to_string(id) + "=" + ep.to_string();
  }
  return out;
}

} // namespace raft
