// Maps client commands onto KV commands and renders the shell protocol, e.g.
// {"ok":false,"error":"cas_failed","value":"x"}.
#include "cluster/request.hpp"

#include <fmt/format.h>

#include "cluster/json.hpp"
#include "messages/errc.hpp"

namespace raft::cli {

namespace {

caf::error bad_request(std::string message) {
  return raft::make_error(errc::invalid_argument, std::move(message));
}

std::string value_or_null(const kv_result& r) {
  return r.found ? json_quote(r.value) : "null";
}

std::string status_json(const node_status& st) {
  json_object obj;
  obj.boolean("ok", true);
  if (st.leader == no_node)
    obj.null("leader");
  else
    obj.num("leader", st.leader);
  obj.num("term", st.term).raw("members", json_array(st.config.voters));
  obj.raw("learners", json_array(st.config.learners));
  if (st.config.joint())
    obj.raw("old_members", json_array(st.config.old_voters));
  json_object addresses;
  for (auto& [id, addr] : st.config.addresses)
    addresses.str(std::to_string(id), addr);
  obj.raw("addresses", addresses.render());
  obj.num("node", st.id).str("role", st.role).num("commit", st.commit).num("applied", st.applied);
  obj.num("last_index", st.last.index).num("last_term", st.last.term);
  obj.num("first_index", st.first_index).num("snapshot_index", st.snapshot_index);
  return obj.render();
}

} // namespace

std::vector<std::string> split_words(const std::string& line) {
  std::vector<std::string> words;
  std::string cur;
  for (char c : line) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      if (!cur.empty())
        words.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty())
    words.push_back(std::move(cur));
  return words;
}

caf::expected<request> parse_request(const std::vector<std::string>& words) {
  if (words.empty())
    return bad_request("empty command");
  auto& cmd = words.front();
  auto arity = [&](size_t n, const char* usage) -> caf::error {
    if (words.size() != n + 1)
      return bad_request(fmt::format("usage: {}", usage));
    return caf::none;
  };
  request req;
  caf::error err;
  if (cmd == "put") {
    req.op = request::kind::put;
    err = arity(2, "put KEY VALUE");
  } else if (cmd == "get") {
    req.op = request::kind::get;
    err = arity(1, "get KEY");
  } else if (cmd == "cas") {
    req.op = request::kind::cas;
    err = arity(3, "cas KEY OLD NEW");
  } else if (cmd == "del") {
    req.op = request::kind::del;
    err = arity(1, "del KEY");
  } else if (cmd == "status") {
    req.op = request::kind::status;
    err = arity(0, "status");
  } else if (cmd == "digest") {
    req.op = request::kind::digest;
    err = arity(0, "digest");
  } else {
    return bad_request(fmt::format("unknown command \"{}\" (put, get, cas, del, status, digest)",
                                   cmd));
  }
  if (err)
    return err;
  if (words.size() > 1)
    req.key = words[1];
  if (req.op == request::kind::put)
    req.value = words[2];
  if (req.op == request::kind::cas) {
    req.expected = words[2];
    req.value = words[3];
  }
  return req;
}

response execute(cluster_client& client, const request& req) {
  response res;
  kv_command cmd;
  cmd.key = req.key;
  switch (req.op) {
    case request::kind::put:
      cmd.op = kv_op::put;
      cmd.value = req.value;
      res.kv = client.write(cmd);
      break;
    case request::kind::cas:
      cmd.op = kv_op::cas;
      cmd.expected = req.expected;
      cmd.value = req.value;
      res.kv = client.write(cmd);
      break;
    case request::kind::del:
      cmd.op = kv_op::del;
      res.kv = client.write(cmd);
      break;
    case request::kind::get:
      cmd.op = kv_op::get;
      res.kv = client.read(cmd);
      break;
    case request::kind::digest:
      cmd.op = kv_op::digest;
      res.kv = client.read(cmd);
      break;
    case request::kind::status:
      res.status = client.status();
      break;
  }
  return res;
}

std::string error_json(const caf::error& err) {
  return json_object{}
    .boolean("ok", false)
    .str("error", error_code(err))
    .str("message", error_message(err))
    .render();
}

std::string to_json(const request& req, const response& res) {
  if (req.op == request::kind::status)
    return res.status ? status_json(*res.status) : error_json(res.status.error());
  if (!res.kv)
    return error_json(res.kv.error());
  auto& r = *res.kv;
  switch (req.op) {
    case request::kind::get:
      return json_object{}.boolean("ok", true).raw("value", value_or_null(r)).render();
    case request::kind::digest:
      return json_object{}.boolean("ok", true).str("digest", r.value).render();
    case request::kind::cas:
      if (r.ok)
        return json_object{}.boolean("ok", true).render();
      return json_object{}
        .boolean("ok", false)
        .str("error", "cas_failed")
        .raw("value", value_or_null(r))
        .render();
    default:  // put, del
      if (r.ok)
        return json_object{}.boolean("ok", true).render();
      // Only a command the state machine could not decode fails here (it was applied as a no-op).
      return json_object{}
        .boolean("ok", false)
        .str("error", "bad_request")
        .str("message", r.value)
        .render();
  }
}

} // namespace raft::cli
