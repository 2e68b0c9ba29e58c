#pragma once
#include <vector>

#include "config/serve_options.hpp"
#include "core/listen_socket.hpp"
#include "shm/metrics.hpp"
#include "shm/scoreboard.hpp"

namespace askr::http::tls {
class TlsContext;
}

namespace askr::worker {

/// Who a worker is: its slot in the worker table, its generation, when it retires.
struct WorkerIdentity {
    shm::WorkerSlot* slot = nullptr;
    const shm::Scoreboard* scoreboard = nullptr;  ///< to see whether another worker is idle
    std::uint32_t generation = 0;
    std::uint64_t max_requests = 0;  ///< 0 = never recycle
    const http::tls::TlsContext* tls = nullptr;  ///< the --listen sockets speak TLS with this (null: plain)
    int stop_fd = -1;                ///< eventfd: readable when the master asks for a drain
    shm::WorkerMetrics* metrics = nullptr;               ///< this worker's metrics slot (issue 6)
    const shm::SupervisorMetrics* supervisor = nullptr;  ///< the master's counters (log reopen)
};

/// Runs one worker process until it is told to stop: PHP (already started by the zygote)
/// on the calling thread, which becomes the PHP thread, the event loop on a second
/// thread (DESIGN.md section 2). SIGTERM/SIGINT and --max-requests drain gracefully
/// (bounded by shutdown_timeout), SIGQUIT stops at once. Returns the exit status.
int run_worker(const config::ServeOptions& options, std::vector<core::ListenSocket>& sockets,
               const WorkerIdentity& identity);

}  // namespace askr::worker
