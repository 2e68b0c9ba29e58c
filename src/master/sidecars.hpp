#pragma once
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "admin/admin_server.hpp"
#include "config/serve_options.hpp"
#include "core/unique_fd.hpp"
#include "master/process_roles.hpp"
#include "master/zygote.hpp"
#include "shm/region.hpp"

namespace askr::master {

/// The master's sidecars (docs/sidecars.md): [queue] workers long-running processes that
/// run the queue script, started again when they exit (with a growing delay while they
/// keep failing at once), and the scheduler, started once a minute at second 0 when
/// none is running. Each is forked by the current generation's zygote and asked to stop
/// through its own eventfd (askr_sidecar_should_stop() reads it), so that a job under
/// way is never cut short by a signal; past [queue] stop_timeout it is killed.
class Sidecars {
  public:
    using Clock = std::chrono::steady_clock;

    /// Makes one stop eventfd and one job counter per sidecar; call before any zygote is
    /// forked.
    explicit Sidecars(const config::ServeOptions& options);

    /// What every zygote hands to the sidecars it forks.
    const std::vector<core::UniqueFd>& stop_fds() const { return stop_fds_; }
    /// Per sidecar, in shared memory: the jobs its scripts reported done
    /// (askr_sidecar_job_done()), across its restarts. Null without sidecars.
    std::atomic<std::uint64_t>* job_counters() const;

    /// Asks the zygote of `generation` (its control socket `control`) for the sidecars that
    /// are due: queue sidecars not running, the scheduler at the top of a minute.
    void start_due(int control, std::uint32_t generation, Clock::time_point now,
                   std::chrono::system_clock::time_point wall);
    /// The zygote forked a sidecar.
    void on_spawned(const ZygoteMessage& message, std::uint32_t generation);
    /// The zygote of `generation` is gone: forks asked of it will never be named.
    void zygote_gone(std::uint32_t generation);
    /// Forks asked of `generation`'s zygote and not named yet.
    std::size_t spawning_from(std::uint32_t generation) const;
    /// A child exited: true when it was a sidecar (logged, and started again when due).
    bool on_exit(pid_t pid, int status, bool stopping);

    /// Asks every sidecar to stop (shutdown): they finish their job and return.
    void stop_all(bool fast);
    /// After a reload: sidecars of older generations stop and start again from `current`.
    void roll_to(std::uint32_t current);
    /// Kills those that did not stop within [queue] stop_timeout, and tells a scheduler
    /// run past [scheduler] timeout to stop.
    void enforce_timeouts(Clock::time_point now);
    /// Kills every sidecar at once (the shutdown's last resort).
    void kill_all();
    /// True while any sidecar process runs or is being forked.
    bool any_running() const;
    /// True while sidecars are configured (the master then looks every second).
    bool configured() const { return !slots_.empty(); }

    /// For /api/status and `askr status`.
    std::vector<admin::SidecarStatus> status() const;

  private:
    struct Slot {
        ZygoteMessage::Role role = ZygoteMessage::queue;
        std::uint32_t index = 0;
        std::string name;  // "queue:0", "scheduler"
        pid_t pid = -1;
        std::uint32_t generation = 0;
        bool spawning = false;
        std::uint32_t spawning_from = 0;
        bool stopping = false;
        Clock::time_point started{};
        Clock::time_point stop_asked{};
        Clock::time_point next_start{};
        unsigned restarts = 0;
        Backoff backoff{sidecar_role};
        std::string last_exit;  // "" before the first exit
    };

    void ask_stop(Slot& slot, Clock::time_point now);
    Slot* find(pid_t pid);

    const config::ServeOptions& options_;
    std::vector<Slot> slots_;  // the queue sidecars, then the scheduler
    std::vector<core::UniqueFd> stop_fds_;
    std::unique_ptr<shm::Region> jobs_;  // one std::atomic<std::uint64_t> per sidecar
    std::int64_t last_minute_ = -1;      // the minute the scheduler last started for
    bool stopped_ = false;               // shutdown: start nothing more
};

}  // namespace askr::master
