// Wraps actor_system_config::parse: CAF stops at the first positional word and reports bad
// options as terse parser errors, so positional words are split off first and errors rephrased.
#include "cluster/options.hpp"

#include "config/scheduler_tuning.hpp"

#include <chrono>
#include <cstdio>

#include <caf/actor_system_config.hpp>
#include <caf/pec.hpp>
#include <caf/sec.hpp>

#include <fmt/format.h>

namespace raft::cli {

split_args split_arguments(const std::vector<std::string>& args) {
  split_args out;
  bool only_positional = false;
  for (auto& arg : args) {
    if (only_positional)
      out.positional.push_back(arg);
    else if (arg == "--")
      only_positional = true;
    else if (arg.size() > 1 && arg[0] == '-')
      out.options.push_back(arg);
    else
      out.positional.push_back(arg);
  }
  return out;
}

namespace {

std::string argument_of(const caf::error& err) {
  // CAF puts the offending "--name=value" into a dictionary context under "argument".
  auto rendered = caf::to_string(err.context());
  auto pos = rendered.find("\"argument\" = \"");
  if (pos == std::string::npos)
    return {};
  pos += 14;
  auto end = rendered.find('"', pos);
  return rendered.substr(pos, end == std::string::npos ? end : end - pos);
}

std::string describe_parse_error(const caf::actor_system_config& cfg, const caf::error& err) {
  if (err.category() == caf::atom("parser")) {
    auto arg = argument_of(err);
    switch (static_cast<caf::pec>(err.code())) {
      case caf::pec::not_an_option:
        return fmt::format("unknown option {}", arg);
      case caf::pec::missing_argument:
        return fmt::format("option {} needs a value; write --name=value", arg);
      default:
        if (!arg.empty())
          return fmt::format("malformed value in {} ({})", arg, cfg.render(err));
        // Errors from the config file carry a line/column instead of an argument.
        return fmt::format("malformed config file ({})", cfg.render(err));
    }
  }
  if (err == caf::sec::cannot_open_file)
    return fmt::format("cannot open config file ({})", cfg.render(err));
  return cfg.render(err);
}

} // namespace

parse_outcome parse_options(caf::actor_system_config& cfg, const std::vector<std::string>& options,
                            const std::string& usage) {
  for (auto& opt : options)
    if (opt == "-h" || opt == "-?" || opt == "--help" || opt == "--long-help") {
      std::printf("%s\n\n", usage.c_str());
      std::fflush(stdout);
      break;
    }
  if (auto err = cfg.parse(options)) {
    print_error(describe_parse_error(cfg, err));
    return parse_outcome::failed;
  }
  if (cfg.cli_helptext_printed)
    return parse_outcome::help_printed;
  if (!cfg.remainder.empty()) {
    // Not expected since positional words were split off, but never ignore input silently.
    print_error(fmt::format("unexpected argument {}", cfg.remainder.front()));
    return parse_outcome::failed;
  }
  return parse_outcome::ok;
}

void set_network_defaults(caf::actor_system_config& cfg, size_t max_workers) {
  using namespace std::chrono_literals;
  cfg.set("middleman.heartbeat-interval", caf::timespan{100ms});
  cfg.set("middleman.connection-timeout", caf::timespan{1s});
  tune_scheduler(cfg, max_workers);
}

void print_error(const std::string& message) {
  std::fprintf(stderr, "caf-raft: %s\n", message.c_str());
  std::fflush(stderr);
}

} // namespace raft::cli
