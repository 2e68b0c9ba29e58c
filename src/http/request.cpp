#include "http/request.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace askr::http {

void Request::clear() {
    headers_.clear();
    method.clear();
    target.clear();
    body.clear();
    body_file_.reset();
    body_length_ = 0;
    version_major = 1;
    version_minor = 1;
    keep_alive = true;
    movable = false;
    forwarding_applied = false;
    start_time = 0;
}

namespace {

// An anonymous file in the temporary directory: nothing to clean up, even after a crash.
core::UniqueFd open_spool_file() {
    const char* dir = std::getenv("TMPDIR");
    return core::UniqueFd(::open(dir && *dir ? dir : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
}

bool write_all(int fd, const char* data, std::size_t length) {
    while (length > 0) {
        ssize_t n = ::write(fd, data, length);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data += n;
        length -= static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

bool Request::append_body(const char* data, std::size_t length, std::size_t memory_limit) {
    body_length_ += length;
    if (!body_file_ && body.size() + length <= memory_limit) {
        body.append(data, length);
        return true;
    }
    if (!body_file_) {
        body_file_ = open_spool_file();
        if (!body_file_ || !write_all(body_file_.get(), body.data(), body.size())) return false;
        body.clear();
        body.shrink_to_fit();  // this connection's next requests start small again
    }
    return write_all(body_file_.get(), data, length);
}

std::size_t Request::read_body(std::uint64_t offset, char* out, std::size_t length) const {
    if (offset >= body_length_) return 0;
    length = static_cast<std::size_t>(std::min<std::uint64_t>(length, body_length_ - offset));
    if (!body_file_) {
        std::memcpy(out, body.data() + offset, length);
        return length;
    }
    ssize_t n = ::pread(body_file_.get(), out, length, static_cast<off_t>(offset));
    return n > 0 ? static_cast<std::size_t>(n) : 0;
}

std::string_view Request::header(std::string_view lower_name) const {
    // Names are stored lower-case: an exact comparison, cheaper than Fields::get().
    for (std::size_t i = 0; i < headers_.size(); ++i) {
        if (headers_.name(i) == lower_name) return headers_.value(i);
    }
    return {};
}

std::string_view Request::path() const {
    std::string_view t = target;
    return t.substr(0, t.find('?'));
}

std::string_view Request::query() const {
    std::string_view t = target;
    auto q = t.find('?');
    return q == std::string_view::npos ? std::string_view{} : t.substr(q + 1);
}

std::string_view Request::protocol() const {
    if (version_major == 2) return "HTTP/2.0";
    if (version_major == 1 && version_minor == 0) return "HTTP/1.0";
    return "HTTP/1.1";
}

}  // namespace askr::http
