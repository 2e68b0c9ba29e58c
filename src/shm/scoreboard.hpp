#pragma once
#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "shm/region.hpp"

namespace askr::shm {

/// What a worker is doing, as the master and `askr status` see it. `starting` lasts until
/// the worker can serve: in worker mode, until its script reaches askr_handle_request().
/// `failing`: its worker script ended before getting there (it is restarted; requests get
/// 503 meanwhile).
enum class WorkerState : std::uint32_t { empty = 0, starting, idle, busy, draining, failing };

/// Number of WorkerState values.
inline constexpr std::size_t worker_state_count = 6;

/// Name of a state ("idle").
const char* state_name(WorkerState state);

/// One worker's slot: written by that worker only (relaxed atomics, no locks), read by
/// the master. Padded to a cache line so that workers never share one.
struct alignas(64) WorkerSlot {
    std::atomic<pid_t> pid{0};
    std::atomic<std::uint32_t> generation{0};
    std::atomic<WorkerState> state{WorkerState::empty};
    std::atomic<std::uint64_t> requests{0};  ///< requests completed
    std::atomic<std::int64_t> request_started_ms{
        0};                                   ///< wall clock of the running request, 0 when idle
    std::atomic<std::uint64_t> rss_bytes{0};  ///< resident memory, refreshed between requests
    std::atomic<std::int64_t> started_ms{0};  ///< when the worker started
    std::atomic<std::int64_t> ready_ms{0};    ///< when it could first serve (0: not yet)
    // The accept policy's inputs (worker/accept_policy.hpp) and what it did:
    std::atomic<std::uint32_t> connections{0};      ///< open client connections
    std::atomic<std::uint32_t> php_outstanding{0};  ///< requests handed to PHP and not yet done
    std::atomic<std::uint64_t> accept_wakeups{0};   ///< times a new connection woke this worker
    std::atomic<std::uint64_t> accept_empty{0};  ///< ... and there was nothing to accept (a herd)
    std::atomic<std::uint64_t> connections_shed{0};  ///< refused at --max-connections (503, closed)
    // Moving a waiting request's connection to an idle worker (worker/handoff.hpp):
    std::atomic<std::uint32_t> php_average_us{0};     ///< PHP time per request (moving average)
    std::atomic<std::uint64_t> connections_moved{0};  ///< handed to an idle peer with their request
};

/// The worker table in anonymous shared memory, created by the master before any fork
/// (docs/architecture.md, "Shared memory"): a header with magic, layout version and size,
/// then the slots.
class Scoreboard {
  public:
    static constexpr std::uint32_t magic = 0x41534b52;  // "ASKR"
    static constexpr std::uint32_t layout_version = 4;

    /// Maps a table with room for `slots` workers; throws std::runtime_error on failure.
    explicit Scoreboard(std::size_t slots);
    ~Scoreboard();
    Scoreboard(const Scoreboard&) = delete;
    Scoreboard& operator=(const Scoreboard&) = delete;

    /// Number of slots.
    std::size_t size() const { return slots_; }
    /// Slot `i` (0 <= i < size()).
    WorkerSlot& slot(std::size_t i) const;
    /// True when the header still says what it was created with (no stray write hit it).
    bool valid() const;

  private:
    std::size_t slots_;
    Region region_;
};

/// Milliseconds since the epoch (wall clock), for the scoreboard's times.
std::int64_t now_ms();

/// Resident set size of this process in bytes (from /proc/self/statm).
std::uint64_t current_rss_bytes();

}  // namespace askr::shm
