#pragma once
#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>

#include <optional>
#include <string>

#include "shm/broadcast_ring.hpp"
#include "shm/cache_table.hpp"
#include "shm/region.hpp"

namespace askr::shm {

/// Latency histogram: bucket i holds requests that took at most 125 µs · 2^i; the last
/// bucket holds the rest (+Inf). Fixed log buckets: a request is counted with a shift.
constexpr std::size_t latency_buckets = 18;
/// Upper bound of bucket `i` in microseconds (the last bucket has none).
constexpr std::uint64_t latency_bucket_bound_us(std::size_t i) {
    return 125ull << i;
}
/// Bucket of a request that took `us` microseconds.
constexpr std::size_t latency_bucket(std::uint64_t us) {
    if (us <= 125) return 0;
    const auto i = static_cast<std::size_t>(std::bit_width((us - 1) / 125));
    return i < latency_buckets - 1 ? i : latency_buckets - 1;
}

/// What kind of response answered a request.
enum class ResponseKind : std::uint32_t { php = 0, static_file = 1, other = 2 };
constexpr std::size_t response_kinds = 3;

/// A single-writer counter in shared memory: only one thread ever adds to it, so an add is
/// a relaxed load and store (no locked instruction); readers see a value that is at
/// most one add behind.
struct Counter {
    std::atomic<std::uint64_t> value{0};
    void add(std::uint64_t n) {
        value.store(value.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    std::uint64_t get() const { return value.load(std::memory_order_relaxed); }
};

/// What one worker records. The I/O thread writes the request counters, the PHP side is
/// measured on the I/O thread too (submit to release); thread CPU times are sampled by
/// the I/O thread once a second. Padded to cache lines: workers never share one.
struct alignas(64) WorkerMetrics {
    std::array<Counter, 5> status_classes;      ///< responses 1xx..5xx
    std::array<Counter, response_kinds> kinds;  ///< by ResponseKind
    Counter in_flight_started;                  ///< requests read (in flight = started - finished)
    Counter finished;                           ///< requests answered (or abandoned)
    Counter moved_away;      ///< requests read, then moved to another worker unanswered
    Counter bytes_in;        ///< bytes read from clients
    Counter bytes_out;       ///< bytes written to clients
    Counter latency_sum_us;  ///< sum of request durations
    std::array<Counter, latency_buckets> latency;  ///< request durations (non-cumulative)
    Counter php_wall_us;                           ///< PHP requests: from hand-off to PHP's release
    Counter cpu_php_us;                            ///< CPU time of the PHP thread (sampled)
    Counter cpu_io_us;                             ///< CPU time of the I/O thread (sampled)
    Counter connections_accepted;                  ///< connections taken by this worker
    Counter connections_shed;  ///< refused at --max-connections (written by the accept thread only)

    /// Adds `other` into this one (the master folds a reaped worker's slot).
    void fold_from(const WorkerMetrics& other);
    /// Sets everything to zero.
    void reset();
};

/// Events only the master sees (the master is their single writer).
struct alignas(64) SupervisorMetrics {
    Counter worker_starts;    ///< workers started (first start, replacements, reloads)
    Counter worker_crashes;   ///< workers that died unexpectedly (signal or non-zero exit)
    Counter worker_recycles;  ///< workers that retired after --max-requests
    Counter reloads;          ///< rolling reloads started (SIGHUP, POST /api/reload)
    Counter log_reopens;      ///< SIGUSR1: log files reopened
    /// Bumped on SIGUSR1: workers reopen their log files when they see it change.
    std::atomic<std::uint32_t> log_generation{0};
};

/// Plain values read from the region: what the admin API exports.
struct MetricsSnapshot {
    std::array<std::uint64_t, 5> status_classes{};      ///< 1xx..5xx
    std::array<std::uint64_t, response_kinds> kinds{};  ///< by ResponseKind
    std::uint64_t requests = 0;                         ///< requests answered
    std::uint64_t in_flight = 0;                        ///< requests being answered now
    std::uint64_t bytes_in = 0, bytes_out = 0;
    std::uint64_t latency_sum_us = 0;
    std::array<std::uint64_t, latency_buckets> latency{};  ///< non-cumulative
    std::uint64_t php_wall_us = 0, cpu_php_us = 0, cpu_io_us = 0;
    std::uint64_t connections_accepted = 0, connections_shed = 0;
    std::uint64_t worker_starts = 0, worker_crashes = 0, worker_recycles = 0, reloads = 0,
                  log_reopens = 0;
    std::optional<CacheInfo>
        cache;  ///< the shared-memory cache (filled by the admin server; none when off)
    /// What askr_cache_*() use: "shm", "redis" (whose counters live in each worker and in
    /// Redis, not here), or "" when the cache is off. Filled by the admin server.
    std::string cache_backend;
    std::optional<BroadcastInfo>
        broadcast;  ///< the broadcast ring (filled by the admin server; none when off)
};

/// The metrics region in anonymous shared memory, created by the master before any fork
/// (docs/architecture.md, "Shared memory"): header (magic, layout version, size), the supervisor's
/// counters, the totals of workers that are gone, then one WorkerMetrics per scoreboard slot.
class Metrics {
  public:
    static constexpr std::uint32_t magic = 0x41534d54;  // "ASMT"
    static constexpr std::uint32_t layout_version = 1;

    /// Maps a region with `slots` worker slots; throws std::runtime_error on failure.
    explicit Metrics(std::size_t slots);
    ~Metrics();
    Metrics(const Metrics&) = delete;
    Metrics& operator=(const Metrics&) = delete;

    /// Number of worker slots (the scoreboard's).
    std::size_t size() const { return slots_; }
    /// Slot `i`, written by the worker in scoreboard slot `i`.
    WorkerMetrics& slot(std::size_t i) const;
    /// The master's counters.
    SupervisorMetrics& supervisor() const;
    /// Master, after reaping the worker of slot `i`: moves its counts into the retired
    /// totals (nothing is lost) and clears the slot for the next worker.
    void retire_slot(std::size_t i);
    /// Master: the sum over retired workers and every live slot.
    MetricsSnapshot snapshot() const;
    /// True when the header still says what it was created with.
    bool valid() const;

  private:
    WorkerMetrics& retired() const;
    std::size_t slots_;
    Region region_;
};

}  // namespace askr::shm
