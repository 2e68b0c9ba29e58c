#include "http/h2/stream.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "http/status.hpp"

namespace askr::http::h2 {

void Stream::set_simple_body(int status) {
    const auto code = std::to_string(status);
    const auto reason = reason_phrase(status);
    body.assign("<!DOCTYPE html><html><head><title>").append(code).append(" ").append(reason);
    body.append("</title></head><body><h1>")
        .append(code)
        .append(" ")
        .append(reason)
        .append("</h1></body></html>\n");
    body_offset = 0;
}

long Stream::read_body(char* out, std::size_t length, bool& eof) {
    eof = false;
    if (kind == Kind::file) {
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(length, file_remaining));
        long got = 0;
        if (file.fd.get() < 0) {
            // From memory: inline_body is the body to send (already the range, if any).
            const auto sent = static_cast<std::size_t>(file_offset - file.offset);
            const auto available =
                file.inline_body.size() > sent ? file.inline_body.size() - sent : 0;
            got = static_cast<long>(std::min<std::size_t>(n, available));
            std::memcpy(out, file.inline_body.data() + sent, static_cast<std::size_t>(got));
        } else {
            do {
                got = ::pread(file.fd.get(), out, n, static_cast<off_t>(file_offset));
            } while (got < 0 && errno == EINTR);
        }
        if (got <= 0 && n > 0)
            return -1;  // the file shrank or cannot be read: the length promised cannot be kept
        file_offset += static_cast<std::uint64_t>(got);
        file_remaining -= static_cast<std::uint64_t>(got);
        if (file_remaining == 0) {
            eof = true;
            file.fd.reset();
            file.file.reset();
        }
        return got;
    }
    const std::size_t n = std::min(length, body.size() - body_offset);
    std::memcpy(out, body.data() + body_offset, n);
    body_offset += n;
    if (body_offset == body.size()) {
        body.clear();
        body_offset = 0;
        eof = kind != Kind::php || php_complete;
    }
    if (kind == Kind::php && n > 0) exchange->written(n);
    return static_cast<long>(n);
}

std::uint64_t Stream::pending_bytes() const {
    if (!sending) return 0;
    if (kind == Kind::file) return file_remaining;
    return body.size() - body_offset;
}

void Stream::append_output(std::string& taken, worker::Exchange& from) {
    if (discard_body || closed) {
        from.written(taken.size());
        taken.clear();
        return;
    }
    if (body_offset == body.size()) {
        body.clear();
        body_offset = 0;
        if (!taken.empty()) last_progress = Clock::now();  // waiting for PHP is no client stall
    }
    if (body.empty()) {
        body.swap(taken);
    } else {
        body.append(taken);
    }
    taken.clear();
}

}  // namespace askr::http::h2
