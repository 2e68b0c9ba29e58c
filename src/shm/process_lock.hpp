#pragma once
#include <sys/types.h>

#include <atomic>
#include <cstdint>

namespace askr::shm {

/// A spinlock in shared memory that records its holder's pid: a process that dies while
/// holding it (SIGKILL, a crash) leaves its pid behind, and the next process that finds the
/// holder gone takes the lock over.
struct ProcessLock {
    std::atomic<pid_t> holder{0};
};

/// The pid of this process, kept up to date across fork() (getpid() is a system call).
pid_t own_pid();
/// Takes `lock`, stealing it from a holder that no longer exists (counted in `steals`).
bool acquire(ProcessLock& lock, std::atomic<std::uint64_t>& steals);
/// Takes `lock` if it is free; false when another process holds it.
bool try_acquire(ProcessLock& lock);
/// Releases `lock`.
void unlock(ProcessLock& lock);

}  // namespace askr::shm
