#pragma once
#include <spdlog/spdlog.h>

namespace askr::core {

/// Sets up the process-wide logger: timestamped lines on stderr.
void init_logging(spdlog::level::level_enum level = spdlog::level::info);

}  // namespace askr::core
