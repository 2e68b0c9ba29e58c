#pragma once
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <vector>

#include "cache/backend.hpp"
#include "config/serve_options.hpp"
#include "core/listen_socket.hpp"
#include "shm/broadcast_ring.hpp"
#include "shm/metrics.hpp"
#include "shm/scoreboard.hpp"
#include "worker/handoff.hpp"

namespace askr::broadcast {
class RedisPublisher;
}
namespace askr::http::tls {
class TlsContext;
}

namespace askr::master {

/// A message between the master and a zygote (SOCK_SEQPACKET: one message per packet).
struct ZygoteMessage {
    enum Type : std::uint32_t {
        ready = 1,    ///< zygote → master: PHP started, workers can be forked
        failed = 2,   ///< zygote → master: PHP did not start; `text` says why
        spawn = 3,    ///< master → zygote: fork a worker for scoreboard slot `slot`
        spawned = 4,  ///< zygote → master: worker `pid` forked for `slot`
        boot_failed =
            5,  ///< zygote → master (--cow): the worker script failed before askr_cow_ready()
    };
    /// What a spawn forks: a web worker (`slot`: its scoreboard slot) or a sidecar (`slot`:
    /// its index among the sidecars, whose stop eventfd it takes).
    enum Role : std::uint32_t { worker = 0, queue = 1, scheduler = 2 };
    Type type;
    Role role = worker;
    std::uint32_t slot = 0;
    pid_t pid = 0;
    std::int64_t tick = 0;  ///< spawn of the scheduler: the interval tick it runs for
    char text[240] = {};
};

/// What a zygote needs; everything was created by the master before the fork.
struct ZygoteSetup {
    const config::ServeOptions* options;
    std::vector<core::ListenSocket>* sockets;
    shm::Scoreboard* scoreboard;
    std::uint32_t generation;
    int control_fd;  ///< the zygote's end of the socket pair
    pid_t master_pid;
    const std::vector<core::UniqueFd>* stop_fds;  ///< per slot: the master's "drain and exit"
    const std::vector<core::UniqueFd>*
        kick_fds;  ///< per slot: a peer's "take a pending connection"
    const std::vector<worker::HandoffChannel>* handoff =
        nullptr;                                 ///< per slot: connections moved to it
    const http::tls::TlsContext* tls = nullptr;  ///< the --listen sockets' TLS (null: plain HTTP)
    shm::Metrics* metrics = nullptr;             ///< per-slot request metrics
    cache::Backend* cache = nullptr;             ///< what askr_cache_*() use (null: off)
    shm::BroadcastRing* broadcast = nullptr;     ///< the broadcast ring (null: off)
    broadcast::RedisPublisher* broadcast_redis = nullptr;  ///< [broadcast] redis (null: none)
    const std::vector<core::UniqueFd>* sidecar_stop_fds =
        nullptr;  ///< per sidecar: the master's "finish the job and return"
    std::atomic<std::uint64_t>* sidecar_jobs = nullptr;  ///< per sidecar: jobs it reported done
};

/// setgid/initgroups/setuid to --user/--group when running as root (the zygote, the
/// broadcast relay); throws std::runtime_error saying what failed.
void drop_privileges(const config::ServeOptions& options);

/// Runs in the freshly forked zygote: drops privileges (--user), starts PHP once (with
/// --cow also runs the worker script up to askr_cow_ready()), then forks workers when the
/// master asks. Never returns. Workers are forked twice so that
/// the master (a child subreaper) becomes their parent and reaps them itself.
[[noreturn]] void run_zygote(const ZygoteSetup& setup);

}  // namespace askr::master
