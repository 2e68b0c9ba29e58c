#include "shm/process_lock.hpp"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>

namespace askr::shm {

namespace {

// The pid of this process, refreshed in the child after every fork (getpid() is a system
// call; the lock takes it on every operation).
pid_t own_pid_value = 0;

bool process_alive(pid_t pid) {
    return ::kill(pid, 0) == 0 || errno == EPERM;
}

}  // namespace

pid_t own_pid() {
    static const bool registered = [] {
        ::pthread_atfork(nullptr, nullptr, [] { own_pid_value = ::getpid(); });
        return true;
    }();
    (void)registered;
    if (own_pid_value == 0) own_pid_value = ::getpid();
    return own_pid_value;
}

// Takes `lock`, stealing it from a holder that no longer exists. The pid is checked only
// after spinning a while: a live holder keeps a lock for well under a microsecond. A lock
// that names this very process is stale too (a process never waits for a lock it holds;
// the pid was a dead holder's and has been reused).
bool acquire(ProcessLock& lock, std::atomic<std::uint64_t>& steals) {
    const pid_t self = own_pid();
    for (unsigned spins = 0;; ++spins) {
        pid_t expected = 0;
        if (lock.holder.compare_exchange_weak(expected, self, std::memory_order_acquire,
                                              std::memory_order_relaxed))
            return true;
        if (spins < 100) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
            continue;
        }
        if (expected != 0 && (expected == self || (spins % 16 == 0 && !process_alive(expected)))) {
            if (lock.holder.compare_exchange_strong(expected, self, std::memory_order_acquire,
                                                    std::memory_order_relaxed)) {
                steals.fetch_add(1, std::memory_order_relaxed);
                return true;
            }
        }
        ::sched_yield();
    }
}

bool try_acquire(ProcessLock& lock) {
    pid_t expected = 0;
    return lock.holder.compare_exchange_strong(expected, own_pid(), std::memory_order_acquire,
                                               std::memory_order_relaxed);
}

void unlock(ProcessLock& lock) {
    lock.holder.store(0, std::memory_order_release);
}

}  // namespace askr::shm
