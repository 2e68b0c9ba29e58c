#pragma once
#include <atomic>
#include <cstddef>
#include <functional>
#include <thread>
#include <vector>

#include "core/unique_fd.hpp"
#include "shm/metrics.hpp"
#include "shm/scoreboard.hpp"

namespace askr::worker {

/// Where the accept thread finds the other workers: the worker table, this worker's slot
/// in it, and every slot's "kick" eventfd (created by the master before any fork).
struct AcceptPeers {
    const shm::Scoreboard* board = nullptr;
    shm::WorkerSlot* self = nullptr;
    const std::vector<core::UniqueFd>* kick_fds = nullptr;  ///< indexed by slot
    int own_kick_fd = -1;
    shm::Counter* shed_metric =
        nullptr;  ///< the metrics' "connections shed" (this thread writes it alone)
};

/// A listening socket as the accept thread sees it.
struct AcceptSocket {
    int fd;          ///< not owned
    bool plaintext;  ///< HTTP without TLS: a shed connection can be told 503
};

/// Accepts a worker's new connections on a thread of its own, blocked in epoll_wait on
/// an epoll instance where the listening sockets are registered with EPOLLEXCLUSIVE: a
/// new connection wakes one waiting worker, not all of them (no thundering herd; Asio's
/// acceptor cannot ask for this). A woken worker takes the connection only if the accept
/// policy lets it (accept_policy.hpp); otherwise it kicks the least loaded worker, which
/// takes it. Neither costs anything per request: the policy reads the worker table only
/// when a connection arrives.
class AcceptThread {
  public:
    /// Receives each accepted socket (non-blocking, close-on-exec) and the index of the
    /// listening socket it came from. Runs on the accept thread.
    using Handoff = std::function<void(int fd, std::size_t listener)>;

    /// Registers `sockets` and starts the thread; throws on failure. Past
    /// `max_connections` open connections the worker passes new ones to a peer with room,
    /// or, when every worker is full, sheds them (accept_from).
    AcceptThread(const std::vector<AcceptSocket>& sockets, std::uint32_t max_connections,
                 const AcceptPeers& peers, Handoff handoff);
    /// Stops the thread (see stop()).
    ~AcceptThread();
    AcceptThread(const AcceptThread&) = delete;
    AcceptThread& operator=(const AcceptThread&) = delete;

    /// Stops accepting: joins the thread and closes the epoll instance, which takes this
    /// worker out of the listening sockets' wait queues. Idempotent.
    void stop();

  private:
    void run();
    void accept_from(std::size_t listener, bool take_one);
    bool kick_peer(std::uint32_t below_connections = UINT32_MAX);
    void shed(int fd, std::size_t listener);

    std::vector<AcceptSocket> sockets_;
    std::uint32_t max_connections_;
    std::uint64_t shed_unlogged_ = 0;  // shed since the last log line
    std::int64_t shed_logged_ms_ = 0;
    AcceptPeers peers_;
    Handoff handoff_;
    core::UniqueFd epoll_;
    core::UniqueFd stop_fd_;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

}  // namespace askr::worker
