// caf-raft's entry point: the first argument picks the subcommand, the rest is parsed by it.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "cluster/commands.hpp"

namespace {

constexpr const char* usage_text =
  "usage: caf-raft <command> [options]\n"
  "\n"
  "commands:\n"
  "  node      run one Raft node in the foreground (--id, --members, --data-dir, --join, ...)\n"
  "  launch    start a local cluster of N node processes (--nodes=3, --dir, --base-port)\n"
  "  client    line-based client shell: one command per stdin line, one JSON reply per line\n"
  "  help      this text\n"
  "\n"
  "client commands (all take --cluster=HOST:PORT,... and --timeout=10s):\n"
  "  put K V                              write a key\n"
  "  get K                                linearizable read\n"
  "  cas K OLD NEW                        compare-and-swap\n"
  "  del K                                delete a key\n"
  "  status                               the leader's view of the cluster, as JSON\n"
  "  digest                               the leader's content digest\n"
  "  member list                          members, their roles and addresses, as JSON\n"
  "  member add ID=HOST:PORT [--learner]  add a server (start it first with node --join)\n"
  "  member promote ID                    make a learner a voter\n"
  "  member remove ID                     remove a server (the leader too)\n"
  "  transfer-leader [ID]                 hand leadership to ID (default: the best voter)\n"
  "\n"
  "`caf-raft <command> --help` lists a command's options.\n";

} // namespace

int main(int argc, char** argv) {
  using namespace raft::cli;
  if (argc < 2) {
    std::fputs(usage_text, stderr);
    return exit_failure;
  }
  std::string cmd = argv[1];
  arg_list args(argv + 2, argv + argc);
  try {
    if (cmd == "help" || cmd == "--help" || cmd == "-h" || cmd == "-?") {
      std::fputs(usage_text, stdout);
      return exit_ok;
    }
    if (cmd == "node")
      return run_node(args);
    if (cmd == "launch")
      return run_launch(args);
    if (cmd == "client")
      return run_client_shell(args);
    if (cmd == "put" || cmd == "get" || cmd == "cas" || cmd == "del" || cmd == "status"
        || cmd == "digest" || cmd == "member" || cmd == "transfer-leader")
      return run_single_shot(cmd, args);
  } catch (const std::exception& ex) {
    // CAF reports some startup failures (e.g. a broken middleman setup) as exceptions.
    std::fprintf(stderr, "caf-raft: %s\n", ex.what());
    return exit_failure;
  }
  std::fprintf(stderr, "caf-raft: unknown command \"%s\"\n\n%s", cmd.c_str(), usage_text);
  return exit_failure;
}
