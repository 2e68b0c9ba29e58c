#pragma once
#include <exception>

#include <spdlog/spdlog.h>

namespace askr::core {

/// Sets up the process-wide logger: timestamped lines on stderr.
void init_logging(spdlog::level::level_enum level = spdlog::level::info);

/// Completion handler for co_spawn: logs the exception that ended a coroutine, if any.
void log_coroutine_exception(std::exception_ptr e);

}  // namespace askr::core
