#include "worker/access_log.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

namespace askr::worker {

namespace {

constexpr std::size_t flush_threshold = 16 * 1024;

int open_append(const std::string& path) {
    return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

void append_number(std::string& out, std::uint64_t value) {
    char digits[24];
    auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
    out.append(digits, end);
}

// nginx's escaping for its text formats: '"', '\' and bytes outside printable ASCII
// become \xHH, so a line can neither be broken nor forged by a client.
void append_escaped(std::string& out, std::string_view text) {
    static constexpr char hex[] = "0123456789ABCDEF";
    for (unsigned char c : text) {
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
            out.append("\\x");
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += static_cast<char>(c);
        }
    }
}

// A JSON string (RFC 8259 section 7). Bytes outside printable ASCII are written as
// \u00XX (read as Latin-1) instead of being checked as UTF-8: each line stays valid JSON
// whatever bytes the client sent.
void append_json_string(std::string& out, std::string_view text) {
    static constexpr char hex[] = "0123456789abcdef";
    out += '"';
    for (unsigned char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20 || c >= 0x7f) {
            out.append("\\u00");
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += static_cast<char>(c);
        }
    }
    out += '"';
}

std::string_view or_dash(std::string_view value) {
    return value.empty() ? std::string_view("-") : value;
}

}  // namespace

bool parse_access_log_format(std::string_view name, AccessLogFormat& format) {
    if (name == "combined") {
        format = AccessLogFormat::combined;
    } else if (name == "json") {
        format = AccessLogFormat::json;
    } else {
        return false;
    }
    return true;
}

void prepare_log_file(const std::string& path, const char* option, const std::string& user) {
    core::UniqueFd fd(open_append(path));
    if (!fd)
        throw std::runtime_error(std::string(option) + " " + path + ": " + std::strerror(errno));
    if (user.empty() || ::geteuid() != 0) return;
    const passwd* account = ::getpwnam(user.c_str());
    if (!account) return;  // the zygote reports an unknown --user
    struct stat st {};
    if (::fstat(fd.get(), &st) == 0 && st.st_uid != account->pw_uid &&
        ::fchown(fd.get(), account->pw_uid, static_cast<gid_t>(-1)) != 0) {
        throw std::runtime_error(std::string(option) + " " + path + ": cannot hand it to --user " +
                                 user + ": " + std::strerror(errno));
    }
}

AccessLog::AccessLog(std::string path, AccessLogFormat format)
    : path_(std::move(path)), format_(format) {
    fd_.reset(open_append(path_));
    if (!fd_) throw std::runtime_error("--access-log " + path_ + ": " + std::strerror(errno));
    buffer_.reserve(flush_threshold + 4096);
}

AccessLog::~AccessLog() {
    flush();
}

void AccessLog::refresh_time() {
    const std::time_t now = std::time(nullptr);
    if (now == time_second_) return;
    time_second_ = now;
    std::tm local{};
    char text[64];
    if (format_ == AccessLogFormat::combined) {
        ::localtime_r(&now, &local);
        time_text_.assign(text, std::strftime(text, sizeof text, "%d/%b/%Y:%H:%M:%S %z", &local));
    } else {
        ::gmtime_r(&now, &local);
        time_text_.assign(text, std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &local));
    }
}

void AccessLog::record(const http::Request& request, const AccessRecord& record) {
    refresh_time();
    std::string& out = buffer_;
    if (format_ == AccessLogFormat::combined) {
        // nginx's "combined": $remote_addr - $remote_user [$time_local] "$request" $status
        // $body_bytes_sent "$http_referer" "$http_user_agent"
        out.append(request.endpoints.remote_addr)
            .append(" - - [")
            .append(time_text_)
            .append("] \"");
        append_escaped(out, request.method);
        out += ' ';
        append_escaped(out, request.target);
        out += ' ';
        out.append(request.protocol()).append("\" ");
        append_number(out, static_cast<std::uint64_t>(record.status));
        out += ' ';
        append_number(out, record.body_bytes);
        out.append(" \"");
        append_escaped(out, or_dash(request.header("referer")));
        out.append("\" \"");
        append_escaped(out, or_dash(request.header("user-agent")));
        out.append("\"\n");
    } else {
        out.append("{\"time\":\"").append(time_text_).append("\",\"remote_addr\":");
        append_json_string(out, request.endpoints.remote_addr);
        out.append(",\"method\":");
        append_json_string(out, request.method);
        out.append(",\"uri\":");
        append_json_string(out, request.target);
        out.append(",\"protocol\":\"").append(request.protocol()).append("\",\"status\":");
        append_number(out, static_cast<std::uint64_t>(record.status));
        out.append(",\"body_bytes\":");
        append_number(out, record.body_bytes);
        out.append(",\"duration_us\":");
        append_number(out, record.duration_us);
        out.append(",\"kind\":\"").append(record.kind).append("\",\"referer\":");
        append_json_string(out, request.header("referer"));
        out.append(",\"user_agent\":");
        append_json_string(out, request.header("user-agent"));
        out.append("}\n");
    }
    if (out.size() >= flush_threshold) flush();
}

void AccessLog::flush() {
    std::size_t done = 0;
    while (done < buffer_.size()) {
        const ssize_t n = ::write(fd_.get(), buffer_.data() + done, buffer_.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;  // disk full: drop the lines rather than block the I/O thread
        done += static_cast<std::size_t>(n);
    }
    buffer_.clear();
}

bool AccessLog::reopen() {
    flush();
    const int fd = open_append(path_);
    if (fd < 0) return false;
    fd_.reset(fd);
    return true;
}

}  // namespace askr::worker
