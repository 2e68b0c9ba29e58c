#pragma once
#include <pthread.h>
#include <time.h>

#include <chrono>
#include <cstdint>
#include <memory>

#include "config/serve_options.hpp"
#include "http/context.hpp"
#include "http/request.hpp"
#include "http/response.hpp"
#include "shm/metrics.hpp"
#include "worker/access_log.hpp"

// -DASKR_METRICS=OFF builds a server that records no metric (the overhead baseline).
#ifndef ASKR_METRICS_ENABLED
#define ASKR_METRICS_ENABLED 1
#endif

namespace askr::worker {

/// A worker's metrics and access log: what connections record per request, on the I/O
/// thread (single writer of the worker's metrics slot; no lock, no system call except the
/// access log's buffered writes).
class Telemetry final : public http::RequestObserver {
  public:
    /// `slot` and `supervisor` may be null (no shared memory: nothing recorded).
    Telemetry(const config::ServeOptions& options, shm::WorkerMetrics* slot,
              const shm::SupervisorMetrics* supervisor);
    ~Telemetry() override;
    Telemetry(const Telemetry&) = delete;
    Telemetry& operator=(const Telemetry&) = delete;

    /// True when requests must be timed (metrics or an access log).
    bool timing() const override { return timing_; }
    /// A connection was accepted.
    void connection_accepted() override {
#if ASKR_METRICS_ENABLED
        if (slot_) slot_->connections_accepted.add(1);
#endif
    }
    /// A whole request was read; it is in flight until request_finished().
    void request_started() override {
#if ASKR_METRICS_ENABLED
        if (slot_) slot_->in_flight_started.add(1);
#endif
    }
    /// The request was moved, unanswered, to another worker with its connection.
    void request_moved() override {
#if ASKR_METRICS_ENABLED
        if (slot_) slot_->moved_away.add(1);
#endif
    }
    /// The request's response was written (or the client went away).
    void request_finished(const http::Request& request,
                          const http::RequestOutcome& outcome) override;
    /// Once a second on the I/O thread: flushes the access log, samples the threads' CPU
    /// time, reopens the log files when the master asked (SIGUSR1).
    void tick();

  private:
    shm::WorkerMetrics* slot_;
    const shm::SupervisorMetrics* supervisor_;
    std::unique_ptr<AccessLog> access_log_;
    bool timing_;
    std::uint32_t log_generation_ = 0;
    clockid_t php_clock_{};  // the PHP thread's CPU clock (the thread that built this object)
    bool have_php_clock_ = false;
    std::uint64_t php_cpu_seen_us_ = 0;
    std::uint64_t io_cpu_seen_us_ = 0;
};

}  // namespace askr::worker
