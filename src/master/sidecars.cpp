#include "master/sidecars.hpp"

#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "master/process_roles.hpp"

namespace askr::master {

namespace {

using std::chrono::milliseconds;

constexpr std::uint32_t jobs_magic = 0x41534a42;  // "ASJB"
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

long long ms_since(Sidecars::Clock::time_point t) {
    return std::chrono::duration_cast<milliseconds>(Sidecars::Clock::now() - t).count();
}

}  // namespace

Sidecars::Sidecars(const config::ServeOptions& options) : options_(options) {
    for (std::uint32_t i = 0; i < options.queue_workers; ++i) {
        Slot slot;
        slot.role = ZygoteMessage::queue;
        slot.index = i;
        slot.name = "queue:" + std::to_string(i);
        slots_.push_back(slot);
    }
    if (!options.scheduler_script.empty()) {
        Slot slot;
        slot.role = ZygoteMessage::scheduler;
        slot.index = static_cast<std::uint32_t>(slots_.size());
        slot.name = "scheduler";
        slots_.push_back(slot);
    }
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        stop_fds_.emplace_back(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
        if (!stop_fds_.back()) throw std::runtime_error("eventfd() failed");
    }
    if (!slots_.empty()) {
        jobs_ = std::make_unique<shm::Region>("the sidecars' job counts", jobs_magic, 1,
                                              slots_.size() * sizeof(std::atomic<std::uint64_t>),
                                              slots_.size());
    }
}

std::atomic<std::uint64_t>* Sidecars::job_counters() const {
    return jobs_ ? reinterpret_cast<std::atomic<std::uint64_t>*>(jobs_->contents()) : nullptr;
}

void Sidecars::start_due(int control, std::uint32_t generation, Clock::time_point now,
                         std::chrono::system_clock::time_point wall) {
    if (stopped_) return;
    const auto interval = options_.scheduler_interval.count();
    const std::int64_t tick =
        std::chrono::duration_cast<std::chrono::seconds>(wall.time_since_epoch()).count() /
        std::max<std::int64_t>(interval, 1);
    for (Slot& slot : slots_) {
        if (slot.role == ZygoteMessage::scheduler) {
            if (last_minute_ < 0) last_minute_ = tick;  // the first run is at the next boundary
            if (tick == last_minute_) continue;
            last_minute_ = tick;
            if (slot.pid > 0 || slot.spawning) {
                spdlog::warn(
                    "scheduler: the run started {} s ago (pid {}) is still going; this run is "
                    "skipped (runs never overlap)",
                    ms_since(slot.started) / 1000, slot.pid);
                continue;
            }
        } else if (slot.pid > 0 || slot.spawning || now < slot.next_start) {
            continue;
        }
        ZygoteMessage command{};
        command.type = ZygoteMessage::spawn;
        command.role = slot.role;
        command.slot = slot.index;
        command.tick = tick;
        if (::send(control, &command, sizeof command, MSG_NOSIGNAL) != sizeof command) continue;
        slot.spawning = true;
        slot.spawning_from = generation;
    }
}

void Sidecars::on_spawned(const ZygoteMessage& message, std::uint32_t generation) {
    if (message.slot >= slots_.size()) return;
    Slot& slot = slots_[message.slot];
    slot.spawning = false;
    if (message.pid <= 0) {
        spdlog::error("{}: fork failed", slot.name);
        slot.next_start = Clock::now() + std::chrono::seconds(1);
        return;
    }
    slot.pid = message.pid;
    slot.generation = generation;
    slot.started = Clock::now();
    slot.stopping = false;
    spdlog::info("{} {} (generation {}) started", slot.name, slot.pid, generation);
    if (stopped_) ask_stop(slot, Clock::now());
}

void Sidecars::zygote_gone(std::uint32_t generation) {
    for (Slot& slot : slots_) {
        if (slot.spawning && slot.spawning_from == generation) slot.spawning = false;
    }
}

std::size_t Sidecars::spawning_from(std::uint32_t generation) const {
    return std::count_if(slots_.begin(), slots_.end(), [generation](const Slot& s) {
        return s.spawning && s.spawning_from == generation;
    });
}

Sidecars::Slot* Sidecars::find(pid_t pid) {
    for (Slot& slot : slots_) {
        if (slot.pid == pid) return &slot;
    }
    return nullptr;
}

bool Sidecars::on_exit(pid_t pid, int status, bool stopping) {
    Slot* found = find(pid);
    if (!found) return false;
    Slot& slot = *found;
    const auto uptime = Clock::now() - slot.started;
    const long long ran_ms = std::chrono::duration_cast<milliseconds>(uptime).count();
    const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    const bool asked = slot.stopping || stopping;
    slot.pid = -1;
    slot.last_exit = describe_exit(status);
    std::uint64_t stale;  // a stop request it never read
    while (::read(stop_fds_[slot.index].get(), &stale, sizeof stale) > 0) {
    }
    if (slot.role == ZygoteMessage::scheduler) {
        ++slot.restarts;
        if (clean) {
            spdlog::info("scheduler {} ended ({}) after {} ms", pid, slot.last_exit, ran_ms);
        } else {
            spdlog::error("scheduler {} ended: {} after {} ms", pid, slot.last_exit, ran_ms);
        }
        return true;
    }
    if (asked) {
        spdlog::info("{} {} stopped: {}", slot.name, pid, slot.last_exit);
        slot.next_start = Clock::now();
        slot.backoff = Backoff(sidecar_role);
        return true;
    }
    ++slot.restarts;
    const milliseconds delay = slot.backoff.on_exit(uptime, true);
    slot.next_start = Clock::now() + delay;
    if (clean && delay.count() == 0) {
        spdlog::info("{} {} ended ({}) after {} ms; starting it again", slot.name, pid,
                     slot.last_exit, ran_ms);
    } else {
        spdlog::error(
            "{} {} ended: {} after {} ms; starting it again in {} ms{}", slot.name, pid,
            slot.last_exit, ran_ms, delay.count(),
            slot.backoff.streak() > 1 ? " (it keeps ending right after start: see the log)" : "");
    }
    return true;
}

void Sidecars::ask_stop(Slot& slot, Clock::time_point now) {
    if (slot.pid <= 0 || slot.stopping) return;
    slot.stopping = true;
    slot.stop_asked = now;
    const std::uint64_t one = 1;
    [[maybe_unused]] auto written = ::write(stop_fds_[slot.index].get(), &one, sizeof one);
}

void Sidecars::stop_all(bool fast) {
    stopped_ = true;
    const auto now = Clock::now();
    for (Slot& slot : slots_) {
        ask_stop(slot, now);
        if (fast && slot.pid > 0) ::kill(slot.pid, SIGTERM);
    }
}

void Sidecars::roll_to(std::uint32_t current) {
    const auto now = Clock::now();
    for (Slot& slot : slots_) {
        if (slot.pid > 0 && slot.generation != current && slot.role == ZygoteMessage::queue)
            ask_stop(slot, now);
    }
}

void Sidecars::enforce_timeouts(Clock::time_point now) {
    for (Slot& slot : slots_) {
        if (slot.pid <= 0) continue;
        if (slot.role == ZygoteMessage::scheduler && !slot.stopping &&
            now - slot.started > options_.scheduler_timeout) {
            spdlog::error(
                "scheduler {}: still running after [scheduler] timeout {} s; asking it "
                "to stop",
                slot.pid, options_.scheduler_timeout.count());
            ask_stop(slot, now);
        }
        if (slot.stopping && now - slot.stop_asked > options_.queue_stop_timeout) {
            spdlog::error("{} {}: did not stop within [queue] stop_timeout {} s; killing it",
                          slot.name, slot.pid, options_.queue_stop_timeout.count());
            ::kill(slot.pid, SIGKILL);
            slot.stop_asked = now;  // once per timeout, not at every look
        }
    }
}

void Sidecars::kill_all() {
    for (const Slot& slot : slots_) {
        if (slot.pid > 0) ::kill(slot.pid, SIGKILL);
    }
}

bool Sidecars::any_running() const {
    return std::any_of(slots_.begin(), slots_.end(),
                       [](const Slot& s) { return s.pid > 0 || s.spawning; });
}

std::vector<admin::SidecarStatus> Sidecars::status() const {
    std::vector<admin::SidecarStatus> list;
    for (const Slot& slot : slots_) {
        admin::SidecarStatus s;
        s.name = slot.name;
        s.restarts = slot.restarts;
        s.last_exit = slot.last_exit;
        s.jobs_done = job_counters()[slot.index].load(std::memory_order_relaxed);
        if (slot.pid > 0) {
            s.pid = slot.pid;
            s.generation = slot.generation;
            s.state = slot.stopping ? "stopping" : "running";
            s.uptime_seconds = static_cast<double>(ms_since(slot.started)) / 1000.0;
        } else {
            s.state = slot.spawning ? "starting" : "waiting";
        }
        list.push_back(s);
    }
    return list;
}

}  // namespace askr::master
