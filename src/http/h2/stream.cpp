#include "http/h2/stream.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "http/h2/session.hpp"

namespace askr::http::h2 {

namespace asio = boost::asio;

namespace {

// The largest last piece of a body copied rather than waited for: a copy this size costs
// less than the wake-up it saves.
constexpr std::size_t owned_body_limit = 4096;

}  // namespace

Stream::Stream(Session& session, asio::io_context& io)
    : session_(session), request_(std::make_unique<Request>()), sent_signal_(io) {}

void Stream::open(std::int32_t stream_id, const Endpoints& endpoints) {
    id = stream_id;
    authority.clear();
    header_bytes = header_count = body_memory = 0;
    error_status = 0;
    headers_complete = request_complete = dispatched = handler_running = closed = deferred =
        in_flight = false;
    opened = last_received = last_progress = Clock::now();
    if (!request_) request_ = std::make_unique<Request>();
    request_->clear();
    request_->endpoints = endpoints;
    request_->version_major = 2;
    request_->version_minor = 0;
    outcome_ = {};
    head_sent_ = complete_ = no_body_ = waiting_ = false;
    memory_ = {};
    memory_taken_ = 0;
    file_ = {};
    file_body_ = last_ = owned_body_ = false;
}

std::unique_ptr<Request> Stream::release_request() {
    auto fresh = std::make_unique<Request>();
    fresh->endpoints = request_->endpoints;
    return std::exchange(request_, std::move(fresh));
}

int Stream::socket_fd() const {
    return session_.socket_fd();
}

// RST_STREAM (CANCEL): the connection and its other streams go on.
void Stream::cut() {
    if (!closed) session_.reset_stream(*this);
}

asio::awaitable<bool> Stream::interim(int status, const Fields& fields) {
    // 101 belongs to the Upgrade mechanism, which HTTP/2 does not have (RFC 9113 section 8.6).
    if (head_sent_ || closed || status < 100 || status > 199 || status == 101) co_return false;
    co_return session_.submit_interim(*this, status, fields);
}

// The head goes out with the first piece of the body (or alone, ending the stream).
bool Stream::submit_head(const ResponseHead& head, std::size_t first_bytes, bool last) {
    const BodyFraming framing = decide_framing(*request_, head, first_bytes, last);
    no_body_ = !framing.body;
    const bool data_follows = !no_body_ && !(last && first_bytes == 0);
    head_sent_ = true;
    if (!session_.submit_response(*this, head, framing.content_length, data_follows)) return false;
    if (!data_follows) complete_ = true;  // END_STREAM on the HEADERS frame
    return true;
}

asio::awaitable<bool> Stream::submit(const ResponseHead& head, std::size_t first_bytes, bool last) {
    if (!submit_head(head, first_bytes, last)) co_return false;
    if (complete_ || owned_body_) co_return true;
    co_return co_await wait_until_sent();
}

bool Stream::send_now(const ResponseHead& head, std::string_view body) {
    if (closed || head_sent_) return false;
    hold_body(body, true, true);
    file_body_ = false;
    return submit_head(head, body.size(), true);
}

asio::awaitable<bool> Stream::send(const ResponseHead* head, std::string_view body, bool last) {
    if (complete_) co_return no_body_;  // a HEAD or 304 answer's body: dropped, not an error
    if (closed) co_return false;
    if (!head_sent_) {
        if (!head) co_return false;  // a body before its head: a handler's mistake
        hold_body(body, last, false);
        file_body_ = false;
        co_return co_await submit(*head, body.size(), last);
    }
    if (no_body_) co_return true;
    if (body.empty() && !last) co_return true;
    hold_body(body, last, false);
    last_progress = Clock::now();  // waiting for the handler was no stall of the client's
    session_.resume(*this);
    if (owned_body_) co_return true;
    co_return co_await wait_until_sent();
}

void Stream::hold_body(std::string_view body, bool last, bool copy) {
    last_ = last;
    memory_taken_ = 0;
    owned_body_ = copy || (last && body.size() <= owned_body_limit);
    if (owned_body_) {
        owned_.assign(body);
        memory_ = owned_;
    } else {
        memory_ = body;
    }
}

asio::awaitable<bool> Stream::send_file(const ResponseHead* head, FileBody file) {
    if (complete_) co_return no_body_;
    if (closed) co_return false;
    file_ = file;
    file_body_ = true;
    memory_ = {};
    memory_taken_ = 0;
    owned_body_ = false;
    last_ = true;
    if (!head_sent_) {
        if (!head) co_return false;
        co_return co_await submit(*head, static_cast<std::size_t>(file.length), true);
    }
    if (no_body_) co_return true;
    last_progress = Clock::now();
    session_.resume(*this);
    co_return co_await wait_until_sent();
}

// Until the writer has written every byte handed to it (its buffer is then the handler's
// again), or the stream has closed and no write still holds its bytes.
asio::awaitable<bool> Stream::wait_until_sent() {
    for (;;) {
        if (closed && !in_flight) co_return false;
        const bool handed_over = file_body_ ? file_.length == 0 : memory_taken_ == memory_.size();
        if (handed_over && !in_flight && (!last_ || complete_)) {
            memory_ = {};
            memory_taken_ = 0;
            if (file_body_) file_ = {};
            co_return true;
        }
        waiting_ = true;
        sent_signal_.expires_at(asio::steady_timer::time_point::max());
        co_await sent_signal_.async_wait(asio::as_tuple(asio::use_awaitable));
        waiting_ = false;
    }
}

std::size_t Stream::ready_bytes(std::size_t length, bool& eof) const {
    const std::uint64_t available = file_body_ ? file_.length : memory_.size() - memory_taken_;
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(length, available));
    eof = last_ && n == available;
    return n;
}

const char* Stream::take_bytes(std::size_t length, std::string& frames, std::size_t at) {
    if (!file_body_) {
        const char* data = memory_.data() + memory_taken_;
        memory_taken_ += length;
        return data;
    }
    frames.resize(at + length);
    std::size_t got = 0;
    while (got < length) {
        const ssize_t n = ::pread(file_.fd, frames.data() + at + got, length - got,
                                  static_cast<off_t>(file_.offset + got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {  // an error, or the file shrank: the length announced cannot be kept
            frames.resize(at);
            return nullptr;
        }
        got += static_cast<std::size_t>(n);
    }
    file_.offset += length;
    file_.length -= length;
    return nullptr;
}

void Stream::write_completed() {
    in_flight = false;
    if (waiting_) sent_signal_.cancel();
}

void Stream::on_closed() {
    closed = true;
    if (waiting_ && !in_flight) sent_signal_.cancel();
}

std::uint64_t Stream::pending_bytes() const {
    if (!head_sent_ || complete_) return 0;
    return file_body_ ? file_.length : memory_.size() - memory_taken_;
}

}  // namespace askr::http::h2
