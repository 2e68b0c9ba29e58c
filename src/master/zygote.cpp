#include "master/zygote.hpp"

#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include <spdlog/spdlog.h>

#include "php/engine.hpp"
#include "worker/worker.hpp"

namespace askr::master {

namespace {

void send_message(int fd, const ZygoteMessage& message) {
    while (::send(fd, &message, sizeof message, MSG_NOSIGNAL) < 0 && errno == EINTR) {
    }
}

// A fork asked of the zygote: what the new process becomes.
struct Fork {
    ZygoteMessage::Role role = ZygoteMessage::worker;
    std::uint32_t slot = 0;
    std::int64_t tick = 0;
};

// In the zygote's grandchild: become the master's child.
void adopt_process(const ZygoteSetup& setup) {
    ::close(setup.control_fd);
    // Wait to be adopted by the master (the intermediate child exits at once), then ask
    // for SIGTERM when the master dies: no orphan workers. The death signal is tied to
    // the parent at the time of the call, so it must come after the adoption.
    for (int i = 0; i < 1000 && ::getppid() != setup.master_pid; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != setup.master_pid) ::_exit(3);  // the master is already gone
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

// In a worker: become the master's child, take the slot.
worker::WorkerIdentity adopt_worker(const ZygoteSetup& setup, std::uint32_t slot_index) {
    adopt_process(setup);
    shm::WorkerSlot& slot = setup.scoreboard->slot(slot_index);
    slot.requests.store(0, std::memory_order_relaxed);
    slot.connections.store(0, std::memory_order_relaxed);
    slot.php_outstanding.store(0, std::memory_order_relaxed);
    slot.accept_wakeups.store(0, std::memory_order_relaxed);
    slot.accept_empty.store(0, std::memory_order_relaxed);
    slot.connections_shed.store(0, std::memory_order_relaxed);
    slot.php_average_us.store(0, std::memory_order_relaxed);
    slot.connections_moved.store(0, std::memory_order_relaxed);
    slot.request_started_ms.store(0, std::memory_order_relaxed);
    slot.generation.store(setup.generation, std::memory_order_relaxed);
    slot.started_ms.store(shm::now_ms(), std::memory_order_relaxed);
    slot.ready_ms.store(0, std::memory_order_relaxed);
    slot.pid.store(::getpid(), std::memory_order_relaxed);
    slot.state.store(shm::WorkerState::starting, std::memory_order_release);

    worker::WorkerIdentity identity{&slot, setup.scoreboard, setup.generation,
                                    setup.options->max_requests};
    identity.stop_fd = (*setup.stop_fds)[slot_index].get();
    identity.kick_fd = (*setup.kick_fds)[slot_index].get();
    identity.kick_fds = setup.kick_fds;
    if (setup.handoff) {
        identity.handoff = setup.handoff;
        identity.handoff_receive = (*setup.handoff)[slot_index].receive.get();
        identity.slot_index = static_cast<std::uint32_t>(slot_index);
    }
    identity.tls = setup.tls;
    if (setup.broadcast) {
        setup.broadcast->clear_slot(slot_index);
        identity.broadcast = setup.broadcast;
        identity.slot_index = static_cast<std::uint32_t>(slot_index);
    }
    if (setup.metrics) {
        identity.metrics = &setup.metrics->slot(slot_index);
        identity.supervisor = &setup.metrics->supervisor();
    }
    return identity;
}

[[noreturn]] void exit_worker(const worker::WorkerIdentity& identity, int status) {
    identity.slot->state.store(shm::WorkerState::empty, std::memory_order_release);
    std::fflush(nullptr);
    ::_exit(status);
}

[[noreturn]] void become_worker(const ZygoteSetup& setup, std::uint32_t slot_index) {
    const worker::WorkerIdentity identity = adopt_worker(setup, slot_index);
    int status = 1;
    try {
        status = worker::run_worker(*setup.options, *setup.sockets, identity);
    } catch (const std::exception& e) {
        spdlog::error("worker {}: {}", ::getpid(), e.what());
    }
    exit_worker(identity, status);
}

// A sidecar: runs its script once (the master starts it again when it should) and exits.
[[noreturn]] void become_sidecar(const ZygoteSetup& setup, Fork fork) {
    adopt_process(setup);
    const config::ServeOptions& options = *setup.options;
    php::SidecarScript sidecar;
    sidecar.document_root = options.root;
    sidecar.stop_fd = (*setup.sidecar_stop_fds)[fork.slot].get();
    sidecar.jobs_done = setup.sidecar_jobs ? &setup.sidecar_jobs[fork.slot] : nullptr;
    if (fork.role == ZygoteMessage::scheduler) {
        sidecar.filename = options.scheduler_script;
        sidecar.role = "scheduler";
        sidecar.once_per_cluster = !options.cache_redis.empty();
        sidecar.tick_seconds = options.scheduler_interval.count();
        sidecar.tick = fork.tick;
    } else {
        sidecar.filename = options.queue_script;
        sidecar.role = "queue:" + std::to_string(fork.slot);
    }
    const std::string title = "askr: " + sidecar.role;
    ::prctl(PR_SET_NAME, title.c_str());
    int status = 1;
    try {
        status = php::run_sidecar_script(sidecar);
    } catch (const std::exception& e) {
        spdlog::error("{} {}: {}", sidecar.role, ::getpid(), e.what());
    }
    std::fflush(nullptr);
    ::_exit(status);
}

// Serves the master's fork requests until it closes the socket (the generation is over,
// the zygote exits). Returns only in a forked process, saying what it is to become.
Fork serve_fork_requests(const ZygoteSetup& setup) {
    ZygoteMessage ready{};
    ready.type = ZygoteMessage::ready;
    send_message(setup.control_fd, ready);
    for (;;) {
        ZygoteMessage command{};
        ssize_t n = ::recv(setup.control_fd, &command, sizeof command, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n != static_cast<ssize_t>(sizeof command))
            ::_exit(0);  // master closed: generation over
        if (command.type != ZygoteMessage::spawn) continue;
        const bool sidecar = command.role != ZygoteMessage::worker;
        if (sidecar ? !setup.sidecar_stop_fds || command.slot >= setup.sidecar_stop_fds->size()
                    : command.slot >= setup.scoreboard->size())
            continue;
        std::fflush(nullptr);  // nothing buffered may be written twice
        pid_t intermediate = ::fork();
        if (intermediate == 0) {
            pid_t worker = ::fork();
            if (worker == 0) return {command.role, command.slot, command.tick};
            ZygoteMessage spawned{};
            spawned.type = ZygoteMessage::spawned;
            spawned.role = command.role;
            spawned.slot = command.slot;
            spawned.pid = worker;
            send_message(setup.control_fd, spawned);
            ::_exit(worker > 0 ? 0 : 1);
        }
        if (intermediate > 0) ::waitpid(intermediate, nullptr, 0);
    }
}

// --cow: the zygote runs the worker script itself; askr_cow_ready() lands here. Each
// forked worker returns from serve_forks() into the script with its own I/O thread and
// request queue (created after the fork: threads do not survive it).
class CowForkServer final : public php::ForkServer {
  public:
    explicit CowForkServer(const ZygoteSetup& setup) : setup_(setup) {}

    php::RequestSource* serve_forks() override {
        const Fork fork = serve_fork_requests(setup_);
        if (fork.role != ZygoteMessage::worker) {
            sidecar_ = fork;
            return nullptr;  // the template ends here; the sidecar starts afresh
        }
        identity_ = adopt_worker(setup_, fork.slot);
        try {
            runtime_ =
                std::make_unique<worker::Runtime>(*setup_.options, *setup_.sockets, identity_);
        } catch (const std::exception& e) {
            spdlog::error("worker {}: {}", ::getpid(), e.what());
            exit_worker(identity_, 1);
        }
        return &runtime_->requests();
    }

    /// In a process forked to be a sidecar (the template has ended): what it runs.
    Fork sidecar() const { return sidecar_; }

    void drain() override { runtime_->drain(); }

    /// In a worker: the script has ended; waits for the I/O thread and exits.
    [[noreturn]] void finish(php::TemplateEnd end) {
        runtime_->join();
        runtime_.reset();
        exit_worker(identity_, end == php::TemplateEnd::worker_failed ? 1 : 0);
    }

  private:
    const ZygoteSetup& setup_;
    worker::WorkerIdentity identity_;
    std::unique_ptr<worker::Runtime> runtime_;
    Fork sidecar_;
};

// What PHP sees of the environment: the variables [php] pass_env names, as the server
// has them, then [php] env.
std::vector<std::pair<std::string, std::string>> php_environment(
    const config::ServeOptions& options) {
    std::vector<std::pair<std::string, std::string>> environment;
    for (const auto& name : options.php_pass_env) {
        if (const char* value = std::getenv(name.c_str())) environment.emplace_back(name, value);
    }
    for (const auto& variable : options.php_env) environment.push_back(variable);
    return environment;
}

}  // namespace

// setgid/initgroups/setuid to --user/--group, as php-fpm and nginx workers do: after the
// master bound the sockets and mapped shared memory, before any PHP runs.
void drop_privileges(const config::ServeOptions& options) {
    if (options.user.empty() || ::geteuid() != 0) return;
    const passwd* user = ::getpwnam(options.user.c_str());
    if (!user) throw std::runtime_error("--user " + options.user + ": no such user");
    gid_t gid = user->pw_gid;
    if (!options.group.empty()) {
        const group* g = ::getgrnam(options.group.c_str());
        if (!g) throw std::runtime_error("--group " + options.group + ": no such group");
        gid = g->gr_gid;
    }
    if (::setgid(gid) != 0 || ::initgroups(user->pw_name, gid) != 0 ||
        ::setuid(user->pw_uid) != 0) {
        throw std::runtime_error("cannot switch to user " + options.user + ": " +
                                 std::strerror(errno));
    }
}

void run_zygote(const ZygoteSetup& setup) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::prctl(PR_SET_NAME, "askr: zygote");
    ZygoteMessage reply{};
    try {
        drop_privileges(*setup.options);
        php::EngineOptions engine;
        engine.ini = setup.options->php_ini;
        engine.server_software = "Askr/" ASKR_VERSION;
        engine.frankenphp_compat = setup.options->frankenphp_compat;
        engine.sendfile = !setup.options->sendfile_roots.empty();
        engine.environment = php_environment(*setup.options);
        engine.cache = setup.cache;
        engine.broadcast = setup.broadcast;
        engine.broadcast_redis = setup.broadcast_redis;
        engine.broadcast_max_data = setup.options->broadcast_max_data;
        engine.broadcast_max_channel_length = setup.options->broadcast_max_channel_length;
        php::startup(engine);
    } catch (const std::exception& e) {
        reply.type = ZygoteMessage::failed;
        std::snprintf(reply.text, sizeof reply.text, "%s", e.what());
        send_message(setup.control_fd, reply);
        ::_exit(1);
    }
    if (!setup.options->cow) {
        const Fork fork = serve_fork_requests(setup);
        if (fork.role != ZygoteMessage::worker) become_sidecar(setup, fork);
        become_worker(setup, fork.slot);
    }

    // --cow: boot the app here, fork the workers from inside askr_cow_ready().
    CowForkServer forks(setup);
    const config::ServeOptions& options = *setup.options;
    php::WorkerScript script{options.worker_script, options.root, options.frankenphp_compat,
                             options.paranoid};
    const php::TemplateEnd end = php::run_cow_template(script, forks);
    if (end == php::TemplateEnd::became_sidecar) become_sidecar(setup, forks.sidecar());
    if (end != php::TemplateEnd::boot_failed) forks.finish(end);  // in a forked worker
    reply.type = ZygoteMessage::boot_failed;
    std::snprintf(reply.text, sizeof reply.text,
                  "the worker script %s ended before askr_cow_ready() (see the log)",
                  options.worker_script.c_str());
    send_message(setup.control_fd, reply);
    std::fflush(nullptr);
    ::_exit(1);
}

}  // namespace askr::master
