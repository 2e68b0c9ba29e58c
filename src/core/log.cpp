#include "core/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>

namespace askr::core {

void init_logging(spdlog::level::level_enum level) {
    // Unbuffered, lock-protected stderr sink: log lines from the I/O and PHP threads never
    // interleave, and nothing sits in a buffer that a fork() could duplicate.
    auto logger = spdlog::stderr_logger_mt("askr");
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e [%l] %v");
    logger->set_level(level);
    logger->flush_on(spdlog::level::trace);
    spdlog::set_default_logger(std::move(logger));
}

}  // namespace askr::core
