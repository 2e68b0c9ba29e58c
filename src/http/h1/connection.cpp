// One HTTP/1.1 connection: reads requests (keep-alive, pipelining), hands each to the
// handler chain, and is the chain's ResponseSink: it frames what the chain sends with
// Content-Length, chunked coding or the close (RFC 9112 section 6). Lives on the I/O thread.
#include "http/h1/connection.hpp"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <array>
#include <cstddef>
#include <charconv>
#include <cstring>
#include <memory>
#include <type_traits>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "core/clock.hpp"
#include "core/log.hpp"
#include "http/connection.hpp"
#include "http/forwarded.hpp"
#include "http/h1/parser.hpp"
#include "http/h2/connection.hpp"
#include "http/proxy_protocol.hpp"
#include "http/send_rate.hpp"
#include "http/status.hpp"

namespace askr::http::h1 {

namespace asio = boost::asio;
using asio::as_tuple;
using asio::use_awaitable;
using tcp = asio::ip::tcp;
using TlsStream = asio::ssl::stream<tcp::socket>;

namespace {

constexpr std::size_t tls_file_chunk =
    64 * 1024;  // static files over TLS: pread this much per write

void append_number(std::string& out, std::uint64_t value) {
    char buffer[24];
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
    (void)ec;
    out.append(buffer, end);
}

// The text of an IPv4 or IPv6 socket address and its port.
void describe(const sockaddr_storage& address, std::string& text, std::uint16_t& port) {
    char buffer[INET6_ADDRSTRLEN];
    if (address.ss_family == AF_INET6) {
        const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
        text = ::inet_ntop(AF_INET6, &v6.sin6_addr, buffer, sizeof buffer);
        port = ntohs(v6.sin6_port);
    } else {
        const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
        text = ::inet_ntop(AF_INET, &v4.sin_addr, buffer, sizeof buffer);
        port = ntohs(v4.sin_port);
    }
}

// The connection's two ends. A unix socket's peer has no address: REMOTE_ADDR is
// "unix:" (as nginx says) and SERVER_ADDR the socket's path; ports are 0. False when the
// peer is already gone.
bool read_endpoints(int fd, Endpoints& endpoints) {
    sockaddr_storage local{};
    socklen_t length = sizeof local;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) != 0) return false;
    if (local.ss_family == AF_UNIX) {
        const auto& path = reinterpret_cast<const sockaddr_un&>(local);
        const auto size = length > offsetof(sockaddr_un, sun_path) ? length - offsetof(sockaddr_un, sun_path) : 0;
        endpoints.unix_socket = true;
        endpoints.remote_addr = "unix:";
        endpoints.local_addr = "unix:" + std::string(path.sun_path, ::strnlen(path.sun_path, size));
        return true;
    }
    sockaddr_storage remote{};
    length = sizeof remote;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&remote), &length) != 0) return false;
    describe(remote, endpoints.remote_addr, endpoints.remote_port);
    describe(local, endpoints.local_addr, endpoints.local_port);
    return true;
}

// A browser pointed at http:// on the TLS port (OpenSSL recognises the request line in
// place of a ClientHello): tell the user in clear text, as nginx does, instead of a
// connection that just closes.
constexpr std::string_view plain_http_on_tls_port =
    "HTTP/1.1 400 Bad Request\r\nServer: Askr\r\nContent-Type: text/plain\r\nContent-Length: 52\r\n"
    "Connection: close\r\n\r\nThis port speaks HTTPS: use https:// in the address.\n";

// A connection refused on a PROXY-protocol listener. Logged at info at most once every
// 10 s, with how many were refused in between (a balancer that sends no header, or a
// scan, would otherwise write a line per connection), at debug otherwise.
void log_proxy_refusal(const std::string& peer, std::string_view reason) {
    thread_local std::chrono::steady_clock::time_point last_logged;
    thread_local unsigned unlogged = 0;
    const auto now = std::chrono::steady_clock::now();
    if (last_logged.time_since_epoch().count() != 0 &&
        now - last_logged < std::chrono::seconds(10)) {
        ++unlogged;
        spdlog::debug("{}: closed: PROXY protocol: {}", peer, reason);
        return;
    }
    if (unlogged > 0) {
        spdlog::info(
            "{}: closed: PROXY protocol: {} ({} more connection(s) refused in the last 10 s)", peer,
            reason, unlogged);
    } else {
        spdlog::info("{}: closed: PROXY protocol: {}", peer, reason);
    }
    last_logged = now;
    unlogged = 0;
}

// How the body of the response being sent is delimited on the wire.
enum class Wire { none, length, chunked, until_close };

// The protocol-independent part of a connection: state, parsing, the response head.
class Connection : public http::Connection, public ResponseSink {
  public:
    bool idle() const { return idle_; }
    // When idle, closes within a second (draining): a request that arrives before that
    // is still answered, with Connection: close, so keep-alive clients move on cleanly.
    void expire_if_idle() override {
        if (idle_) deadline_ = std::min(deadline_, Clock::now() + std::chrono::seconds(1));
    }

    // While a write waits on the client: the write stall timeout and the minimum send
    // rate, checked once a second. Otherwise the deadline in force passed.
    void on_deadline() override {
        if (sending_) {
            const auto now = Clock::now();
            if (now - last_sent_ > context_.timeouts.write) {
                spdlog::debug("{}: closed: the client took nothing for {} s",
                              request_->endpoints.remote_addr, context_.timeouts.write.count());
            } else if (send_rate_.too_slow(now, sent_, context_.timeouts.min_send_rate)) {
                spdlog::info(
                    "{}: closed: the client took the response at less than {} bytes/s "
                    "over {} s (min_send_rate)",
                    request_->endpoints.remote_addr, context_.timeouts.min_send_rate,
                    SendRate::window.count());
            } else {
                deadline_ = now + std::chrono::seconds(1);
                return;
            }
            reset_on_close(socket_fd_);
        }
        abort();
    }

    RequestOutcome& outcome() override { return outcome_; }
    bool head_sent() const override { return head_sent_; }
    int socket_fd() const override { return socket_fd_; }

    std::unique_ptr<Request> release_request() override {
        auto fresh = std::make_unique<Request>();
        fresh->endpoints = request_->endpoints;
        return std::exchange(request_, std::move(fresh));
    }

  protected:
    Connection(Context& context, int socket_fd, const Service& service)
        : http::Connection(context),
          service_(service),
          parser_(context.limits),
          request_(std::make_unique<Request>()),
          in_(new char[read_buffer_size]),
          socket_fd_(socket_fd) {}

    // A response begins: nothing of it is on the wire yet.
    void begin_response() {
        head_sent_ = complete_ = recorded_ = false;
        wire_ = Wire::none;
        remaining_ = 0;
        keep_alive_ = request_->keep_alive && !context_.draining;
    }

    // The head of the response in out_, and how its body goes (wire_, remaining_).
    void append_head(const ResponseHead& head, std::size_t first_bytes, bool last) {
        const BodyFraming framing = decide_framing(*request_, head, first_bytes, last);
        if (head.close) keep_alive_ = false;
        // A drain may have begun while PHP ran: this response must then announce the close,
        // or the client sends its next request into a connection about to be closed.
        if (context_.draining) keep_alive_ = false;
        if (!framing.body) {
            wire_ = Wire::none;
        } else if (framing.content_length) {
            wire_ = Wire::length;
            remaining_ = *framing.content_length;
        } else if (request_->version_minor == 0) {
            wire_ = Wire::until_close;  // HTTP/1.0 has no chunked coding
            keep_alive_ = false;
        } else {
            wire_ = Wire::chunked;
        }
        outcome_.status = head.status;
        const std::size_t head_start = out_.size();
        out_.append("HTTP/1.1 ");
        append_number(out_, static_cast<std::uint64_t>(head.status));
        out_ += ' ';
        out_.append(reason_phrase(head.status))
            .append("\r\nServer: Askr\r\nDate: ")
            .append(http_date_now());
        out_.append("\r\n");
        for (std::size_t i = 0; i < head.fields.size(); ++i) {
            if (is_protocol_owned(head.fields.name(i))) continue;
            out_.append(head.fields.name(i))
                .append(": ")
                .append(head.fields.value(i))
                .append("\r\n");
        }
        if (framing.content_length) {
            out_.append("Content-Length: ");
            append_number(out_, *framing.content_length);
            out_.append("\r\n");
        } else if (wire_ == Wire::chunked) {
            out_.append("Transfer-Encoding: chunked\r\n");
        }
        if (!keep_alive_) {
            out_.append("Connection: close\r\n");
        } else if (request_->version_minor == 0) {
            out_.append("Connection: keep-alive\r\n");  // HTTP/1.0 keep-alive must be confirmed
        }
        out_.append("\r\n");
        outcome_.head_bytes = out_.size() - head_start;
        head_sent_ = true;
    }

    // The pieces that carry `body` on the wire after the head (wire_): the chunk line and
    // end in chunked coding; `body` itself is cut to what was announced.
    struct BodyPieces {
        std::string_view chunk_start, body, chunk_end;
        char chunk_line[24];
    };
    void frame_body(std::string_view body, bool last, BodyPieces& out) {
        out.body = body;
        switch (wire_) {
            case Wire::none:
                out.body = {};
                break;
            case Wire::length:
                // Never more than announced: the excess would be read as the next response.
                if (body.size() > remaining_)
                    out.body = body.substr(0, static_cast<std::size_t>(remaining_));
                remaining_ -= out.body.size();
                break;
            case Wire::chunked:
                if (!body.empty()) {
                    auto end =
                        std::to_chars(out.chunk_line, out.chunk_line + 20, body.size(), 16).ptr;
                    *end++ = '\r';
                    *end++ = '\n';
                    out.chunk_start = {out.chunk_line,
                                       static_cast<std::size_t>(end - out.chunk_line)};
                    out.chunk_end = last ? "\r\n0\r\n\r\n" : "\r\n";
                } else if (last) {
                    out.chunk_end = "0\r\n\r\n";  // RFC 9112 section 7.1: the last chunk
                }
                break;
            case Wire::until_close:
                break;
        }
    }

  public:
    // The whole response into out_, written by answer() once the handler has returned.
    bool send_now(const ResponseHead& head, std::string_view body) override {
        if (complete_ || head_sent_) return false;
        out_.clear();
        append_head(head, body.size(), true);
        BodyPieces pieces;
        frame_body(body, true, pieces);
        out_.append(pieces.chunk_start).append(pieces.body).append(pieces.chunk_end);
        unwritten_ = true;
        return true;
    }

  protected:
    // A write to the client begins / ends. Between writes of a response the handler is
    // working (PHP may take its time: --request-timeout bounds that, not the client's
    // timeouts), so no deadline is in force until the next read sets one.
    void begin_sending() {
        const auto now = Clock::now();
        sending_ = true;
        last_sent_ = now;
        send_rate_.update(now, true, sent_);
        deadline_ = now + std::chrono::seconds(1);
    }
    void took(std::size_t bytes) {
        if (bytes == 0) return;
        sent_ += bytes;
        last_sent_ = Clock::now();
    }
    void end_sending() {
        sending_ = false;
        send_rate_.update(Clock::now(), false, sent_);
        deadline_ = Clock::time_point::max();
    }

    // Metrics and access log: a whole request was read / answered (once per request).
    void request_read() {
        if (!context_.observer) return;
        if (context_.observer->timing()) outcome_.began = std::chrono::steady_clock::now();
        context_.observer->request_started();
    }
    void request_done() {
        if (recorded_) return;
        recorded_ = true;
        if (context_.observer) context_.observer->request_finished(*request_, outcome_);
        outcome_ = {};
    }

    const Service service_;
    Parser parser_;
    std::unique_ptr<Request> request_;  // the request being read or answered
    RequestOutcome outcome_;
    std::string out_;             // response head (and framing) being written
    std::string held_;  // what the socket did not take of a try_send(): send() writes it first
    std::unique_ptr<char[]> in_;  // read buffer
    std::size_t in_begin_ = 0, in_end_ = 0;
    // Where the request being read starts in in_, while all of it is still there (the
    // connection can then be moved to another worker with it, worker/handoff.hpp).
    std::size_t request_begin_ = 0;
    bool request_whole_ = true;
    const int socket_fd_;
    Wire wire_ = Wire::none;
    std::uint64_t remaining_ = 0;  // Wire::length: body bytes still to send
    bool head_sent_ = false;
    bool complete_ = false;  // the response's last byte has been written
    bool recorded_ = false;  // request_done() ran for this request
    bool keep_alive_ = true;
    bool idle_ = true;
    bool aborted_ = false;
    bool unwritten_ = false;  // send_now() left the whole response in out_
    bool sending_ = false;    // a write waits on the client
    std::uint64_t sent_ = 0;  // bytes the client has taken on this connection
    Clock::time_point last_sent_;
    SendRate send_rate_;
};

// One HTTP/1.1 connection over `Stream`: tcp::socket (plain) or asio::ssl::stream (TLS).
// Everything specific to TLS is behind `if constexpr (tls)`: the plain instantiation pays
// nothing for TLS (sendfile, no extra branch).
template <class Stream>
class StreamConnection final : public Connection {
  public:
    static constexpr bool tls = std::is_same_v<Stream, TlsStream>;

    template <class... StreamArgs>
    StreamConnection(Context& context, int socket_fd, const Service& service,
                     StreamArgs&&... stream_args)
        : Connection(context, socket_fd, service),
          stream_(std::forward<StreamArgs>(stream_args)...) {}

    /// Serves the connection until it closes; owns it.
    static asio::awaitable<void> serve(std::unique_ptr<StreamConnection> self);

    /// The bytes a peer worker read before moving this connection here: read first.
    void take_moved_bytes(std::string_view bytes) {
        if (bytes.empty()) return;
        std::memcpy(in_.get(), bytes.data(), bytes.size());
        in_end_ = bytes.size();
    }

    // The kernel's copy of what the client did not take is dropped too (a reset).
    void cut() override {
        reset_on_close(socket_fd_);
        abort();
    }

    void abort() override {
        aborted_ = true;
        boost::system::error_code ignored;
        socket().shutdown(asio::socket_base::shutdown_both, ignored);
        socket().cancel(ignored);
    }

    asio::awaitable<bool> interim(int status, const Fields& fields) override;
    asio::awaitable<bool> send(const ResponseHead* head, std::string_view body, bool last) override;
    asio::awaitable<bool> send_file(const ResponseHead* head, FileBody file) override;
    TrySend try_send(std::string_view body) override;

  private:
    tcp::socket& socket() {
        if constexpr (tls) {
            return stream_.next_layer();
        } else {
            return stream_;
        }
    }

    asio::awaitable<bool> read_proxy_header();
    asio::awaitable<bool> handshake();
    asio::awaitable<bool> detect_h2_preface();
    bool alpn_chose_h2();
    bool movable() const { return !tls && service_.movable && request_whole_; }
    bool move_to(int peer);
    bool move_to_idle_worker();
    asio::awaitable<bool> read_request();
    asio::awaitable<bool> answer();
    asio::awaitable<bool> refuse(int status);
    /// Writes the pieces in one gather write; false when the client is gone or too slow.
    asio::awaitable<bool> write(std::string_view a, std::string_view b = {},
                                std::string_view c = {}, std::string_view d = {});
    asio::awaitable<bool> write_file(FileBody file);
    void response_written(bool ok, bool last);
    asio::awaitable<void> close_after_error();

    Stream stream_;
    std::unique_ptr<char[]> file_chunk_;  // TLS only: the piece of a file being written
};

}  // namespace

bool start_connection(Context& context, tcp::socket socket, const Service& service,
                      std::string_view moved_in) {
    if (!moved_in.empty()) {  // counted where it was accepted
        if (service.tls || moved_in.size() > read_buffer_size) return false;
    } else if (context.observer) {
        context.observer->connection_accepted();
    }
    const int fd = socket.native_handle();
    if (service.tls) {
        SSL* ssl = context.tls ? SSL_new(context.tls) : nullptr;
        if (!ssl) {
            spdlog::error("TLS: cannot start a session (SSL_new: {})",
                          ERR_reason_error_string(ERR_get_error()));
            return false;  // the socket closes
        }
        // The stream owns `ssl` from here (asio's engine frees it).
        auto connection = std::make_unique<StreamConnection<TlsStream>>(context, fd, service,
                                                                        std::move(socket), ssl);
        asio::co_spawn(context.io, StreamConnection<TlsStream>::serve(std::move(connection)),
                       core::log_coroutine_exception);
        return true;
    }
    auto connection =
        std::make_unique<StreamConnection<tcp::socket>>(context, fd, service, std::move(socket));
    connection->take_moved_bytes(moved_in);
    asio::co_spawn(context.io, StreamConnection<tcp::socket>::serve(std::move(connection)),
                   core::log_coroutine_exception);
    return true;
}

namespace {

template <class Stream>
asio::awaitable<void> StreamConnection<Stream>::serve(std::unique_ptr<StreamConnection> self) {
    boost::system::error_code ec;
    self->socket().set_option(asio::ip::tcp::no_delay(true), ec);
    self->socket().native_non_blocking(true, ec);
    auto& endpoints = self->request_->endpoints;
    if (!read_endpoints(self->socket().native_handle(), endpoints)) co_return;  // the peer is gone
    if (self->service_.proxy_protocol && !co_await self->read_proxy_header()) co_return;
    if constexpr (tls) {
        endpoints.tls = true;  // HTTPS=on, REQUEST_SCHEME=https
        if (!co_await self->handshake()) co_return;
        // Handing over to HTTP/2: the h2 connection registers in Context::connections
        // before this one unregisters (when serve() returns), so a drain never sees the
        // count at 0 in between; it is one client connection changing hands, not a close.
        if (self->alpn_chose_h2()) {
            self->handed_over = true;
            h2::start_connection(self->context_, std::move(self->stream_), endpoints,
                                 *self->service_.handler);
            co_return;
        }
    } else {
        if (co_await self->detect_h2_preface()) {
            self->handed_over = true;
            h2::start_connection(self->context_, std::move(self->stream_), endpoints,
                                 *self->service_.handler, {self->in_.get(), self->in_end_});
            co_return;
        }
    }

    while (co_await self->read_request()) {
        if constexpr (!tls) {
            if (self->move_to_idle_worker()) co_return;
        }
        self->request_read();
        if (self->context_.events)
            self->context_.events->request_started();  // may start a drain (--max-requests)
        // Only what the response announced decides: a drain that began while it was
        // written is honoured on the next request (answered with Connection: close).
        if (!co_await self->answer()) break;
    }
    if constexpr (tls) {
        // Say close_notify (RFC 8446 section 6.1), so that a response delimited by the close
        // cannot be mistaken for a truncated one. Bounded: the peer may never answer.
        if (!self->aborted_) {
            self->idle_ = true;
            self->deadline_ = Clock::now() + std::chrono::seconds(2);
            co_await self->stream_.async_shutdown(as_tuple(use_awaitable));
        }
    }
}

// Hands the request to the chain. False: close the connection (after this response, or
// because the connection went to another worker with its request).
template <class Stream>
asio::awaitable<bool> StreamConnection<Stream>::answer() {
    begin_response();
    request_->movable = movable();
    deadline_ = Clock::time_point::max();  // the request is whole: the client waits now
    HandlerResult result = co_await service_.handler->handle(*request_, *this);
    while (result.move_to >= 0) {
        // An idle worker asked for a waiting request and this one was taken back before
        // PHP started it (worker/handoff.hpp): the connection moves there with it, or,
        // if that fails, the chain takes it again here.
        if (move_to(result.move_to)) {
            if (context_.events) context_.events->request_moved_away();
            if (context_.observer) context_.observer->request_moved();
            outcome_ = {};
            co_return false;
        }
        begin_response();
        result = co_await service_.handler->handle(*request_, *this);
    }
    if (unwritten_) {  // the whole response, from send_now()
        unwritten_ = false;
        response_written(co_await write(out_), true);
    }
    // A handler that ended without completing its response (the client went away, or it
    // failed half-way) leaves nothing the client could tell from a whole response.
    if (!complete_) keep_alive_ = false;
    request_done();
    co_return keep_alive_;
}

// The PROXY protocol header (http/proxy_protocol.hpp), before anything else: its addresses
// replace the socket's in Endpoints, so that everything after it (the trusted-proxy stage,
// PHP's REMOTE_ADDR and SERVER_ADDR, the access log) sees the balancer's client as the
// peer. Read without taking a byte past the header, so that TLS and HTTP find the stream
// as the client sent it: each read peeks, and takes only bytes the parser says belong to
// the header (all of them while it needs more, exactly the rest once it is whole).
// Bounded by the header timeout from the connection's start. False: the connection is
// closed without a word (the peer is not a balancer speaking the protocol).
template <class Stream>
asio::awaitable<bool> StreamConnection<Stream>::read_proxy_header() {
    auto& endpoints = request_->endpoints;
    if (service_.proxy_peers && !service_.proxy_peers->empty()) {
        // With trusted proxies named, only they may say where a connection comes from.
        if (!is_trusted_peer(endpoints, *service_.proxy_peers)) {
            log_proxy_refusal(endpoints.remote_addr,
                              "the peer is not a trusted proxy (--trusted-proxy)");
            co_return false;
        }
    }
    set_deadline(context_.timeouts.header);
    char* const buffer = in_.get();
    static_assert(proxy_header_max_length <= read_buffer_size);
    std::size_t taken = 0;  // header bytes already taken off the socket, at buffer[0..taken)
    for (;;) {
        const ssize_t peeked = ::recv(socket_fd_, buffer + taken, proxy_header_max_length - taken,
                                      MSG_PEEK | MSG_DONTWAIT);
        if (peeked < 0 && errno == EINTR) continue;
        if (peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            auto [ec] =
                co_await socket().async_wait(tcp::socket::wait_read, as_tuple(use_awaitable));
            if (ec) {
                log_proxy_refusal(endpoints.remote_addr,
                                  aborted_ ? "no header within the header timeout" : ec.message());
                co_return false;
            }
            continue;
        }
        if (peeked <= 0) {
            log_proxy_refusal(endpoints.remote_addr, peeked == 0
                                                         ? "the peer closed before a whole header"
                                                         : std::strerror(errno));
            co_return false;
        }
        const std::size_t seen = taken + static_cast<std::size_t>(peeked);
        const ProxyHeader header = parse_proxy_header({buffer, seen});
        if (header.status == ProxyHeader::Status::error) {
            log_proxy_refusal(endpoints.remote_addr, header.error);
            co_return false;
        }
        const std::size_t take =
            (header.status == ProxyHeader::Status::complete ? header.length : seen) - taken;
        const ssize_t got = ::recv(socket_fd_, buffer + taken, take, MSG_DONTWAIT);
        if (got != static_cast<ssize_t>(take)) {  // the kernel holds what was peeked
            log_proxy_refusal(endpoints.remote_addr, "the header could not be read");
            co_return false;
        }
        taken += take;
        outcome_.bytes_in += take;
        if (header.status != ProxyHeader::Status::complete) continue;
        if (header.addresses) {
            endpoints.unix_socket = false;  // the client has an address now
            endpoints.remote_addr = header.addresses->source.text();
            endpoints.remote_port = header.addresses->source_port;
            endpoints.local_addr = header.addresses->destination.text();
            endpoints.local_port = header.addresses->destination_port;
        }
        co_return true;
    }
}

// The TLS handshake, bounded by the handshake timeout through the connection's deadline
// (the worker's once-a-second sweep closes it): a client that connects and sends nothing,
// or stalls half-way, holds a connection for that long at most.
template <class Stream>
asio::awaitable<bool> StreamConnection<Stream>::handshake() {
    if constexpr (tls) {
        set_deadline(context_.timeouts.tls_handshake);
        auto [ec] = co_await stream_.async_handshake(asio::ssl::stream_base::server,
                                                     as_tuple(use_awaitable));
        if (!ec) co_return true;
        if (aborted_) {
            spdlog::debug("{}: TLS handshake timed out", request_->endpoints.remote_addr);
        } else {
            spdlog::debug("{}: TLS handshake failed: {}", request_->endpoints.remote_addr,
                          ec.message());
            if (ec.category() == asio::error::get_ssl_category() &&
                ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_HTTP_REQUEST) {
                set_deadline(context_.timeouts.write);
                auto [write_ec, n] = co_await asio::async_write(
                    socket(), asio::buffer(plain_http_on_tls_port), as_tuple(use_awaitable));
                if (!write_ec) co_await close_after_error();
            }
        }
        co_return false;
    } else {
        co_return true;
    }
}

template <class Stream>
bool StreamConnection<Stream>::alpn_chose_h2() {
    if constexpr (tls) {
        const unsigned char* protocol = nullptr;
        unsigned int length = 0;
        SSL_get0_alpn_selected(stream_.native_handle(), &protocol, &length);
        return std::string_view(reinterpret_cast<const char*>(protocol), protocol ? length : 0) ==
               h2::alpn_id;
    } else {
        return false;
    }
}

// Clear-text HTTP/2 with prior knowledge (RFC 9113 section 3.3): the client starts with
// the connection preface instead of a request line. Reads until the first bytes either
// differ from the preface (HTTP/1: the bytes stay in in_ for the parser; a request line
// differs at its first byte, so this costs no extra read) or hold all of it.
template <class Stream>
asio::awaitable<bool> StreamConnection<Stream>::detect_h2_preface() {
    idle_ = in_end_ == 0;  // a moved connection arrives with its request (worker/handoff.hpp)
    set_deadline(!idle_              ? context_.timeouts.header
                 : context_.draining ? std::chrono::seconds(1)
                                     : context_.timeouts.keepalive);
    for (;;) {
        if (in_end_ > 0 && !h2::may_be_preface({in_.get(), in_end_})) co_return false;
        if (in_end_ >= h2::client_preface.size()) co_return true;
        auto [ec, n] = co_await stream_.async_read_some(
            asio::buffer(in_.get() + in_end_, read_buffer_size - in_end_), as_tuple(use_awaitable));
        if (ec || n == 0) co_return false;  // read_request() sees the same end
        in_end_ += n;
        outcome_.bytes_in += n;  // HTTP/1 bytes after all, most of the time
        if (idle_) {
            idle_ = false;
            set_deadline(context_.timeouts.header);
        }
    }
}

// A request that would wait behind others on this worker while another worker's PHP is
// idle: the connection moves there with the bytes of this request and any after it
// (worker/handoff.hpp). Only between requests of a clear-text HTTP/1.1 connection whose
// request is whole in the read buffer; the check costs nothing while PHP here is free.
template <class Stream>
bool StreamConnection<Stream>::move_to_idle_worker() {
    if (!movable() || !context_.events) return false;
    const int peer = context_.events->move_target(*request_);
    return peer >= 0 && move_to(peer);
}

// Hands the socket to `peer` with the bytes of this request and any after it.
template <class Stream>
bool StreamConnection<Stream>::move_to(int peer) {
    return context_.events &&
           context_.events->move_connection(peer, socket().native_handle(),
                                            {in_.get() + request_begin_, in_end_ - request_begin_});
}

// Reads until one whole request is in request_. False: close the connection (peer
// closed, timeout, or an error that has been answered).
template <class Stream>
asio::awaitable<bool> StreamConnection<Stream>::read_request() {
    parser_.start(*request_);
    if (in_begin_ == in_end_) in_begin_ = in_end_ = 0;
    request_begin_ = in_begin_;
    request_whole_ = true;
    idle_ = in_begin_ == in_end_;
    set_deadline(!idle_              ? context_.timeouts.header
                 : context_.draining ? std::chrono::seconds(1)  // see expire_if_idle()
                                     : context_.timeouts.keepalive);
    bool headers_seen = false;
    for (;;) {
        if (in_begin_ < in_end_) {
            if (idle_) {
                idle_ = false;
                set_deadline(context_.timeouts.header);  // slowloris: not extended by trickling
            }
            auto result = parser_.feed(in_.get() + in_begin_, in_end_ - in_begin_);
            in_begin_ += result.consumed;
            switch (result.status) {
                case Parser::Status::complete:
                    request_->start_time = core::unix_time_now();
                    co_return true;
                case Parser::Status::error:
                    spdlog::debug("{}: bad request: {}", request_->endpoints.remote_addr,
                                  parser_.error_reason());
                    co_await refuse(parser_.error_status());
                    co_return false;
                case Parser::Status::expect_continue: {
                    // RFC 9110 section 10.1.1: invite the body only if the request will not
                    // be refused anyway; otherwise answer now, and close (the client may
                    // send the body regardless).
                    const int refused = service_.handler->refuse_before_body(*request_);
                    if (refused != 0) {
                        co_await refuse(refused);
                        co_return false;
                    }
                    if (!co_await write("HTTP/1.1 100 Continue\r\n\r\n")) co_return false;
                    set_deadline(context_.timeouts.body);
                    request_whole_ = false;  // moved, it would be asked for its body twice
                    parser_.continue_after_expect();
                    continue;
                }
                case Parser::Status::need_more:
                    break;
            }
            if (parser_.headers_complete() && !headers_seen) headers_seen = true;
            if (headers_seen) set_deadline(context_.timeouts.body);  // a stall, not the total
        }
        // The parser consumes everything it is given: only this request's bytes are kept
        // (for a move), from its first byte, as long as they leave room to read into.
        if (in_end_ == read_buffer_size) {
            const std::size_t from =
                request_whole_ && request_begin_ > 0 ? request_begin_ : in_begin_;
            if (from > request_begin_) request_whole_ = false;
            std::memmove(in_.get(), in_.get() + from, in_end_ - from);
            in_end_ -= from;
            in_begin_ -= from;
            request_begin_ = request_whole_ ? request_begin_ - from : 0;
        }
        auto [ec, n] = co_await stream_.async_read_some(
            asio::buffer(in_.get() + in_end_, read_buffer_size - in_end_), as_tuple(use_awaitable));
        if (ec || n == 0) {
            if (!idle_ && !aborted_ && ec == asio::error::eof) {
                auto result = parser_.finish();
                if (result.status == Parser::Status::complete) {
                    request_->keep_alive = false;
                    request_->start_time = core::unix_time_now();
                    co_return true;
                }
            }
            if (aborted_ && !idle_ && !context_.draining) {
                // Timed out in the middle of a request (RFC 9110 section 15.5.9).
                aborted_ = false;
                co_await refuse(408);
                co_return false;
            }
            co_return false;
        }
        in_end_ += n;
        outcome_.bytes_in += n;
    }
}

// Answers the request being read with an error and closes the connection. After an error
// the client may still be sending (a body we refused): closing at once would make the
// kernel send RST and destroy the error response in flight (RFC 9112 section 9.6), hence
// close_after_error().
template <class Stream>
asio::awaitable<bool> StreamConnection<Stream>::refuse(int status) {
    request_read();
    begin_response();
    const bool ok = co_await respond_with_status(*this, status, {}, true);
    request_done();
    if (ok) co_await close_after_error();
    co_return false;
}

template <class Stream>
asio::awaitable<bool> StreamConnection<Stream>::interim(int status, const Fields& fields) {
    // RFC 9110 section 15.2: a server must not send a 1xx response to an HTTP/1.0 client;
    // 101 belongs to the Upgrade mechanism, not to handlers.
    if (head_sent_ || request_->version_minor == 0 || status < 100 || status > 199 || status == 101)
        co_return false;
    out_.clear();
    out_.append("HTTP/1.1 ");
    append_number(out_, static_cast<std::uint64_t>(status));
    out_ += ' ';
    out_.append(reason_phrase(status)).append("\r\n");
    for (std::size_t i = 0; i < fields.size(); ++i) {
        if (is_protocol_owned(fields.name(i))) continue;
        out_.append(fields.name(i)).append(": ").append(fields.value(i)).append("\r\n");
    }
    out_.append("\r\n");
    co_return co_await write(out_);
}

template <class Stream>
asio::awaitable<bool> StreamConnection<Stream>::send(const ResponseHead* head,
                                                     std::string_view body, bool last) {
    if (complete_ || unwritten_) co_return false;
    out_.clear();
    if (head && !head_sent_) append_head(*head, body.size(), last);
    if (!head_sent_) co_return false;  // a body before its head: a handler's mistake
    if (!held_.empty()) {  // first the rest of a try_send() (never with the head: it came after)
        out_.append(held_);
        held_.clear();
    }
    BodyPieces pieces;
    frame_body(body, last, pieces);
    const bool ok = out_.empty() && pieces.chunk_start.empty() && pieces.body.empty() &&
                            pieces.chunk_end.empty()
                        ? true
                        : co_await write(out_, pieces.chunk_start, pieces.body, pieces.chunk_end);
    response_written(ok, last);
    co_return ok;
}

template <class Stream>
asio::awaitable<bool> StreamConnection<Stream>::send_file(const ResponseHead* head, FileBody file) {
    if (complete_ || unwritten_) co_return false;
    out_.clear();
    if (head && !head_sent_) append_head(*head, static_cast<std::size_t>(file.length), true);
    if (!head_sent_) co_return false;
    bool ok;
    if (wire_ == Wire::none || file.length == 0) {
        ok = co_await write(out_);
    } else {
        if (wire_ == Wire::length) file.length = std::min(file.length, remaining_);
        ok = co_await write_file(file);
        if (ok && wire_ == Wire::length) remaining_ -= file.length;
    }
    response_written(ok, true);
    co_return ok;
}

// One non-blocking sendmsg() of the framed bytes, from the caller's buffer. Over TLS a
// write is an SSL_write of a record, through the stream: never at once.
template <class Stream>
TrySend StreamConnection<Stream>::try_send(std::string_view body) {
    if constexpr (tls) {
        (void)body;
        return TrySend::not_now;
    } else {
        // A stream's body is chunked (HTTP/1.0's, delimited by the close, goes through send()).
        if (complete_ || unwritten_ || sending_ || !held_.empty() || !head_sent_ || body.empty() ||
            wire_ != Wire::chunked)
            return TrySend::not_now;
        // The chunk line depends on the size alone, and an event goes to every subscriber
        // at one size: the framing of the last size is kept (per I/O thread).
        thread_local BodyPieces framed;
        thread_local std::size_t framed_size = 0;
        if (framed_size != body.size()) {
            frame_body(body, false, framed);
            framed_size = body.size();
        }
        std::array<iovec, 3> pieces{
            iovec{const_cast<char*>(framed.chunk_start.data()), framed.chunk_start.size()},
            iovec{const_cast<char*>(body.data()), body.size()},
            iovec{const_cast<char*>(framed.chunk_end.data()), framed.chunk_end.size()}};
        msghdr message{};
        message.msg_iov = pieces.data();
        message.msg_iovlen = pieces.size();
        const ssize_t written = ::sendmsg(socket_fd_, &message, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (written <= 0) return TrySend::not_now;  // full (EAGAIN), or an error send() will see
        const auto n = static_cast<std::size_t>(written);
        took(n);
        outcome_.bytes_out += n;
        std::size_t skip = n;
        for (const iovec& piece : pieces) {
            const std::size_t taken = std::min(skip, piece.iov_len);
            skip -= taken;
            held_.append(static_cast<const char*>(piece.iov_base) + taken, piece.iov_len - taken);
        }
        return held_.empty() ? TrySend::sent : TrySend::held;
    }
}

// Bookkeeping once a piece of the response is on the wire (or failed).
template <class Stream>
void StreamConnection<Stream>::response_written(bool ok, bool last) {
    if (!ok) {
        keep_alive_ = false;
        return;
    }
    if (!last) return;
    complete_ = true;
    // Fewer bytes than announced: the client waits for the rest; only the close ends it.
    if (wire_ == Wire::length && remaining_ > 0) keep_alive_ = false;
    request_done();
}

template <class Stream>
asio::awaitable<bool> StreamConnection<Stream>::write(std::string_view a, std::string_view b,
                                                      std::string_view c, std::string_view d) {
    // Over TLS, asio copies small gather writes into one buffer first (8 KiB), so a head
    // and a small body still leave in one record and one send().
    std::array<asio::const_buffer, 4> buffers{asio::buffer(a), asio::buffer(b), asio::buffer(c),
                                              asio::buffer(d)};
    begin_sending();
    // Called before each partial write with the bytes written so far: progress for the
    // stall timeout and the send rate while a large write is under way.
    std::size_t counted = 0;
    auto progress = [this, &counted](const boost::system::error_code& ec,
                                     std::size_t written) -> std::size_t {
        took(written - counted);
        counted = written;
        return asio::transfer_all()(ec, written);
    };
    auto [ec, n] = co_await asio::async_write(stream_, buffers, progress, as_tuple(use_awaitable));
    took(n - counted);
    end_sending();
    outcome_.bytes_out += n;
    co_return !ec;
}

// The head in out_, then `file.length` bytes of `file.fd` from `file.offset`.
template <class Stream>
asio::awaitable<bool> StreamConnection<Stream>::write_file(FileBody file) {
    off_t offset = static_cast<off_t>(file.offset);
    std::uint64_t remaining = file.length;
    if constexpr (tls) {
        // sendfile() cannot write through OpenSSL: read the file a chunk at a time and write
        // it through the stream (the head goes with the first chunk), with the same write
        // timeout per chunk.
        if (!file_chunk_) file_chunk_.reset(new char[tls_file_chunk]);
        std::string_view head = out_;
        while (remaining > 0) {
            const ssize_t n = ::pread(
                file.fd, file_chunk_.get(),
                static_cast<std::size_t>(std::min<std::uint64_t>(remaining, tls_file_chunk)),
                offset);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0)
                co_return false;  // error, or the file shrank: the length promised cannot be kept
            if (!co_await write(head, {file_chunk_.get(), static_cast<std::size_t>(n)}))
                co_return false;
            head = {};
            offset += n;
            remaining -= static_cast<std::uint64_t>(n);
        }
        co_return true;
    } else {
        // Head first (MSG_MORE: the kernel holds it for the file's first bytes), then sendfile.
        begin_sending();
        struct Ended {
            StreamConnection& c;
            ~Ended() { c.end_sending(); }
        } ended{*this};
        auto [ec, n] =
            co_await stream_.async_send(asio::buffer(out_), MSG_MORE, as_tuple(use_awaitable));
        outcome_.bytes_out += n;
        took(n);
        if (ec || n != out_.size()) co_return false;
        while (remaining > 0) {
            ssize_t sent =
                ::sendfile(stream_.native_handle(), file.fd, &offset,
                           static_cast<std::size_t>(std::min<std::uint64_t>(remaining, 1 << 20)));
            if (sent > 0) {
                remaining -= static_cast<std::uint64_t>(sent);
                outcome_.bytes_out += static_cast<std::uint64_t>(sent);
                took(static_cast<std::size_t>(sent));
                continue;
            }
            if (sent < 0 && (errno == EAGAIN || errno == EINTR)) {
                auto [wait_ec] = co_await stream_.async_wait(asio::socket_base::wait_write,
                                                             as_tuple(use_awaitable));
                if (wait_ec) co_return false;
                continue;
            }
            co_return false;  // error, or the file shrank: the length promised cannot be kept
        }
        co_return true;
    }
}

// Stop sending, read and discard for a short while, then close. Over TLS the discarded
// bytes are records nobody needs to decrypt: the TCP socket is read.
template <class Stream>
asio::awaitable<void> StreamConnection<Stream>::close_after_error() {
    boost::system::error_code ec;
    socket().shutdown(asio::socket_base::shutdown_send, ec);
    deadline_ = Clock::now() + std::chrono::seconds(2);
    for (std::size_t drained = 0; drained < (1 << 20);) {
        auto [read_ec, n] = co_await socket().async_read_some(
            asio::buffer(in_.get(), read_buffer_size), as_tuple(use_awaitable));
        if (read_ec || n == 0) break;
        drained += n;
    }
}

}  // namespace

}  // namespace askr::http::h1
