#pragma once
#include <memory>
#include <vector>

#include "config/serve_options.hpp"
#include "core/listen_socket.hpp"
#include "shm/metrics.hpp"
#include "shm/scoreboard.hpp"
#include "worker/handoff.hpp"

namespace askr::shm {
class BroadcastRing;
}

namespace askr::http::tls {
class TlsContext;
}

namespace askr::php {
class RequestSource;
}

namespace askr::worker {

/// Who a worker is: its slot in the worker table, its generation, when it retires.
struct WorkerIdentity {
    shm::WorkerSlot* slot = nullptr;
    const shm::Scoreboard* scoreboard = nullptr;  ///< to see whether another worker is idle
    std::uint32_t generation = 0;
    std::uint64_t max_requests = 0;  ///< 0 = never recycle
    const http::tls::TlsContext* tls =
        nullptr;       ///< the --listen sockets speak TLS with this (null: plain)
    int stop_fd = -1;  ///< eventfd: readable when the master asks for a drain
    int kick_fd = -1;  ///< eventfd: a peer passes a pending connection on (accept_thread.hpp)
    const std::vector<core::UniqueFd>* kick_fds = nullptr;  ///< every slot's kick_fd
    const std::vector<HandoffChannel>* handoff =
        nullptr;                            ///< every slot's hand-off channel (handoff.hpp)
    int handoff_receive = -1;               ///< connections moved to this worker arrive here
    std::uint32_t slot_index = 0;           ///< this worker's slot (its handoff channel)
    shm::WorkerMetrics* metrics = nullptr;  ///< this worker's metrics slot
    const shm::SupervisorMetrics* supervisor = nullptr;  ///< the master's counters (log reopen)
    shm::BroadcastRing* broadcast = nullptr;  ///< the broadcast ring (null: broadcasting off)
};

/// Runs one worker process until it is told to stop: PHP (already started by the zygote)
/// on the calling thread, which becomes the PHP thread, the event loop on a second
/// thread (docs/architecture.md, "Threads"). SIGTERM/SIGINT and --max-requests drain gracefully
/// (bounded by shutdown_timeout), SIGQUIT stops at once. Returns the exit status.
int run_worker(const config::ServeOptions& options, std::vector<core::ListenSocket>& sockets,
               const WorkerIdentity& identity);

/// The signal the master sends a worker whose request has run past --request-timeout:
/// the worker answers that request 504 from its I/O thread and exits (worker.cpp).
int request_timeout_signal();

/// What serves HTTP in a worker process: the event loop on its I/O thread and the queue
/// that feeds the PHP thread (the thread that creates it). Create it in the forked worker,
/// never before a fork (threads do not survive fork()).
class Runtime {
  public:
    Runtime(const config::ServeOptions& options, std::vector<core::ListenSocket>& sockets,
            const WorkerIdentity& identity);
    /// Waits for the I/O thread (see join()).
    ~Runtime();
    Runtime(const Runtime&) = delete;
    Runtime& operator=(const Runtime&) = delete;
    /// Where the PHP thread takes its requests from; nullptr once the worker must stop.
    php::RequestSource& requests();
    /// Stops accepting and ends once the connections are done (as SIGTERM does).
    void drain();
    /// Waits until the I/O thread has finished (after requests() said stop).
    void join();

  private:
    struct Parts;
    std::unique_ptr<Parts> parts_;
};

}  // namespace askr::worker
