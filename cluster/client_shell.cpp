// `caf-raft client`: one command per stdin line, exactly one JSON object per stdout line, in
// order and flushed, so other programs can drive the cluster through a pipe.
#include <cstdio>
#include <iostream>
#include <string>

#include <caf/actor_system.hpp>

#include "cluster/client_config.hpp"
#include "cluster/commands.hpp"
#include "cluster/options.hpp"
#include "cluster/request.hpp"

namespace raft::cli {

namespace {

constexpr const char* shell_usage =
  "usage: caf-raft client --cluster=HOST:PORT,... [--timeout=10s] [--direct]\n"
  "reads lines: put K V | get K | cas K OLD NEW | del K | status | digest\n"
  "             | member list | member add ID=HOST:PORT [--learner] | member promote ID\n"
  "             | member remove ID | transfer-leader [ID]\n"
  "writes one JSON object per line, e.g. {\"ok\":true,\"value\":\"V\"}";

bool emit(const std::string& line) {
  // A closed stdout means nobody reads the replies anymore: stop instead of working blind.
  return std::fwrite(line.data(), 1, line.size(), stdout) == line.size()
         && std::fputc('\n', stdout) != EOF && std::fflush(stdout) == 0;
}

} // namespace

int run_client_shell(const arg_list& args) {
  auto split = split_arguments(args);
  if (!split.positional.empty()) {
    print_error("unexpected argument \"" + split.positional.front()
                + "\"; the shell reads commands from stdin");
    return exit_failure;
  }
  client_config cfg;
  switch (parse_options(cfg, split.options, shell_usage)) {
    case parse_outcome::help_printed: return exit_ok;
    case parse_outcome::failed: return exit_failure;
    case parse_outcome::ok: break;
  }
  auto opts = prepare_client(cfg);
  if (!opts) {
    print_error(error_text(opts.error()));
    return exit_failure;
  }
  caf::actor_system sys{cfg};
  cluster_client client{sys, *opts};
  std::string line;
  while (std::getline(std::cin, line)) {
    auto req = parse_request(split_words(line));
    auto reply = req ? to_json(*req, execute(client, *req)) : error_json(req.error());
    if (!emit(reply))
      return exit_failure;
  }
  return exit_ok;
}

} // namespace raft::cli
