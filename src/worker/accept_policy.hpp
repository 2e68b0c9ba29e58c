#pragma once
#include <cstdint>

#include "shm/scoreboard.hpp"

namespace askr::worker {

/// A worker's load as the accept policy weighs it: its open connections, one more while
/// its PHP thread has work, and a weight above any connection count while a script has
/// been running for 10 ms or more (with one PHP thread per process, a connection accepted
/// by that worker waits behind the slow script).
std::uint64_t accept_load(const shm::WorkerSlot& slot);

/// The load-following accept rule (DESIGN.md section 2): a worker takes a new connection
/// only while its load is at most one connection above the least loaded of the other
/// serving workers (idle or busy; starting, draining and empty slots do not count). The
/// least loaded worker always qualifies, so some worker is always accepting.
bool may_accept(const shm::Scoreboard& board, const shm::WorkerSlot& self);

/// The serving worker other than `self` with the least load, the one to hand a pending
/// connection to when `self` may not take it; -1 when there is none.
int least_loaded_peer(const shm::Scoreboard& board, const shm::WorkerSlot& self);

}  // namespace askr::worker
