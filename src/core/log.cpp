#include "core/log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <stdexcept>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace askr::core {

namespace {

constexpr const char* pattern = "%Y-%m-%d %H:%M:%S.%e [%l] %v";

int open_log(const std::string& path) { return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644); }

// --error-log: each line is one write() on an O_APPEND descriptor, unbuffered, so lines of
// the master, the workers and their two threads never interleave and a fork() duplicates
// nothing. Reopening puts the new file on the same descriptor number (dup2), so a line
// being written concurrently goes whole to the old file or whole to the new one.
class FileSink final : public spdlog::sinks::base_sink<std::mutex> {
public:
    explicit FileSink(std::string path) : path_(std::move(path)), fd_(open_log(path_)) {
        if (fd_ < 0) throw std::runtime_error("--error-log " + path_ + ": " + std::strerror(errno));
    }
    ~FileSink() override { ::close(fd_); }

    bool reopen() {
        const int fd = open_log(path_);
        if (fd < 0) return false;
        const bool ok = ::dup3(fd, fd_, O_CLOEXEC) >= 0;
        ::close(fd);
        return ok;
    }

protected:
    void sink_it_(const spdlog::details::log_msg& message) override {
        spdlog::memory_buf_t line;
        formatter_->format(message, line);
        std::size_t done = 0;
        while (done < line.size()) {
            const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return;
            done += static_cast<std::size_t>(n);
        }
    }
    void flush_() override {}

private:
    std::string path_;
    int fd_;
};

std::shared_ptr<FileSink> file_sink;  // set by log_to_file()

}  // namespace

bool LogThrottle::allow(std::uint64_t& suppressed) {
    const auto now = std::chrono::steady_clock::now();
    if (now < next_) {
        ++held_back_;
        return false;
    }
    next_ = now + period_;
    suppressed = held_back_;
    held_back_ = 0;
    return true;
}

void init_logging(spdlog::level::level_enum level) {
    // Unbuffered, lock-protected stderr sink: log lines from the I/O and PHP threads never
    // interleave, and nothing sits in a buffer that a fork() could duplicate.
    auto logger = spdlog::stderr_logger_mt("askr");
    logger->set_pattern(pattern);
    logger->set_level(level);
    logger->flush_on(spdlog::level::trace);
    spdlog::set_default_logger(std::move(logger));
}

void log_to_file(const std::string& path) {
    auto sink = std::make_shared<FileSink>(path);
    auto logger = std::make_shared<spdlog::logger>("askr", sink);
    logger->set_pattern(pattern);
    logger->set_level(spdlog::default_logger()->level());
    logger->flush_on(spdlog::level::trace);
    file_sink = std::move(sink);
    spdlog::set_default_logger(std::move(logger));
}

bool reopen_log_file() { return !file_sink || file_sink->reopen(); }

void log_coroutine_exception(std::exception_ptr e) {
    if (!e) return;
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        spdlog::error("internal error: {}", ex.what());
    }
}

}  // namespace askr::core
