// sigtimedwait-based signal collection; see signals.hpp for why signals are blocked up front.
#include "cluster/signals.hpp"

#include <cerrno>
#include <ctime>

#include <pthread.h>

namespace raft::cli {

sigset_t block_signals(std::initializer_list<int> signals) {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : signals)
    sigaddset(&set, sig);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

int wait_for_signal(const sigset_t& set, std::chrono::milliseconds timeout) {
  timespec ts;
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  ts.tv_nsec = static_cast<long>((timeout.count() % 1000) * 1000000);
  for (;;) {
    int sig = sigtimedwait(&set, nullptr, &ts);
    if (sig > 0)
      return sig;
    if (errno != EINTR)  // EAGAIN: timed out
      return 0;
  }
}

void unblock_all_signals() {
  sigset_t none;
  sigemptyset(&none);
  pthread_sigmask(SIG_SETMASK, &none, nullptr);
}

} // namespace raft::cli
