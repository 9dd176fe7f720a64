// Synchronous signal handling for the long-running subcommands: signals are blocked before any
// thread starts (threads inherit the mask) and the main thread collects them with sigtimedwait.
#pragma once

#include <chrono>
#include <initializer_list>

#include <signal.h>

namespace raft::cli {

/// Blocks `signals` in the calling thread and returns the set. Call before creating the
/// actor_system so that none of CAF's threads receives them.
sigset_t block_signals(std::initializer_list<int> signals);

/// Waits up to `timeout` for one of the blocked signals; returns its number or 0 on timeout.
int wait_for_signal(const sigset_t& set, std::chrono::milliseconds timeout);

/// Restores the default mask in a forked child before exec (the mask survives exec).
void unblock_all_signals();

} // namespace raft::cli
