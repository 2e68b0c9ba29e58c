#pragma once
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

/// Completion handler for co_spawn: logs the exception that ended a coroutine, if any.
void log_coroutine_exception(std::exception_ptr e);

}  // namespace askr::core
