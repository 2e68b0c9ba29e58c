#pragma once
#include <algorithm>
#include <chrono>
#include <string>

namespace askr::master {

/// One kind of process the master supervises, described as data: one table says how each
/// is started and restarted, instead of checks scattered through the master.
struct ProcessRole {
    const char* name;                         ///< "zygote", "worker"
    std::chrono::milliseconds min_uptime;     ///< an exit sooner than this counts as a crash loop
    std::chrono::milliseconds first_backoff;  ///< delay before the first restart of a crash loop
    std::chrono::milliseconds max_backoff;    ///< the delay doubles up to this
};

/// The zygote: PHP's module startup once per generation; forks workers on request. A
/// zygote that dies takes its generation's ability to fork: the master starts a new one.
inline constexpr ProcessRole zygote_role{"zygote", std::chrono::seconds(2),
                                         std::chrono::milliseconds(500), std::chrono::seconds(30)};

/// A worker: serves HTTP with one PHP thread; replaced whenever it exits.
inline constexpr ProcessRole worker_role{"worker", std::chrono::seconds(2),
                                         std::chrono::milliseconds(100), std::chrono::seconds(30)};

/// A sidecar (a queue worker): started again whenever it exits, later and later while it
/// keeps exiting right after start, cleanly or not (a script that returns at once must not
/// be forked in a loop).
inline constexpr ProcessRole sidecar_role{"sidecar", std::chrono::seconds(2),
                                          std::chrono::milliseconds(100), std::chrono::seconds(30)};

/// The broadcast relay ([broadcast] redis): started again whenever it exits; it has no
/// PHP, so an exit is a bug or a kill, and a loop of them waits longer.
inline constexpr ProcessRole relay_role{"broadcast relay", std::chrono::seconds(2),
                                        std::chrono::milliseconds(500), std::chrono::seconds(30)};

/// A process role's restart delay: grows while it keeps dying young (crash loop).
class Backoff {
  public:
    explicit Backoff(const ProcessRole& role) : role_(&role) {}
    /// Records an exit after `uptime`; returns the delay before the next start.
    std::chrono::milliseconds on_exit(std::chrono::steady_clock::duration uptime, bool crashed) {
        if (!crashed || uptime >= role_->min_uptime) {
            streak_ = 0;
            return std::chrono::milliseconds(0);
        }
        ++streak_;
        if (streak_ == 1) return std::chrono::milliseconds(0);  // one early death is not a loop yet
        auto delay = role_->first_backoff * (1 << std::min(streak_ - 2, 16));
        return std::min<std::chrono::milliseconds>(delay, role_->max_backoff);
    }
    int streak() const { return streak_; }

  private:
    const ProcessRole* role_;
    int streak_ = 0;
};

/// How a child ended, from waitpid()'s status: "exit status 1", "killed by signal 9 (SIGKILL)".
std::string describe_exit(int status);

}  // namespace askr::master
