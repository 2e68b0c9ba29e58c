#pragma once
#include <poll.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "config/serve_options.hpp"
#include "core/unique_fd.hpp"
#include "http/h1/parser.hpp"
#include "shm/metrics.hpp"
#include "shm/scoreboard.hpp"

namespace askr::admin {

/// One sidecar (a queue worker or the scheduler), for GET /api/status and `askr status`.
struct SidecarStatus {
    std::string name;              ///< "queue:0", "scheduler"
    pid_t pid = 0;                 ///< 0 when not running
    std::uint32_t generation = 0;  ///< of the running process
    std::string state;             ///< "running", "stopping", "starting", "waiting"
    double uptime_seconds = 0;     ///< of the running process
    unsigned restarts = 0;         ///< starts after the first (queue); runs (scheduler)
    std::string last_exit;         ///< how the last one ended ("" before any did)
    std::uint64_t jobs_done = 0;   ///< askr_sidecar_job_done() calls, across restarts
};

/// What only the master knows about itself, for GET /api/status.
struct SupervisorStatus {
    std::uint32_t generation = 0;  ///< the newest generation
    bool reloading = false;        ///< a rolling reload is under way
    bool reload_pending = false;   ///< another reload follows it
    std::uint32_t last_reload_generation =
        0;                            ///< the generation the last ended reload started (0: none)
    bool last_reload_failed = false;  ///< it failed: the previous generation kept serving
    std::string last_reload_error;    ///< why it failed
    bool stopping = false;
    std::chrono::steady_clock::duration uptime{};
    unsigned workers_configured = 0;
    std::vector<SidecarStatus> sidecars;
};

/// The master, as the admin listener sees it.
class Supervisor {
  public:
    virtual ~Supervisor() = default;
    /// The master's own state.
    virtual SupervisorStatus supervisor_status() const = 0;
    /// Starts a rolling reload, as SIGHUP does (coalesced with one under way).
    virtual void request_reload() = 0;
};

/// The master's admin HTTP/1.1 listener (--admin-listen): the API, /metrics and the
/// dashboard. It runs inside the master's poll loop, non-blocking, one request per
/// connection (Connection: close), with bounded sizes, a bounded number of clients and
/// a deadline per client: a stuck or hostile client can delay nothing the master does.
class AdminServer {
  public:
    /// `cache` and `broadcast` (null when off) add their counters to the metrics.
    /// `cache` (null when off) adds the shared-memory cache's counters to the metrics.
    AdminServer(const config::ServeOptions& options, const shm::Scoreboard& scoreboard,
                const shm::Metrics& metrics, Supervisor& supervisor,
                const shm::CacheTable* cache = nullptr,
                const shm::BroadcastRing* broadcast = nullptr);
    ~AdminServer();
    AdminServer(const AdminServer&) = delete;
    AdminServer& operator=(const AdminServer&) = delete;

    /// Binds the listener (when enabled) and logs "admin listening at http://HOST:PORT";
    /// throws std::runtime_error naming the address and the reason.
    void open();
    /// In a forked child: closes every descriptor of the admin listener.
    void close_in_child();
    /// Appends the descriptors to poll to `fds`.
    void add_poll_fds(std::vector<pollfd>& fds) const;
    /// Handles what poll() reported for the descriptors add_poll_fds() added, and closes
    /// clients past their deadline.
    void on_poll(std::span<const pollfd> fds);
    /// True while no admin client is connected (nothing has a deadline to watch).
    bool idle() const { return clients_.empty(); }
    /// A reload has ended (succeeded or failed, or the server stops): answers the clients
    /// of POST /api/reload?wait=1.
    void reload_ended(const SupervisorStatus& status);

    struct Client;  ///< one admin connection (admin_server.cpp)
    struct Reply;   ///< one answer (admin_server.cpp)

  private:
    void accept_clients();
    void read_from(Client& client);
    void write_to(Client& client);
    void answer(Client& client);
    void respond(Client& client, const Reply& reply, bool head);

    const config::ServeOptions& options_;
    const shm::Scoreboard& scoreboard_;
    const shm::Metrics& metrics_;
    Supervisor& supervisor_;
    const shm::CacheTable* cache_;
    const shm::BroadcastRing* broadcast_;
    http::h1::Limits limits_;
    core::UniqueFd listener_;
    std::vector<std::unique_ptr<Client>> clients_;
};

}  // namespace askr::admin
