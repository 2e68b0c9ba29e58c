#pragma once
#include <cstdint>

#include "shm/scoreboard.hpp"

namespace askr::worker {

/// A worker's load as the accept policy weighs it: its open connections, one more while
/// its PHP thread has work, and a weight above any connection count while a script has
/// been running for 10 ms or more (with one PHP thread per process, a connection accepted
/// by that worker waits behind the slow script).
std::uint64_t accept_load(const shm::WorkerSlot& slot);

/// The load-following accept rule (docs/architecture.md, "Accept"): a worker takes a new connection
/// only while its load is at most one connection above the least loaded of the other
/// serving workers (idle or busy; starting, draining and empty slots do not count). The
/// least loaded worker always qualifies, so some worker is always accepting. During a
/// reload a worker steps back for a serving worker of a newer generation that is no more
/// loaded than itself: new connections reach the new code first (a canary gets traffic,
/// and the old workers have less to drain).
bool may_accept(const shm::Scoreboard& board, const shm::WorkerSlot& self);

/// The serving worker other than `self` with the least load, the one to hand a pending
/// connection to when `self` may not take it; -1 when there is none.
int least_loaded_peer(const shm::Scoreboard& board, const shm::WorkerSlot& self);

/// The serving worker with the least load (the master's choice); -1 when none serves.
int least_loaded_worker(const shm::Scoreboard& board);

// --- moving a connection after its request arrived (worker/handoff.hpp) --------------

/// How long, in microseconds, a request that arrives now would wait for this worker's
/// PHP thread: `outstanding` requests ahead of it (the running one included) at the
/// worker's average PHP time, or at least as long as the running script has already run
/// once that is 10 ms or more (a slow script says nothing good about its remaining time).
std::uint64_t expected_wait_us(const shm::WorkerSlot& self, std::uint32_t outstanding,
                               std::int64_t now_ms);

/// A serving worker other than `self` whose PHP thread is idle with nothing queued and
/// which has room for one more connection: where a waiting request runs at once. -1 when
/// there is none.
int idle_peer(const shm::Scoreboard& board, const shm::WorkerSlot& self,
              std::uint32_t max_connections);

/// The busy worker other than `self` whose waiting requests (beyond the running one)
/// would wait longest, if that is at least `min_wait_us`: the one an idle worker asks for
/// work. -1 when there is none.
int busiest_peer(const shm::Scoreboard& board, const shm::WorkerSlot& self, std::int64_t now_ms,
                 std::uint64_t min_wait_us);

}  // namespace askr::worker
