// A reader-writer lock that lets a waiting writer in before new readers: glibc's std::shared_mutex
// prefers readers, and replicators reading the log in a loop could hold off a commit for seconds.
#pragma once

#include <pthread.h>

#include <shared_mutex>  // std::shared_lock
#include <system_error>

namespace raft {

class rw_lock {
public:
  rw_lock() {
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int rc = pthread_rwlock_init(&lock_, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (rc != 0)
      throw std::system_error(rc, std::generic_category(), "pthread_rwlock_init");
  }
  rw_lock(const rw_lock&) = delete;
  rw_lock& operator=(const rw_lock&) = delete;
  ~rw_lock() { pthread_rwlock_destroy(&lock_); }

  // The names std::unique_lock and std::shared_lock expect.
  void lock() { pthread_rwlock_wrlock(&lock_); }
  void unlock() { pthread_rwlock_unlock(&lock_); }
  void lock_shared() { pthread_rwlock_rdlock(&lock_); }
  void unlock_shared() { pthread_rwlock_unlock(&lock_); }

private:
  pthread_rwlock_t lock_;
};

} // namespace raft
