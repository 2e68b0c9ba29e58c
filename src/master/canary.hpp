#pragma once
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "config/serve_options.hpp"
#include "shm/metrics.hpp"

namespace askr::master {

/// A reload's canary (--canary, docs/reload.md): the first worker of the new generation is
/// watched for [reload] canary_seconds, once it can serve, before any old worker retires.
/// It passes when it is still alive, served at least one request, and its share of 5xx
/// answers is at most the old generation's over the same seconds plus
/// [reload] canary_error_margin percentage points.
class Canary {
  public:
    using Clock = std::chrono::steady_clock;

    /// A worker, as the canary compares them: its pid and worker-table slot.
    struct Seen {
        pid_t pid = 0;
        std::size_t slot = 0;
    };

    enum class Verdict { watching, passed, failed };

    Canary(const config::ServeOptions& options, const shm::Metrics& metrics)
        : options_(options), metrics_(metrics) {}

    /// A reload starts: with --canary, its roll waits for the verdict.
    void begin() { pending_ = options_.canary; watching_ = false; }
    /// The reload ended (passed, failed or abandoned).
    void end() { pending_ = false; watching_ = false; }
    /// True while the roll must wait (one new worker only, no old one retires).
    bool pending() const { return pending_; }

    /// Looks at the canary, which can serve; `old` are the old generation's workers.
    /// `why` says what failed, or what passed.
    Verdict watch(Seen canary, const std::vector<Seen>& old, Clock::time_point now,
                  std::string& why);

  private:
    struct Counts {
        std::uint64_t answered = 0, errors = 0;
    };
    Counts counts(std::size_t slot) const;

    const config::ServeOptions& options_;
    const shm::Metrics& metrics_;
    bool pending_ = false;
    bool watching_ = false;
    Clock::time_point since_{};
    Seen canary_{};
    Counts canary_start_{};
    std::map<pid_t, std::pair<std::size_t, Counts>> old_start_;  // pid -> slot, counts
};

}  // namespace askr::master
