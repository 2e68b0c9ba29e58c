#pragma once
#include <chrono>
#include <cstdint>
#include <exception>
#include <string>

#include <spdlog/spdlog.h>

namespace askr::core {

/// Sets up the process-wide logger: timestamped lines on stderr.
void init_logging(spdlog::level::level_enum level = spdlog::level::info);

/// Sends the log to the file `path` (appended, created 0644) instead of stderr
/// (--error-log); throws std::runtime_error when it cannot be opened.
void log_to_file(const std::string& path);

/// Opens the log file again (SIGUSR1 after logrotate renamed it): later lines go to a
/// new file at the same path. Nothing to do when logging to stderr. False (and the old
/// file kept) when it cannot be opened.
bool reopen_log_file();

/// Lets one message a `period` through, for an error that could otherwise repeat on every
/// request (a cache server down): allow() is true at most once a period and then says,
/// through `suppressed`, how many were held back since the last one. One per process and
/// thread that uses it (no locking).
class LogThrottle {
  public:
    explicit LogThrottle(std::chrono::milliseconds period = std::chrono::seconds(1))
        : period_(period) {}
    /// True when this message may be logged; `suppressed` is then the count held back.
    bool allow(std::uint64_t& suppressed);

  private:
    std::chrono::milliseconds period_;
    std::chrono::steady_clock::time_point next_{};
    std::uint64_t held_back_ = 0;
};

/// Completion handler for co_spawn: logs the exception that ended a coroutine, if any.
void log_coroutine_exception(std::exception_ptr e);

}  // namespace askr::core
