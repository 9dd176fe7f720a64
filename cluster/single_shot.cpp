// `caf-raft put|get|cas|del|status|digest|member|transfer-leader`: one request, human-readable
// (or, for cluster views, JSON) output, and an exit code that tells success, failure and unknown
// outcome apart (see commands.hpp).
#include <cstdio>
#include <string>

#include <caf/actor_system.hpp>
#include <fmt/format.h>

#include "cluster/client_config.hpp"
#include "cluster/commands.hpp"
#include "cluster/options.hpp"
#include "cluster/request.hpp"

namespace raft::cli {

namespace {

std::string usage_of(const std::string& cmd) {
  std::string words = cmd == "put"               ? "put KEY VALUE"
                      : cmd == "get"             ? "get KEY"
                      : cmd == "cas"             ? "cas KEY OLD NEW"
                      : cmd == "del"             ? "del KEY"
                      : cmd == "member"          ? "member list|add|promote|remove ..."
                      : cmd == "transfer-leader" ? "transfer-leader [ID]"
                                                 : cmd;
  auto text = fmt::format("usage: caf-raft {} --cluster=HOST:PORT,... [--timeout=10s] [--direct]\n"
                          "exit codes: 0 ok, 1 failed (not applied), 2 outcome unknown (timeout),\n"
                          "            3 get: key absent / cas: current value differs",
                          words);
  if (cmd == "member")
    text += fmt::format("\nforms: {}", member_usage);
  return text;
}

int report_error(const caf::error& err) {
  auto code = error_code(err);
  auto msg = error_message(err);
  if (outcome_unknown(err)) {
    print_error(fmt::format("{}: {} (outcome unknown)", code, msg));
    return exit_unknown_outcome;
  }
  print_error(msg == code ? code : fmt::format("{}: {}", code, msg));
  return exit_failure;
}

} // namespace

int run_single_shot(const std::string& command, const arg_list& args) {
  auto split = split_arguments(args);
  // `member add ... --learner` is a word of the command, not an option of CAF's parser.
  if (command == "member") {
    auto& opts = split.options;
    for (auto i = opts.begin(); i != opts.end();)
      if (*i == "--learner") {
        split.positional.push_back(*i);
        i = opts.erase(i);
      } else {
        ++i;
      }
  }
  client_config cfg;
  switch (parse_options(cfg, split.options, usage_of(command))) {
    case parse_outcome::help_printed: return exit_ok;
    case parse_outcome::failed: return exit_failure;
    case parse_outcome::ok: break;
  }
  auto words = split.positional;
  words.insert(words.begin(), command);
  auto req = parse_request(words);
  if (!req) {
    print_error(error_message(req.error()));
    return exit_failure;
  }
  auto opts = prepare_client(cfg);
  if (!opts) {
    print_error(error_text(opts.error()));
    return exit_failure;
  }
  caf::actor_system sys{cfg};
  cluster_client client{sys, *opts};
  auto res = execute(client, *req);
  switch (req->op) {
    case request::kind::status:
    case request::kind::member_list:
    case request::kind::member_change:
    case request::kind::transfer_leader:
      if (auto err = response_error(*req, res))
        return report_error(err);
      // The same JSON as the shell: readable enough, and scripts can grep it.
      std::printf("%s\n", to_json(*req, res).c_str());
      return exit_ok;
    default:
      break;
  }
  if (!res.kv)
    return report_error(res.kv.error());
  auto& r = *res.kv;
  switch (req->op) {
    case request::kind::get:
      if (!r.found) {
        print_error(fmt::format("key not found: {}", req->key));
        return exit_precondition;
      }
      std::printf("%s\n", r.value.c_str());
      return exit_ok;
    case request::kind::digest:
      std::printf("%s\n", r.value.c_str());
      return exit_ok;
    case request::kind::cas:
      if (!r.ok) {
        print_error(r.found ? fmt::format("cas failed: current value is \"{}\"", r.value)
                            : std::string{"cas failed: key is absent"});
        return exit_precondition;
      }
      std::printf("OK\n");
      return exit_ok;
    default:
      if (!r.ok) {
        print_error("bad_request: " + r.value);
        return exit_failure;
      }
      std::printf("OK\n");
      return exit_ok;
  }
}

} // namespace raft::cli
