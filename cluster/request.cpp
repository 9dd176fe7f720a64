// Maps client commands onto KV commands, membership changes and transfers, and renders the
// shell protocol, e.g. {"ok":false,"error":"cas_failed","value":"x"}.
#include "cluster/request.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "cluster/json.hpp"
#include "config/cluster_spec.hpp"
#include "messages/errc.hpp"

namespace raft::cli {

namespace {

caf::error bad_request(std::string message) {
  return raft::make_error(errc::invalid_argument, std::move(message));
}

std::string value_or_null(const kv_result& r) {
  return r.found ? json_quote(r.value) : "null";
}

const char* role_in(const membership& config, node_id id) {
  if (config.is_learner(id))
    return "learner";
  if (std::binary_search(config.voters.begin(), config.voters.end(), id))
    return "voter";
  return "old_voter";  // only in the outgoing half of a joint configuration
}

// [{"id":1,"role":"voter","address":"h:p"},...] sorted by id.
std::string members_json(const membership& config) {
  std::string out = "[";
  for (auto id : config.all_members()) {
    json_object obj;
    obj.num("id", id);
    obj.str("role", role_in(config, id));
    auto addr = config.addresses.find(id);
    obj.str("address", addr == config.addresses.end() ? std::string{} : addr->second);
    out += (out.size() > 1 ? "," : "") + obj.render();
  }
  return out + "]";
}

// {"ok":true,"leader":L|null,"term":T, ...: what status and member list start with.
json_object leader_and_term(const node_status& st) {
  json_object obj;
  obj.boolean("ok", true);
  if (st.leader == no_node)
    obj.null("leader");
  else
    obj.num("leader", st.leader);
  obj.num("term", st.term);
  return obj;
}

std::string member_list_json(const node_status& st) {
  auto obj = leader_and_term(st);
  obj.raw("members", members_json(st.config));
  return obj.render();
}

std::string status_json(const node_status& st) {
  auto obj = leader_and_term(st);
  obj.raw("members", json_array(st.config.voters));
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

// {"member", SUBCOMMAND, ...}; see member_usage.
caf::expected<request> parse_member_request(const std::vector<std::string>& words) {
  auto usage = [] { return bad_request(fmt::format("usage: {}", member_usage)); };
  if (words.size() < 2)
    return usage();
  auto& sub = words[1];
  request req;
  if (sub == "list") {
    if (words.size() != 2)
      return bad_request("usage: member list");
    req.op = request::kind::member_list;
    return req;
  }
  req.op = request::kind::member_change;
  if (sub == "add") {
    // The flag may come before or after the spec; anything else is a mistake worth reporting.
    std::vector<std::string> specs;
    bool learner = false;
    for (size_t i = 2; i < words.size(); ++i) {
      if (words[i] == "--learner")
        learner = true;
      else if (words[i].rfind("--", 0) == 0)
        return bad_request(fmt::format("member add: unknown option {} (only --learner)", words[i]));
      else
        specs.push_back(words[i]);
    }
    if (specs.size() != 1)
      return bad_request("usage: member add ID=HOST:PORT [--learner]");
    auto member = parse_member(specs.front());
    if (!member)
      return bad_request("member add: " + error_text(member.error()));
    req.change.kind = learner ? membership_change::add_learner : membership_change::add_voter;
    req.change.id = member->first;
    req.change.address = member->second.to_string();
    return req;
  }
  if (sub == "promote" || sub == "remove") {
    if (words.size() != 3)
      return bad_request(fmt::format("usage: member {} ID", sub));
    auto id = parse_node_id(words[2]);
    if (!id)
      return bad_request(fmt::format("member {}: {}", sub, error_text(id.error())));
    req.change.kind = sub == "promote" ? membership_change::promote : membership_change::remove;
    req.change.id = *id;
    return req;
  }
  return usage();
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
  } else if (cmd == "member") {
    return parse_member_request(words);
  } else if (cmd == "transfer-leader") {
    req.op = request::kind::transfer_leader;
    if (words.size() > 2)
      return bad_request("usage: transfer-leader [ID]");
    if (words.size() == 2) {
      auto id = parse_node_id(words[1]);
      if (!id)
        return bad_request("transfer-leader: " + error_text(id.error()));
      req.target = *id;
    }
    return req;
  } else {
    return bad_request(fmt::format("unknown command \"{}\" (put, get, cas, del, status, digest, "
                                   "member, transfer-leader)",
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
    case request::kind::member_list:
      res.status = client.status();
      break;
    case request::kind::member_change:
      res.config = client.change(req.change);
      break;
    case request::kind::transfer_leader:
      res.leader = client.transfer_leadership(req.target);
      break;
  }
  return res;
}

caf::error response_error(const request& req, const response& res) {
  switch (req.op) {
    case request::kind::status:
    case request::kind::member_list:
      return res.status ? caf::error{} : res.status.error();
    case request::kind::member_change:
      return res.config ? caf::error{} : res.config.error();
    case request::kind::transfer_leader:
      return res.leader ? caf::error{} : res.leader.error();
    default:
      return res.kv ? caf::error{} : res.kv.error();
  }
}

std::string error_json(const caf::error& err) {
  return json_object{}
    .boolean("ok", false)
    .str("error", error_code(err))
    .str("message", error_message(err))
    .render();
}

std::string to_json(const request& req, const response& res) {
  if (auto err = response_error(req, res))
    return error_json(err);
  switch (req.op) {
    case request::kind::status:
      return status_json(*res.status);
    case request::kind::member_list:
      return member_list_json(*res.status);
    case request::kind::member_change:
      return json_object{}.boolean("ok", true).raw("members", members_json(*res.config)).render();
    case request::kind::transfer_leader:
      return json_object{}.boolean("ok", true).num("leader", *res.leader).render();
    default:
      break;
  }
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
