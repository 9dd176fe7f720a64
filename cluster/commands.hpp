// Entry points of the caf-raft subcommands; each takes the arguments after the subcommand name
// and returns the process exit code.
#pragma once

#include <string>
#include <vector>

namespace raft::cli {

using arg_list = std::vector<std::string>;

int run_node(const arg_list& args);
int run_launch(const arg_list& args);
int run_client_shell(const arg_list& args);
/// put, get, cas, del, status, digest, member, transfer-leader as one-shot commands.
int run_single_shot(const std::string& command, const arg_list& args);

/// Exit codes shared by the client commands (documented in README-cli.md).
constexpr int exit_ok = 0;
constexpr int exit_failure = 1;          // error; the request was not applied
constexpr int exit_unknown_outcome = 2;  // timeout/unavailable: a write may or may not be applied
constexpr int exit_precondition = 3;     // get: key absent; cas: current value differs

} // namespace raft::cli
