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

void log_coroutine_exception(std::exception_ptr e) {
    if (!e) return;
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        spdlog::error("internal error: {}", ex.what());
    }
}

}  // namespace askr::core
