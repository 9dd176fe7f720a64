// Command-line plumbing shared by all subcommands: splitting options from positional words,
// running CAF's option parser with readable errors, and the network defaults every process uses.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

namespace raft::cli {

/// A subcommand's arguments: words starting with '-' are options for CAF's parser, the rest are
/// positional; a lone "--" makes everything after it positional (for keys that start with '-').
struct split_args {
  std::vector<std::string> options;
  std::vector<std::string> positional;
};

split_args split_arguments(const std::vector<std::string>& args);

enum class parse_outcome { ok, help_printed, failed };

/// Parses `options` into `cfg` (including --config-file). On failure prints a message naming the
/// bad option to stderr. `usage` is printed before CAF's option list when help is requested.
parse_outcome parse_options(caf::actor_system_config& cfg, const std::vector<std::string>& options,
                            const std::string& usage);

/// Middleman heartbeats so a hung (SIGSTOPped) peer is detected and its connection dropped.
/// Every caf-raft process must use them: a node with a connection timeout drops connections on
/// which nothing arrives, so silent clients need heartbeats too. Overridable with
/// --middleman.heartbeat-interval / --middleman.connection-timeout. Also the scheduler tuning,
/// with `max_workers` worker threads (see config/scheduler_tuning.hpp; --scheduler.max-threads).
void set_network_defaults(caf::actor_system_config& cfg, size_t max_workers);

/// Prints "caf-raft: <message>" to stderr.
void print_error(const std::string& message);

} // namespace raft::cli
