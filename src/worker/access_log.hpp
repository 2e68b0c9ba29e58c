#pragma once
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

#include "core/unique_fd.hpp"
#include "http/request.hpp"

namespace askr::worker {

/// Access log line formats (--access-log-format).
enum class AccessLogFormat { combined, json };

/// Parses "combined" or "json"; false when the name is unknown.
bool parse_access_log_format(std::string_view name, AccessLogFormat& format);

/// What the access log says about one answered request.
struct AccessRecord {
    int status = 0;
    std::uint64_t body_bytes = 0;  ///< response body bytes sent (nginx's $body_bytes_sent)
    std::uint64_t duration_us = 0;
    const char* kind = "other";  ///< "php", "static", "other"
};

/// One worker's access log (I/O thread only, no lock). Whole lines are buffered and
/// written with one write() on an O_APPEND descriptor, so lines of several workers never
/// interleave; the buffer is written when it passes 16 KiB, by flush() (once a second)
/// and on destruction.
class AccessLog {
  public:
    /// Opens `path` for appending; throws std::runtime_error when it cannot.
    AccessLog(std::string path, AccessLogFormat format);
    ~AccessLog();
    AccessLog(const AccessLog&) = delete;
    AccessLog& operator=(const AccessLog&) = delete;

    /// Appends the line for `request`.
    void record(const http::Request& request, const AccessRecord& record);
    /// Writes what is buffered.
    void flush();
    /// Flushes, then opens the path again (after logrotate renamed the file). On failure
    /// keeps writing to the old file and returns false.
    bool reopen();

  private:
    void refresh_time();
    std::string path_;
    AccessLogFormat format_;
    core::UniqueFd fd_;
    std::string buffer_;
    std::time_t time_second_ = 0;
    std::string time_text_;  // the current second, formatted once per second
};

/// Master (at start and on SIGUSR1): creates `path` if needed and checks that it can be
/// appended to; throws std::runtime_error saying why not. Run as root with --user, hands
/// the file to that user (as nginx does), so that workers can open it again after a
/// rotation.
void prepare_log_file(const std::string& path, const char* option, const std::string& user);

}  // namespace askr::worker
