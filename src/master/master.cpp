#include "master/master.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <span>

#include <spdlog/spdlog.h>

#include "admin/admin_server.hpp"
#include "broadcast/redis_stream.hpp"
#include "broadcast/relay.hpp"
#include "cache/redis_backend.hpp"
#include "cache/shm_backend.hpp"
#include "config/redis_url.hpp"
#include "core/log.hpp"
#include "core/unique_fd.hpp"
#include "http/tls/tls_context.hpp"
#include "master/canary.hpp"
#include "master/control_socket.hpp"
#include "master/process_roles.hpp"
#include "master/service_notify.hpp"
#include "master/sidecars.hpp"
#include "master/zygote.hpp"
#include "shm/broadcast_ring.hpp"
#include "shm/cache_table.hpp"
#include "shm/metrics.hpp"
#include "shm/scoreboard.hpp"
#include "worker/accept_policy.hpp"
#include "worker/access_log.hpp"
#include "worker/worker.hpp"

namespace askr::master {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The shared-memory cache, mapped once for the server's life: every generation's zygote
// and workers inherit it, so a reload keeps the cache and a restart empties it.
// With [cache] redis there is no table: the cache is in Redis.
std::unique_ptr<shm::CacheTable> make_cache(const config::ServeOptions& options) {
    if (options.cache_slots == 0 || !options.cache_redis.empty()) return nullptr;
    return std::make_unique<shm::CacheTable>(
        shm::CacheLimits{options.cache_slots, options.cache_memory, options.cache_max_value});
}

// What askr_cache_*() use: the table, or Redis. Made here and inherited by every worker;
// the Redis backend connects only when a worker first uses it (never in the master).
std::unique_ptr<cache::Backend> make_cache_backend(const config::ServeOptions& options,
                                                   shm::CacheTable* table) {
    if (!options.cache_redis.empty()) {
        return std::make_unique<cache::RedisBackend>(
            config::parse_redis_url(options.cache_redis), options.cache_prefix,
            std::chrono::milliseconds(options.cache_redis_timeout_ms), options.cache_max_value);
    }
    if (table) return std::make_unique<cache::ShmBackend>(*table);
    return nullptr;
}

// The broadcast ring, mapped once for the server's life like the cache: a reload keeps
// the recent events and the ids go on counting.
std::unique_ptr<shm::BroadcastRing> make_broadcast(const config::ServeOptions& options,
                                                   std::size_t slots) {
    if (!options.broadcast) return nullptr;
    return std::make_unique<shm::BroadcastRing>(
        options.broadcast_ring, slots, options.broadcast_secret,
        options.broadcast_metrics_channels, options.broadcast_max_channel_length);
}

// With [broadcast] redis: where the stream is, for the publishers and the relay.
std::optional<broadcast::StreamSettings> stream_settings(const config::ServeOptions& options) {
    if (!options.broadcast || options.broadcast_redis.empty()) return std::nullopt;
    broadcast::StreamSettings settings;
    settings.url = config::parse_redis_url(options.broadcast_redis);
    settings.key = options.broadcast_redis_key;
    settings.length = options.broadcast_redis_length;
    settings.timeout = std::chrono::milliseconds(options.broadcast_redis_timeout_ms);
    settings.limits = {options.broadcast_max_channel_length, options.broadcast_max_data};
    return settings;
}

// What askr_broadcast() publishes through with Redis; connects only in the process that
// first publishes (a worker, a sidecar), never in the master.
std::unique_ptr<broadcast::RedisPublisher> make_publisher(
    const std::optional<broadcast::StreamSettings>& settings) {
    if (!settings) return nullptr;
    return std::make_unique<broadcast::RedisPublisher>(*settings);
}

struct Generation {
    std::uint32_t number = 0;
    pid_t zygote = -1;
    core::UniqueFd control;  // master's end of the socket pair
    bool ready = false;
    bool failed = false;  // its reload failed: it serves nothing and its zygote is let go
    std::vector<std::uint32_t> spawning;  // slots asked of its zygote and not yet named
    Clock::time_point started;
};

struct Worker {
    pid_t pid = -1;
    std::uint32_t generation = 0;
    std::size_t slot = 0;
    Clock::time_point started;
    bool retiring = false;           // told to stop (reload, shutdown): its exit is expected
    bool timed_out = false;          // told it ran past --request-timeout ...
    Clock::time_point timed_out_at;  // ... then, and killed if still there a while later
};

class Master final : public admin::Supervisor {
  public:
    Master(const config::ServeOptions& options, std::vector<core::ListenSocket>& sockets)
        : options_(options),
          sockets_(sockets),
          scoreboard_(2 * options.workers),
          metrics_(scoreboard_.size()),
          cache_(make_cache(options)),
          cache_backend_(make_cache_backend(options, cache_.get())),
          broadcast_(make_broadcast(options, scoreboard_.size())),
          stream_(stream_settings(options)),
          publisher_(make_publisher(stream_)),
          sidecars_(options),
          canary_(options, metrics_),
          admin_(options, scoreboard_, metrics_, *this, cache_.get(), broadcast_.get()),
          worker_backoff_(worker_role),
          zygote_backoff_(zygote_role) {}

    int run();
    // admin::Supervisor (the admin listener)
    admin::SupervisorStatus supervisor_status() const override;
    void request_reload() override;

  private:
    void start_generation();
    void start_relay();
    void on_relay_exit(int status);
    void handle_signal(int signal);
    void prepare_log_files();
    void reopen_logs();
    void reload_tls();
    void reap_children();
    void on_worker_exit(const Worker& worker, int status);
    void read_zygote(Generation& generation);
    void maintain();
    void spawn_worker(Generation& generation);
    void retire(Worker& worker, int signal);
    void finish_reload_if_done();
    void check_reload_progress(Generation& generation);
    std::string serving_line() const;
    void watch_canary(Generation& generation);
    void fail_reload(Generation& generation, const std::string& reason);
    void close_zygote_when_idle(Generation& generation);
    std::size_t spawns_in_flight() const;
    void answer_control();
    std::string status_text() const;
    void kill_hung_workers();
    int poll_timeout_ms() const;
    void pass_on_kick(std::size_t dead_slot);
    void pass_on_held();
    // The newest generation whose reload has not failed (a failed one only winds down).
    Generation* current() {
        for (auto g = generations_.rbegin(); g != generations_.rend(); ++g) {
            if (!(*g)->failed) return g->get();
        }
        return nullptr;
    }
    const Generation* current() const { return const_cast<Master*>(this)->current(); }
    std::optional<std::size_t> free_slot() const;
    std::size_t count_workers(std::uint32_t generation, bool ready_only) const;
    /// Workers of `generation` that serve or are known to fail at boot.
    std::size_t count_settled(std::uint32_t generation) const;

    const config::ServeOptions& options_;
    std::vector<core::ListenSocket>& sockets_;
    std::unique_ptr<http::tls::TlsContext> tls_;  // what new generations inherit (null: plain HTTP)
    shm::Scoreboard scoreboard_;
    shm::Metrics metrics_;  // per-slot request metrics, folded into totals when a worker is reaped
    std::unique_ptr<shm::CacheTable> cache_;         // null with [cache] slots = 0 or redis
    std::unique_ptr<cache::Backend> cache_backend_;  // askr_cache_*(); null when off
    std::unique_ptr<shm::BroadcastRing> broadcast_;  // askr_broadcast(); null when off
    std::optional<broadcast::StreamSettings> stream_;       // [broadcast] redis, if set
    std::unique_ptr<broadcast::RedisPublisher> publisher_;  // askr_broadcast() with Redis
    pid_t relay_ = -1;  // the broadcast relay (broadcast/relay.hpp), with Redis
    Clock::time_point relay_started_{};
    Clock::time_point next_relay_start_{};
    Backoff relay_backoff_{relay_role};
    Sidecars sidecars_;         // [queue] workers and [scheduler] (sidecars.hpp)
    Canary canary_;             // --canary: the reload's first new worker watched
    ServiceNotifier notifier_;  // systemd's Type=notify ($NOTIFY_SOCKET)
    admin::AdminServer admin_;  // --admin-listen, served from the poll loop below
    core::UniqueFd signals_;
    core::UniqueFd control_;
    std::string control_path_;
    Clock::time_point started_ = Clock::now();
    std::vector<std::unique_ptr<Generation>> generations_;  // oldest first; back() is current
    std::map<pid_t, Worker> workers_;
    std::map<pid_t, int> early_exits_;  // workers that died before the zygote named them
    std::vector<bool> slot_taken_;
    std::vector<core::UniqueFd> stop_fds_;  // per slot: "drain and exit" without a signal
    std::vector<core::UniqueFd>
        kick_fds_;  // per slot: "take a pending connection" (worker/accept_thread.hpp)
    std::vector<worker::HandoffChannel>
        handoff_;  // per slot: connections moved to it (worker/handoff.hpp)
    // Moved connections whose worker exited while no other one served (every worker was
    // recycling at once), until one serves (pass_on_held).
    struct HeldConnection {
        worker::MovedConnection moved;
        Clock::time_point since;
    };
    std::vector<HeldConnection> held_;
    std::uint32_t next_generation_ = 1;
    Backoff worker_backoff_;
    Backoff zygote_backoff_;
    Clock::time_point next_worker_start_{};
    Clock::time_point next_zygote_start_{};
    bool reloading_ = false;
    std::uint32_t last_reload_generation_ = 0;  // the last reload that ended, and how
    bool last_reload_failed_ = false;
    std::string last_reload_error_;
    bool reload_pending_ = false;
    bool announced_ = false;
    bool stopping_ = false;
    int exit_status_ = 0;
    Clock::time_point stop_deadline_{};
};

// Each connection costs a descriptor: take the hard limit (as nginx's
// worker_rlimit_nofile does) and say when --max-connections cannot fit under it.
void raise_open_file_limit(std::uint32_t max_connections) {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &limit);
    }
    constexpr rlim_t reserve = 64;  // listening sockets, logs, PHP's own files
    if (limit.rlim_cur != RLIM_INFINITY && max_connections + reserve > limit.rlim_cur) {
        spdlog::warn(
            "--max-connections {} needs about {} open files per worker, but the limit is {}: raise "
            "it "
            "(ulimit -n, or LimitNOFILE= in a systemd unit) or lower --max-connections",
            max_connections, max_connections + reserve,
            static_cast<unsigned long long>(limit.rlim_cur));
    }
}

int Master::run() {
    raise_open_file_limit(options_.max_connections);
    // Log files first: a path that cannot be written stops the start here.
    prepare_log_files();
    if (!options_.error_log.empty()) core::log_to_file(options_.error_log);
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);  // workers (double-forked) are adopted by the master
    ::prctl(PR_SET_NAME, "askr: master");
    // Before any fork: a bad certificate stops the start here (exit status 2).
    if (options_.tls()) tls_ = http::tls::load_server_context(options_);
    slot_taken_.assign(scoreboard_.size(), false);
    // A graceful stop is asked through an eventfd, not SIGTERM: a signal reaches the PHP
    // thread and cuts short whatever system call the script is in (sleep, a database
    // read), which a reload must never do to in-flight requests.
    for (std::size_t i = 0; i < scoreboard_.size(); ++i) {
        stop_fds_.emplace_back(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
        kick_fds_.emplace_back(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
        if (!stop_fds_.back() || !kick_fds_.back()) throw std::runtime_error("eventfd() failed");
    }
    handoff_ = worker::make_handoff_channels(scoreboard_.size());
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD}) sigaddset(&set, s);
    ::sigprocmask(SIG_BLOCK, &set, nullptr);
    signals_.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signals_) throw std::runtime_error("signalfd() failed");
    if (options_.paranoid) {
        spdlog::warn(
            "--paranoid is on: every worker checks the app's state between requests (slower; "
            "for development only)");
    }
    if (::geteuid() == 0 && options_.user.empty()) {
        spdlog::warn(
            "running as root without --user: PHP scripts run as root; "
            "pass --user www-data (or another unprivileged user)");
    }

    spdlog::info("master {} serving {} with {} worker(s), index {}", ::getpid(), options_.root,
                 options_.workers, options_.index);
    control_path_ = options_.control_socket.empty()
                        ? default_control_path(sockets_.front().port, sockets_.front().unix_path)
                        : options_.control_socket;
    control_ = open_control_socket(control_path_);
    spdlog::info("control socket {} (askr status --socket {})", control_path_, control_path_);
    admin_.open();
    if (stream_) start_relay();
    start_generation();

    std::vector<pollfd> fds;
    for (;;) {
        fds.clear();
        fds.push_back({signals_.get(), POLLIN, 0});
        fds.push_back({control_.get(), POLLIN, 0});
        for (auto& g : generations_) {
            if (g->control) fds.push_back({g->control.get(), POLLIN, 0});
        }
        const std::size_t admin_first = fds.size();
        admin_.add_poll_fds(fds);
        int n = ::poll(fds.data(), fds.size(), poll_timeout_ms());
        if (n < 0 && errno != EINTR)
            throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
        if (fds[0].revents & POLLIN) {
            signalfd_siginfo info;
            while (::read(signals_.get(), &info, sizeof info) ==
                   static_cast<ssize_t>(sizeof info)) {
                handle_signal(static_cast<int>(info.ssi_signo));
            }
        }
        if (fds[1].revents & POLLIN) answer_control();
        for (std::size_t i = 2; i < admin_first; ++i) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            for (auto& g : generations_) {
                if (g->control.get() == fds[i].fd) read_zygote(*g);
            }
        }
        admin_.on_poll(std::span<const pollfd>(fds).subspan(admin_first));
        reap_children();
        pass_on_held();
        kill_hung_workers();
        sidecars_.enforce_timeouts(Clock::now());
        notifier_.watchdog(Clock::now());
        if (stopping_) {
            for (auto& g : generations_) close_zygote_when_idle(*g);
            // As the subreaper, the master waits until it has no child at all: no zygote,
            // no intermediate, no worker is left behind.
            if (workers_.empty() && generations_.empty() && !sidecars_.any_running() && relay_ < 0 &&
                ::waitpid(-1, nullptr, WNOHANG) < 0 && errno == ECHILD) {
                ::unlink(control_path_.c_str());
                for (const auto& socket : sockets_) {
                    if (!socket.unix_path.empty()) ::unlink(socket.unix_path.c_str());
                }
                spdlog::info("stopped");
                return exit_status_;
            }
            if (Clock::now() > stop_deadline_) {
                spdlog::error("{} worker(s) still running after the shutdown timeout; killing them",
                              workers_.size());
                for (auto& [pid, w] : workers_) ::kill(pid, SIGKILL);
                for (auto& g : generations_) ::kill(g->zygote, SIGKILL);
                sidecars_.kill_all();
                if (relay_ > 0) ::kill(relay_, SIGKILL);
                stop_deadline_ = Clock::now() + std::chrono::seconds(5);
            }
            continue;
        }
        maintain();
    }
}

void Master::start_generation() {
    auto generation = std::make_unique<Generation>();
    generation->number = next_generation_++;
    generation->started = Clock::now();
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
        throw std::runtime_error("socketpair() failed");
    }
    std::fflush(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("fork() failed: ") + std::strerror(errno));
    if (pid == 0) {
        ::close(pair[0]);
        signals_.reset();
        control_.reset();
        // Older generations' control sockets must not live on in this zygote (or its
        // workers): their zygotes wait for EOF on them to exit.
        for (auto& g : generations_) g->control.reset();
        admin_.close_in_child();
        ZygoteSetup setup{&options_, &sockets_,   &scoreboard_, generation->number,
                          pair[1],   ::getppid(), &stop_fds_,   &kick_fds_};
        setup.handoff = &handoff_;
        setup.tls = tls_.get();
        setup.metrics = &metrics_;
        setup.cache = cache_backend_.get();
        setup.broadcast = broadcast_.get();
        setup.broadcast_redis = publisher_.get();
        setup.sidecar_stop_fds = &sidecars_.stop_fds();
        setup.sidecar_jobs = sidecars_.job_counters();
        run_zygote(setup);
    }
    ::close(pair[1]);
    generation->zygote = pid;
    generation->control.reset(pair[0]);
    spdlog::info("generation {}: zygote {} starting PHP", generation->number, pid);
    generations_.push_back(std::move(generation));
}

// The broadcast relay: a process of its own (no PHP, no threads in the master), forked
// before the first zygote and started again whenever it exits. It keeps its place in the
// stream in the ring, so a new one goes on where the last one was.
void Master::start_relay() {
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) {
        spdlog::error("broadcast relay: fork() failed: {}", std::strerror(errno));
        next_relay_start_ = Clock::now() + std::chrono::seconds(1);
        return;
    }
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        ::prctl(PR_SET_NAME, "askr: relay");
        // What belongs to the master goes: its signals, control and listening sockets.
        signals_.reset();
        control_.reset();
        for (auto& g : generations_) g->control.reset();
        admin_.close_in_child();
        for (auto& socket : sockets_) socket.fd.reset();
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);  // SIGTERM ends it: it holds no work
        try {
            drop_privileges(options_);
            broadcast::run_relay(*stream_, *broadcast_);
        } catch (const std::exception& e) {
            spdlog::error("broadcast relay: {}", e.what());
        }
        std::fflush(nullptr);
        ::_exit(1);
    }
    relay_ = pid;
    relay_started_ = Clock::now();
}

void Master::on_relay_exit(int status) {
    relay_ = -1;
    if (stopping_) return;
    const auto delay = relay_backoff_.on_exit(Clock::now() - relay_started_, true);
    next_relay_start_ = Clock::now() + delay;
    spdlog::error("broadcast relay {}; starting it again{}", describe_exit(status),
                  delay.count() ? " in " + std::to_string(delay.count()) + " ms" : "");
}

void Master::handle_signal(int signal) {
    switch (signal) {
        case SIGTERM:
        case SIGINT:
        case SIGQUIT: {
            const bool fast = signal == SIGQUIT;
            if (stopping_ && !fast) return;
            spdlog::info("{}: {} stop of {} worker(s)", sigabbrev_np(signal),
                         fast ? "fast" : "graceful", workers_.size());
            stopping_ = true;
            stop_deadline_ = Clock::now() +
                             std::max(options_.shutdown_timeout, options_.queue_stop_timeout) +
                             std::chrono::seconds(5);
            for (auto& [pid, w] : workers_) retire(w, fast ? SIGQUIT : SIGTERM);
            if (relay_ > 0) ::kill(relay_, SIGTERM);
            sidecars_.stop_all(fast);  // between jobs: a job under way finishes
            notifier_.stopping(std::string(fast ? "fast" : "graceful") + " stop of " +
                               std::to_string(workers_.size()) + " worker(s)");
            admin_.reload_ended(supervisor_status());  // a reload waited for will not end
            // The zygotes exit on EOF, once every worker they are forking has been named
            // (a worker in flight is retired when its "spawned" message arrives).
            break;
        }
        case SIGHUP:
            if (reloading_) {
                reload_pending_ = true;  // coalesced: one more reload after this one
                spdlog::info("SIGHUP: a reload is running; another will follow it");
                return;
            }
            spdlog::info("SIGHUP: reload started (generation {})", next_generation_);
            metrics_.supervisor().reloads.add(1);
            notifier_.reloading("reloading: generation " + std::to_string(next_generation_) +
                                " is starting");
            reloading_ = true;
            canary_.begin();
            if (canary_.pending()) {
                spdlog::info(
                    "reload: the first worker of generation {} is a canary, watched for {} s "
                    "before the others roll",
                    next_generation_, options_.canary_seconds.count());
            }
            reload_tls();
            start_generation();
            break;
        case SIGUSR1:
            reopen_logs();
            break;
        default:
            break;
    }
}

// SIGUSR1: logrotate has renamed the files. The master reopens its error log now, the
// workers theirs and their access logs within a second (worker/telemetry.cpp).
void Master::reopen_logs() {
    bool ok = true;
    try {
        prepare_log_files();
    } catch (const std::exception& e) {
        ok = false;
        spdlog::error("SIGUSR1: {}", e.what());
    }
    if (!core::reopen_log_file()) {
        ok = false;
        spdlog::error("SIGUSR1: cannot reopen {}; still writing to the old file",
                      options_.error_log);
    }
    metrics_.supervisor().log_reopens.add(1);
    metrics_.supervisor().log_generation.fetch_add(1, std::memory_order_relaxed);
    if (ok) spdlog::info("SIGUSR1: log files reopened");
}

// Creates the log files (owned by --user when started as root): workers open them by path.
void Master::prepare_log_files() {
    if (!options_.error_log.empty())
        worker::prepare_log_file(options_.error_log, "--error-log", options_.user);
    if (!options_.access_log.empty())
        worker::prepare_log_file(options_.access_log, "--access-log", options_.user);
}

admin::SupervisorStatus Master::supervisor_status() const {
    admin::SupervisorStatus status;
    status.generation = current() ? current()->number : 0;
    status.reloading = reloading_;
    status.reload_pending = reload_pending_;
    status.last_reload_generation = last_reload_generation_;
    status.last_reload_failed = last_reload_failed_;
    status.last_reload_error = last_reload_error_;
    status.stopping = stopping_;
    status.uptime = Clock::now() - started_;
    status.workers_configured = options_.workers;
    status.sidecars = sidecars_.status();
    return status;
}

void Master::request_reload() {
    if (stopping_) return;
    spdlog::info("admin: reload requested (POST /api/reload)");
    handle_signal(SIGHUP);
}

// Certificates are re-read on every reload: the new generation inherits the new
// context, old workers keep theirs until they retire, so no connection is dropped. Files
// that do not load leave the previous certificate serving.
void Master::reload_tls() {
    if (!tls_) return;
    try {
        tls_ = http::tls::load_server_context(options_);
    } catch (const std::exception& e) {
        spdlog::error("reload: {}; keeping the previous certificate", e.what());
    }
}

void Master::reap_children() {
    int status = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
        auto w = workers_.find(pid);
        if (w != workers_.end()) {
            Worker worker = w->second;
            workers_.erase(w);
            slot_taken_[worker.slot] = false;
            std::uint64_t stale;  // a stop request the dead worker never read
            while (::read(stop_fds_[worker.slot].get(), &stale, sizeof stale) > 0) {
            }
            // A worker killed outright left its slot saying idle or busy: the accept
            // policy must not count on it (nor pass connections to it).
            shm::WorkerSlot& slot = scoreboard_.slot(worker.slot);
            slot.state.store(shm::WorkerState::empty, std::memory_order_release);
            slot.connections.store(0, std::memory_order_relaxed);
            slot.php_outstanding.store(0, std::memory_order_relaxed);
            if (::read(kick_fds_[worker.slot].get(), &stale, sizeof stale) > 0)
                pass_on_kick(worker.slot);
            pass_on_held();  // connections moved to it that it never read
            on_worker_exit(worker, status);
            continue;
        }
        if (sidecars_.on_exit(pid, status, stopping_)) continue;
        if (pid == relay_) {
            on_relay_exit(status);
            continue;
        }
        auto g = std::find_if(generations_.begin(), generations_.end(),
                              [pid](const auto& gen) { return gen->zygote == pid; });
        if (g != generations_.end()) {
            // What it said before exiting (workers it forked) still waits in the socket.
            auto unnamed = [&] {
                return (*g)->spawning.size() + sidecars_.spawning_from((*g)->number);
            };
            while ((*g)->control && unnamed() > 0) {
                const std::size_t before = unnamed();
                read_zygote(**g);
                if (unnamed() == before) break;
            }
            for (std::uint32_t slot : (*g)->spawning) slot_taken_[slot] = false;
            sidecars_.zygote_gone((*g)->number);
            const bool was_current = g->get() == current();
            const bool was_ready = (*g)->ready;
            const auto uptime = Clock::now() - (*g)->started;
            if (!stopping_ && (WIFSIGNALED(status) || WEXITSTATUS(status) != 0 || was_current)) {
                spdlog::error("generation {}: zygote {} {}", (*g)->number, pid,
                              describe_exit(status));
            }
            if (!stopping_ && was_current && !was_ready && reloading_ && generations_.size() > 1) {
                fail_reload(**g, "did not start (see the log above)");
                generations_.erase(g);
                continue;
            }
            generations_.erase(g);
            if (stopping_) continue;
            if (was_current) {
                // The serving generation lost its zygote: start a new one (backoff on loops).
                auto delay = zygote_backoff_.on_exit(uptime, true);
                next_zygote_start_ = Clock::now() + delay;
                if (zygote_backoff_.streak() > 1) {
                    spdlog::error("zygote keeps failing ({} times in a row); next try in {} ms",
                                  zygote_backoff_.streak(), delay.count());
                }
            }
            continue;
        }
        early_exits_[pid] = status;  // a worker the zygote has not named yet
    }
}

void Master::on_worker_exit(const Worker& worker, int status) {
    const auto uptime = Clock::now() - worker.started;
    const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    metrics_.retire_slot(worker.slot);  // its counts join the totals before the slot is reused
    if (broadcast_) broadcast_->clear_slot(worker.slot);  // its subscribers left with it
    if (!worker.retiring && !stopping_)
        (clean ? metrics_.supervisor().worker_recycles : metrics_.supervisor().worker_crashes)
            .add(1);
    if (worker.retiring || stopping_) {
        spdlog::info("worker {} (generation {}) stopped: {}", worker.pid, worker.generation,
                     describe_exit(status));
        finish_reload_if_done();
        return;
    }
    Generation* gen = current();
    if (reloading_ && canary_.pending() && gen && worker.generation == gen->number &&
        generations_.size() > 1) {
        spdlog::error("worker {} (generation {}) {} while it was the canary", worker.pid,
                      worker.generation, describe_exit(status));
        fail_reload(*gen, "canary worker " + std::to_string(worker.pid) + " " +
                              describe_exit(status) + " (see the log above)");
        return;
    }
    if (reloading_ && gen && worker.generation == gen->number && generations_.size() > 1 &&
        scoreboard_.slot(worker.slot).ready_ms.load(std::memory_order_relaxed) == 0) {
        spdlog::error("worker {} (generation {}) {} before it could serve", worker.pid,
                      worker.generation, describe_exit(status));
        fail_reload(*gen, "lost a worker before it could serve (see the log above)");
        return;
    }
    if (worker.timed_out) {
        spdlog::warn("worker {} (generation {}) ended for --request-timeout; restarting",
                     worker.pid, worker.generation);
    } else if (clean) {
        spdlog::info("worker {} (generation {}) recycled after {} requests", worker.pid,
                     worker.generation,
                     scoreboard_.slot(worker.slot).requests.load(std::memory_order_relaxed));
    } else {
        spdlog::error("worker {} (generation {}) {}; restarting", worker.pid, worker.generation,
                      describe_exit(status));
    }
    auto delay = worker_backoff_.on_exit(uptime, !clean);
    if (delay.count() > 0) {
        next_worker_start_ = Clock::now() + delay;
        spdlog::error(
            "worker crash loop: {} crashes in a row right after start; next start in {} ms",
            worker_backoff_.streak(), delay.count());
    }
    finish_reload_if_done();
}

void Master::read_zygote(Generation& generation) {
    ZygoteMessage message{};
    ssize_t n = ::recv(generation.control.get(), &message, sizeof message, MSG_DONTWAIT);
    if (n == 0) {  // the zygote is gone; waitpid reports how
        generation.control.reset();
        return;
    }
    if (n != static_cast<ssize_t>(sizeof message)) return;
    switch (message.type) {
        case ZygoteMessage::ready:
            generation.ready = true;
            spdlog::info("generation {}: PHP started in {} ms", generation.number,
                         std::chrono::duration_cast<milliseconds>(Clock::now() - generation.started)
                             .count());
            break;
        case ZygoteMessage::failed:
            spdlog::error("generation {}: PHP failed to start: {}", generation.number,
                          message.text);
            break;
        // --cow: the app failed to boot in the zygote. At start there is nothing
        // to fall back on: stop with an error. During a reload the old generation serves on.
        case ZygoteMessage::boot_failed:
            spdlog::error("generation {}: {}", generation.number, message.text);
            if (reloading_ && &generation == current() && generations_.size() > 1) {
                fail_reload(generation, "cannot serve: its worker script " +
                                            options_.worker_script +
                                            " ended before askr_cow_ready() (see the log above)");
            } else if (!announced_ && generations_.size() == 1 && workers_.empty()) {
                spdlog::error("cannot start: the app did not boot (--cow)");
                stopping_ = true;
                exit_status_ = 1;
                stop_deadline_ = Clock::now() + std::chrono::seconds(5);
            }
            break;
        case ZygoteMessage::spawned: {
            if (message.role != ZygoteMessage::worker) {
                sidecars_.on_spawned(message, generation.number);
                auto early = early_exits_.find(message.pid);
                if (early != early_exits_.end()) {  // it exited before the zygote named it
                    const int status = early->second;
                    early_exits_.erase(early);
                    sidecars_.on_exit(message.pid, status, stopping_);
                }
                close_zygote_when_idle(generation);
                break;
            }
            auto asked =
                std::find(generation.spawning.begin(), generation.spawning.end(), message.slot);
            if (asked == generation.spawning.end()) break;  // not a slot it was asked for
            generation.spawning.erase(asked);
            if (message.pid <= 0) {
                slot_taken_[message.slot] = false;
                spdlog::error("generation {}: fork of a worker failed", generation.number);
                break;
            }
            Worker w{message.pid, generation.number, message.slot, Clock::now(), false, false, {}};
            metrics_.supervisor().worker_starts.add(1);
            auto early = early_exits_.find(message.pid);
            if (early != early_exits_.end()) {
                int status = early->second;
                early_exits_.erase(early);
                slot_taken_[w.slot] = false;
                on_worker_exit(w, status);
                break;
            }
            workers_[w.pid] = w;
            spdlog::info("worker {} (generation {}) started", w.pid, w.generation);
            if (stopping_) retire(workers_[w.pid], SIGTERM);
            // It never served and never will: it takes no connection before it can.
            if (generation.failed) retire(workers_[w.pid], SIGKILL);
            close_zygote_when_idle(generation);
            break;
        }
        default:
            break;
    }
}

std::optional<std::size_t> Master::free_slot() const {
    for (std::size_t i = 0; i < slot_taken_.size(); ++i) {
        if (!slot_taken_[i]) return i;
    }
    return std::nullopt;
}

std::size_t Master::count_settled(std::uint32_t generation) const {
    std::size_t n = 0;
    for (const auto& [pid, w] : workers_) {
        if (w.generation != generation || w.retiring) continue;
        const auto state = scoreboard_.slot(w.slot).state.load(std::memory_order_acquire);
        if (state == shm::WorkerState::idle || state == shm::WorkerState::busy ||
            state == shm::WorkerState::failing)
            ++n;
    }
    return n;
}

std::size_t Master::count_workers(std::uint32_t generation, bool ready_only) const {
    std::size_t n = 0;
    for (const auto& [pid, w] : workers_) {
        if (w.generation != generation || w.retiring) continue;
        if (ready_only) {
            auto state = scoreboard_.slot(w.slot).state.load(std::memory_order_acquire);
            if (state != shm::WorkerState::idle && state != shm::WorkerState::busy) continue;
            if (scoreboard_.slot(w.slot).pid.load(std::memory_order_relaxed) != pid) continue;
        }
        ++n;
    }
    return n;
}

void Master::spawn_worker(Generation& generation) {
    auto slot = free_slot();
    if (!slot) return;
    scoreboard_.slot(*slot).ready_ms.store(0, std::memory_order_relaxed);
    ZygoteMessage command{};
    command.type = ZygoteMessage::spawn;
    command.slot = static_cast<std::uint32_t>(*slot);
    if (::send(generation.control.get(), &command, sizeof command, MSG_NOSIGNAL) != sizeof command)
        return;
    slot_taken_[*slot] = true;
    generation.spawning.push_back(command.slot);
}

std::size_t Master::spawns_in_flight() const {
    std::size_t n = 0;
    for (const auto& g : generations_) n += g->spawning.size();
    return n;
}

// A zygote exits when its control socket closes; it is closed only once every fork asked
// of it has been named, so that no worker is left running unknown to the master.
void Master::close_zygote_when_idle(Generation& generation) {
    if (!generation.control || !generation.spawning.empty() ||
        sidecars_.spawning_from(generation.number) > 0)
        return;
    if (stopping_ || generation.failed) generation.control.reset();
}

void Master::retire(Worker& worker, int signal) {
    worker.retiring = true;
    if (signal == SIGTERM) {
        const std::uint64_t one = 1;
        if (::write(stop_fds_[worker.slot].get(), &one, sizeof one) == sizeof one) return;
    }
    ::kill(worker.pid, signal);
}

// While something is under way (starting, a respawn or reload, stopping, an admin client
// with a deadline), the master looks every 50 ms: worker readiness is read from the
// worker table. Otherwise events wake it (signals, SIGCHLD included, and the sockets) and
// it looks once a second for requests past --request-timeout: an idle server sleeps.
// What `systemctl status` shows on its Status: line.
std::string Master::serving_line() const {
    const Generation* gen = current();
    std::string line = "serving with " + std::to_string(options_.workers) +
                       " worker(s), generation " + std::to_string(gen ? gen->number : 0);
    if (options_.queue_workers > 0)
        line += ", " + std::to_string(options_.queue_workers) + " queue sidecar(s)";
    if (!options_.scheduler_script.empty()) line += ", scheduler";
    return line;
}

int Master::poll_timeout_ms() const {
    const Generation* gen = current();
    const bool settled = gen && gen->ready && announced_ && !stopping_ && !reloading_ &&
                         !reload_pending_ && spawns_in_flight() == 0 &&
                         count_workers(gen->number, true) >= options_.workers &&
                         workers_.size() == options_.workers && admin_.idle() && held_.empty();
    const int watchdog = static_cast<int>(notifier_.watchdog_period().count());
    const int timeout = settled ? 1000 : 50;
    return watchdog > 0 ? std::min(timeout, watchdog) : timeout;
}

// Keeps the wanted number of workers of the current generation, and rolls a reload
// forward: one new worker at a time; an old one retires only once a new one is ready.
void Master::maintain() {
    if (stream_ && relay_ < 0 && Clock::now() >= next_relay_start_) start_relay();
    Generation* gen = current();
    if (!gen) {
        if (Clock::now() >= next_zygote_start_) {
            reloading_ = !workers_.empty();  // the old workers retire as new ones get ready
            start_generation();
        }
        return;
    }
    if (reloading_) {
        check_reload_progress(*gen);
        gen = current();
        if (!gen) return;
    }
    if (!gen->ready || !gen->control) return;
    if (!announced_ && count_settled(gen->number) >= options_.workers) {
        // "listening on" means ready: every worker of the first generation takes requests
        // (or answers 503 because its worker script cannot start).
        announced_ = true;
        for (const auto& s : sockets_) {
            const bool https = tls_ && !s.redirect_to_https;
            const char* proxy = s.proxy_protocol ? " (PROXY protocol)" : "";
            if (!s.unix_path.empty()) {
                spdlog::info("listening on {}+unix:{}{}{}", https ? "https" : "http", s.unix_path,
                             s.redirect_to_https ? " (redirects to https)" : "", proxy);
                continue;
            }
            const bool v6 = s.host.find(':') != std::string::npos;
            spdlog::info("listening on {}://{}{}{}:{}{}{}", https ? "https" : "http", v6 ? "[" : "",
                         s.host, v6 ? "]" : "", s.port,
                         s.redirect_to_https ? " (redirects to https)" : "", proxy);
        }
        notifier_.ready(serving_line());
    }
    const auto now = Clock::now();
    if (announced_ && !reloading_)
        sidecars_.start_due(gen->control.get(), gen->number, now, std::chrono::system_clock::now());
    const std::size_t live = count_workers(gen->number, false);
    if (gen->spawning.empty() && live < options_.workers && now >= next_worker_start_) {
        // During a reload, start the next new worker only when the previous one is ready.
        // With a canary under watch, only the canary of the new generation runs.
        if ((!reloading_ || count_workers(gen->number, true) == live) &&
            !(reloading_ && canary_.pending() && live >= 1))
            spawn_worker(*gen);
    }
    if (!reloading_ && reload_pending_) {
        reload_pending_ = false;
        handle_signal(SIGHUP);
        return;
    }
    if (reloading_ && canary_.pending()) {
        watch_canary(*gen);
        if (canary_.pending() || !reloading_) return;  // still watched, or the reload failed
    }
    if (reloading_) {
        std::size_t ready_new = count_workers(gen->number, true);
        std::size_t old_alive = 0;
        for (auto& [pid, w] : workers_) {
            if (w.generation != gen->number && !w.retiring) ++old_alive;
        }
        // Retire old workers one for one as new ones become ready.
        while (old_alive > 0 && ready_new + old_alive > options_.workers) {
            for (auto& [pid, w] : workers_) {
                if (w.generation != gen->number && !w.retiring) {
                    retire(w, SIGTERM);
                    break;
                }
            }
            --old_alive;
        }
        finish_reload_if_done();
    }
}

// A reload goes on only while the new generation can prove it serves: a worker whose
// script ended before askr_handle_request(), or still starting after --boot-timeout,
// fails it before any old worker has been asked to retire for it.
void Master::check_reload_progress(Generation& generation) {
    if (generations_.size() < 2) return;
    const auto now = Clock::now();
    if (!generation.ready && now - generation.started > options_.boot_timeout) {
        fail_reload(generation, "did not start PHP within --boot-timeout " +
                                    std::to_string(options_.boot_timeout.count()) + " s");
        return;
    }
    for (const auto& [pid, w] : workers_) {
        if (w.generation != generation.number || w.retiring) continue;
        const auto state = scoreboard_.slot(w.slot).state.load(std::memory_order_acquire);
        if (state == shm::WorkerState::failing) {
            fail_reload(generation, "cannot serve: its worker script " + options_.worker_script +
                                        " ended before reaching askr_handle_request() (see "
                                        "the log above)");
            return;
        }
        if (state == shm::WorkerState::starting && now - w.started > options_.boot_timeout) {
            fail_reload(generation, "cannot serve: worker " + std::to_string(pid) +
                                        " was still starting after --boot-timeout " +
                                        std::to_string(options_.boot_timeout.count()) + " s");
            return;
        }
    }
}

// --canary: the new generation's first worker, once it can serve, against the old ones.
void Master::watch_canary(Generation& generation) {
    std::optional<Canary::Seen> canary;
    std::vector<Canary::Seen> old;
    for (const auto& [pid, w] : workers_) {
        if (w.retiring) continue;
        if (w.generation != generation.number) {
            old.push_back({pid, w.slot});
            continue;
        }
        const auto state = scoreboard_.slot(w.slot).state.load(std::memory_order_acquire);
        if (state == shm::WorkerState::idle || state == shm::WorkerState::busy)
            canary = Canary::Seen{pid, w.slot};
    }
    if (!canary) return;  // still starting: check_reload_progress() watches the boot
    std::string why;
    switch (canary_.watch(*canary, old, Clock::now(), why)) {
        case Canary::Verdict::watching:
            return;
        case Canary::Verdict::passed:
            spdlog::info("canary passed: {}; rolling the other workers", why);
            canary_.end();
            return;
        case Canary::Verdict::failed:
            fail_reload(generation, why);
            return;
    }
}

// The old generation serves on untouched: the new one's workers that never took a
// connection are killed, a canary that did drains; its zygote exits once the forks asked
// of it are named.
void Master::fail_reload(Generation& generation, const std::string& reason) {
    generation.failed = true;
    reloading_ = false;
    canary_.end();
    last_reload_generation_ = generation.number;
    last_reload_failed_ = true;
    last_reload_error_ = "generation " + std::to_string(generation.number) + " " + reason;
    const Generation* serving = current();
    spdlog::error("reload failed: {}; generation {} keeps serving; fix it and reload again",
                  last_reload_error_, serving ? serving->number : 0);
    admin_.reload_ended(supervisor_status());
    notifier_.ready(serving_line() + "; last reload failed: " + last_reload_error_);
    for (auto& [pid, w] : workers_) {
        if (w.generation != generation.number || w.retiring) continue;
        // A canary that served holds connections: it drains them. The others never took one.
        const bool served = scoreboard_.slot(w.slot).ready_ms.load(std::memory_order_relaxed) != 0;
        retire(w, served ? SIGTERM : SIGKILL);
    }
    close_zygote_when_idle(generation);
}

void Master::finish_reload_if_done() {
    if (!reloading_ || stopping_) return;
    Generation* gen = current();
    if (!gen || !gen->ready) return;
    for (const auto& [pid, w] : workers_) {
        if (w.generation != gen->number) return;  // old workers still draining
    }
    if (count_workers(gen->number, true) < options_.workers) return;
    for (auto& g : generations_) {
        if (g.get() != gen && sidecars_.spawning_from(g->number) > 0) return;  // named soon
    }
    // Every old generation's zygote can go now.
    for (auto& g : generations_) {
        if (g.get() != gen) g->control.reset();
    }
    sidecars_.roll_to(gen->number);  // after the web workers: each stops between jobs
    reloading_ = false;
    spdlog::info("reload finished: generation {} serving with {} worker(s)", gen->number,
                 options_.workers);
    last_reload_generation_ = gen->number;
    last_reload_failed_ = false;
    last_reload_error_.clear();
    admin_.reload_ended(supervisor_status());
    notifier_.ready(serving_line());
    // A SIGHUP that came during the reload starts the next one (maintain()).
}

// One short exchange per connection: "status\n" in, the worker table out.
void Master::answer_control() {
    core::UniqueFd client(::accept4(control_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!client) return;
    pollfd pfd{client.get(), POLLIN, 0};
    char request[64] = {};
    if (::poll(&pfd, 1, 200) <= 0 || ::read(client.get(), request, sizeof request - 1) <= 0) return;
    std::string reply =
        std::string_view(request).starts_with("status") ? status_text() : "unknown command\n";
    ::send(client.get(), reply.data(), reply.size(), MSG_NOSIGNAL);
}

// --request-timeout, php-fpm's request_terminate_timeout: max_execution_time counts CPU
// time and never fires while a script waits on a hung database or API call, so a wall
// clock limit ends such a worker. It is told first (request_timeout_signal(): its I/O
// thread answers the request 504, names it in the log and exits); one that is still there
// a few seconds later is killed, the only safe way from outside (PHP cannot be
// interrupted in the middle of a system call from another process). A fresh worker takes
// its place.
void Master::kill_hung_workers() {
    if (options_.request_timeout.count() == 0) return;
    const std::int64_t limit_ms =
        std::chrono::duration_cast<milliseconds>(options_.request_timeout).count();
    const std::int64_t now = shm::now_ms();
    for (auto& [pid, worker] : workers_) {
        if (worker.timed_out) {
            if (Clock::now() - worker.timed_out_at > std::chrono::seconds(4)) ::kill(pid, SIGKILL);
            continue;
        }
        const shm::WorkerSlot& slot = scoreboard_.slot(worker.slot);
        if (slot.pid.load(std::memory_order_relaxed) != pid) continue;
        const std::int64_t started = slot.request_started_ms.load(std::memory_order_relaxed);
        if (started == 0 || now - started < limit_ms) continue;
        spdlog::warn(
            "worker {}: a request has run for {} s, past --request-timeout {} s; ending the "
            "worker",
            pid, (now - started) / 1000, options_.request_timeout.count());
        worker.timed_out = true;
        worker.timed_out_at = Clock::now();
        ::kill(pid, worker::request_timeout_signal());
    }
}

// A worker that died with a kick unread would strand the connection it was passed.
void Master::pass_on_kick(std::size_t dead_slot) {
    const int peer = worker::least_loaded_peer(scoreboard_, scoreboard_.slot(dead_slot));
    if (peer < 0) return;
    const std::uint64_t one = 1;
    [[maybe_unused]] auto written =
        ::write(kick_fds_[static_cast<std::size_t>(peer)].get(), &one, sizeof one);
}

// Connections moved to a slot no worker holds (its worker died before reading them, or
// was reaped just after a sender read the worker table): each still has a request its
// client waits for. They go to the least loaded serving worker, as a kick does; when none
// serves right now (both workers recycling at once), the master holds them until one
// does. One held longer than the shutdown timeout, or while stopping, is closed.
void Master::pass_on_held() {
    for (std::size_t slot = 0; slot < handoff_.size(); ++slot) {
        if (slot_taken_[slot]) continue;
        while (auto moved = worker::receive_connection(handoff_[slot].receive.get()))
            held_.push_back({std::move(*moved), Clock::now()});
    }
    if (held_.empty()) return;
    std::size_t closed = 0;
    std::erase_if(held_, [&](HeldConnection& held) {
        const int target = worker::least_loaded_worker(scoreboard_);
        if (target >= 0 &&
            worker::send_connection(handoff_[static_cast<std::size_t>(target)].send.get(),
                                    held.moved.socket.get(), held.moved.unread)) {
            return true;
        }
        if (stopping_ || Clock::now() - held.since > options_.shutdown_timeout) {
            ++closed;
            return true;
        }
        return false;
    });
    if (closed > 0)
        spdlog::warn("{} moved connection(s) closed: no worker could take them", closed);
}

std::string Master::status_text() const {
    const auto uptime =
        std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started_).count();
    char line[256];
    std::snprintf(line, sizeof line, "askr %s, master %d, up %lds, generation %u, %u worker(s)%s\n",
                  ASKR_VERSION, ::getpid(), static_cast<long>(uptime),
                  current() ? current()->number : 0u, options_.workers,
                  reloading_  ? ", reloading"
                  : stopping_ ? ", stopping"
                              : "");
    std::string out = line;
    if (last_reload_failed_) out += "last reload failed: " + last_reload_error_ + "\n";
    if (!scoreboard_.valid()) {
        out +=
            "the worker table's header is damaged (a stray write into shared memory); restart the "
            "server\n";
        return out;
    }
    // WAKEUPS: times a new connection woke the worker; EMPTY: of those, how many found
    // nothing to accept (a thundering herd would make EMPTY grow with every connection).
    // SHED: connections refused because every worker was at --max-connections. MOVED:
    // connections handed to an idle worker with a request that would have waited here.
    out +=
        "SLOT  PID      GEN  STATE     REQUESTS   CONNS  WAKEUPS  EMPTY  SHED   MOVED  RSS(MB)  "
        "CURRENT(ms)\n";
    const auto now = shm::now_ms();
    for (std::size_t i = 0; i < scoreboard_.size(); ++i) {
        const auto& slot = scoreboard_.slot(i);
        const auto state = slot.state.load(std::memory_order_relaxed);
        if (state == shm::WorkerState::empty) continue;
        const auto started = slot.request_started_ms.load(std::memory_order_relaxed);
        std::snprintf(
            line, sizeof line,
            "%-5zu %-8d %-4u %-9s %-10llu %-6u %-8llu %-6llu %-6llu %-6llu %-8.1f %s\n", i,
            slot.pid.load(std::memory_order_relaxed),
            slot.generation.load(std::memory_order_relaxed), shm::state_name(state),
            static_cast<unsigned long long>(slot.requests.load(std::memory_order_relaxed)),
            slot.connections.load(std::memory_order_relaxed),
            static_cast<unsigned long long>(slot.accept_wakeups.load(std::memory_order_relaxed)),
            static_cast<unsigned long long>(slot.accept_empty.load(std::memory_order_relaxed)),
            static_cast<unsigned long long>(slot.connections_shed.load(std::memory_order_relaxed)),
            static_cast<unsigned long long>(slot.connections_moved.load(std::memory_order_relaxed)),
            static_cast<double>(slot.rss_bytes.load(std::memory_order_relaxed)) / (1 << 20),
            started ? std::to_string(now - started).c_str() : "-");
        out += line;
    }
    const auto sidecars = sidecars_.status();
    if (!sidecars.empty())
        out += "SIDECAR    PID      GEN  STATE     UPTIME(s)  RESTARTS  JOBS      LAST EXIT\n";
    for (const auto& s : sidecars) {
        std::snprintf(line, sizeof line, "%-10s %-8s %-4s %-9s %-10s %-9u %-9llu %s\n",
                      s.name.c_str(), s.pid ? std::to_string(s.pid).c_str() : "-",
                      s.pid ? std::to_string(s.generation).c_str() : "-", s.state.c_str(),
                      s.pid ? std::to_string(static_cast<long>(s.uptime_seconds)).c_str() : "-",
                      s.restarts, static_cast<unsigned long long>(s.jobs_done),
                      s.last_exit.empty() ? "-" : s.last_exit.c_str());
        out += line;
    }
    return out;
}

}  // namespace

int run_master(const config::ServeOptions& options, std::vector<core::ListenSocket>& sockets) {
    Master master(options, sockets);
    return master.run();
}

}  // namespace askr::master
