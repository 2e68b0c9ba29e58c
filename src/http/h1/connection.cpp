#include "http/h1/connection.hpp"

#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <array>
#include <charconv>
#include <type_traits>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "core/log.hpp"

#include "http/h2/connection.hpp"
#include "http/https_redirect.hpp"
#include "http/status.hpp"
#include "worker/handoff.hpp"

namespace askr::http::h1 {

namespace asio = boost::asio;
using asio::as_tuple;
using asio::use_awaitable;
using tcp = asio::ip::tcp;
using TlsStream = asio::ssl::stream<tcp::socket>;

namespace {

constexpr std::size_t read_buffer_size = worker::max_moved_bytes;  // a moved connection brings its buffer
constexpr std::size_t tls_file_chunk = 64 * 1024;  // static files over TLS: pread this much per write

double unix_time_now() {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

void append_number(std::string& out, std::uint64_t value, int base = 10) {
    char buffer[24];
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value, base);
    (void)ec;
    out.append(buffer, end);
}

// The body of a response Askr itself produces (errors, redirects).
std::string_view simple_body(int status, std::string& scratch) {
    scratch.assign("<!DOCTYPE html><html><head><title>");
    append_number(scratch, static_cast<std::uint64_t>(status));
    scratch.append(" ").append(reason_phrase(status)).append("</title></head><body><h1>");
    append_number(scratch, static_cast<std::uint64_t>(status));
    scratch.append(" ").append(reason_phrase(status)).append("</h1></body></html>\n");
    return scratch;
}

// A browser pointed at http:// on the TLS port (OpenSSL recognises the request line in
// place of a ClientHello): tell the user in clear text, as nginx does, instead of a
// connection that just closes.
constexpr std::string_view plain_http_on_tls_port =
    "HTTP/1.1 400 Bad Request\r\nServer: Askr\r\nContent-Type: text/plain\r\nContent-Length: 52\r\n"
    "Connection: close\r\n\r\nThis port speaks HTTPS: use https:// in the address.\n";

// One HTTP/1.1 connection over `Stream`: tcp::socket (plain) or asio::ssl::stream (TLS).
// Everything specific to TLS is behind `if constexpr (tls)`: the plain instantiation
// compiles to what it was before TLS existed (sendfile, no extra branch).
template <class Stream>
class StreamConnection final : public Connection {
public:
    static constexpr bool tls = std::is_same_v<Stream, TlsStream>;

    template <class... StreamArgs>
    StreamConnection(worker::Context& context, int socket_fd, Listener listener, StreamArgs&&... stream_args)
        : Connection(context, socket_fd, listener), stream_(std::forward<StreamArgs>(stream_args)...) {}

    /// Serves the connection until it closes; owns it.
    static asio::awaitable<void> serve(std::unique_ptr<StreamConnection> self);

    /// The bytes a peer worker read before moving this connection here: read first.
    void take_moved_bytes(std::string_view bytes) {
        if (bytes.empty()) return;
        std::memcpy(in_.get(), bytes.data(), bytes.size());
        in_end_ = bytes.size();
    }

    void abort() override {
        aborted_ = true;
        boost::system::error_code ignored;
        socket().shutdown(asio::socket_base::shutdown_both, ignored);
        socket().cancel(ignored);
    }

private:
    tcp::socket& socket() {
        if constexpr (tls) {
            return stream_.next_layer();
        } else {
            return stream_;
        }
    }

    asio::awaitable<bool> handshake();
    asio::awaitable<bool> detect_h2_preface();
    bool alpn_chose_h2();
    bool movable() const { return !tls && listener_ == Listener::http && request_whole_; }
    bool move_to(int peer);
    bool move_to_idle_worker();
    asio::awaitable<bool> read_request();
    asio::awaitable<bool> respond();
    asio::awaitable<bool> redirect_to_https();
    asio::awaitable<bool> serve_php();
    asio::awaitable<bool> serve_static();
    asio::awaitable<bool> send_file_body();
    asio::awaitable<bool> send_simple(int status, std::string_view fields, bool keep_alive);
    /// Writes the pieces in one gather write; false when the client is gone or too slow.
    asio::awaitable<bool> write(std::string_view a, std::string_view b = {}, std::string_view c = {},
                                std::string_view d = {});
    asio::awaitable<void> close_after_error();

    Stream stream_;
    std::unique_ptr<char[]> file_chunk_;  // TLS only: the piece of a static file being written
};

}  // namespace

Connection::Connection(worker::Context& context, int socket_fd, Listener listener)
    : http::Connection(context),
      listener_(listener),
      parser_(context.limits),
      exchange_(std::make_unique<worker::Exchange>(context.io, context.completions, socket_fd)),
      in_(new char[read_buffer_size]) {}

Connection::~Connection() = default;

void Connection::expire_if_idle() {
    if (idle_) deadline_ = std::min(deadline_, Clock::now() + std::chrono::seconds(1));
}

void Connection::request_read() {
    if (!context_.telemetry) return;
    if (context_.telemetry->timing()) outcome_.began = std::chrono::steady_clock::now();
    context_.telemetry->request_started();
}

void Connection::request_done() {
    if (!context_.telemetry) return;
    context_.telemetry->request_finished(exchange_->request, outcome_);
    outcome_ = {};
}

void Connection::append_head(int status, std::string_view fields, Framing framing, std::uint64_t length) {
    outcome_.status = status;
    const std::size_t head_start = out_.size();
    // A drain may have begun while PHP ran: this response must then announce the close,
    // or the client sends its next request into a connection about to be closed.
    if (context_.draining) keep_alive_ = false;
    out_.append("HTTP/1.1 ");
    append_number(out_, static_cast<std::uint64_t>(status));
    out_ += ' ';
    out_.append(reason_phrase(status)).append("\r\nServer: Askr\r\nDate: ").append(http_date_now());
    out_.append("\r\n").append(fields);
    switch (framing) {
        case Framing::length:
            out_.append("Content-Length: ");
            append_number(out_, length);
            out_.append("\r\n");
            break;
        case Framing::chunked: out_.append("Transfer-Encoding: chunked\r\n"); break;
        case Framing::until_close:
        case Framing::none: break;
    }
    if (!keep_alive_) {
        out_.append("Connection: close\r\n");
    } else if (exchange_->request.version_minor == 0) {
        out_.append("Connection: keep-alive\r\n");  // HTTP/1.0 keep-alive must be confirmed
    }
    out_.append("\r\n");
    outcome_.head_bytes = out_.size() - head_start;
}

bool start_connection(worker::Context& context, tcp::socket socket, Listener listener, std::string_view moved_in) {
    if (!moved_in.empty()) {  // counted where it was accepted
        if (listener != Listener::http || moved_in.size() > read_buffer_size) return false;
    } else if (context.telemetry) {
        context.telemetry->connection_accepted();
    }
    const int fd = socket.native_handle();
    if (listener == Listener::https) {
        SSL* ssl = context.tls ? SSL_new(context.tls) : nullptr;
        if (!ssl) {
            spdlog::error("TLS: cannot start a session (SSL_new: {})", ERR_reason_error_string(ERR_get_error()));
            return false;  // the socket closes
        }
        // The stream owns `ssl` from here (asio's engine frees it).
        auto connection = std::make_unique<StreamConnection<TlsStream>>(context, fd, listener, std::move(socket), ssl);
        asio::co_spawn(context.io, StreamConnection<TlsStream>::serve(std::move(connection)), core::log_coroutine_exception);
        return true;
    }
    auto connection = std::make_unique<StreamConnection<tcp::socket>>(context, fd, listener, std::move(socket));
    connection->take_moved_bytes(moved_in);
    asio::co_spawn(context.io, StreamConnection<tcp::socket>::serve(std::move(connection)), core::log_coroutine_exception);
    return true;
}

template <class Stream>
asio::awaitable<void> StreamConnection<Stream>::serve(std::unique_ptr<StreamConnection> self) {
    boost::system::error_code ec;
    self->socket().set_option(asio::ip::tcp::no_delay(true), ec);
    self->socket().native_non_blocking(true, ec);
    auto& endpoints = self->exchange_->request.endpoints;
    auto remote = self->socket().remote_endpoint(ec);
    auto local = self->socket().local_endpoint(ec);
    if (ec) co_return;  // the peer is already gone
    endpoints.remote_addr = remote.address().to_string();
    endpoints.remote_port = remote.port();
    endpoints.local_addr = local.address().to_string();
    endpoints.local_port = local.port();
    if constexpr (tls) {
        endpoints.tls = true;  // HTTPS=on, REQUEST_SCHEME=https
        if (!co_await self->handshake()) co_return;
        // Handing over to HTTP/2: the h2 connection registers in Context::connections
        // before this one unregisters (when serve() returns), so a drain never sees the
        // count at 0 in between; it is one client connection changing hands, not a close.
        if (self->alpn_chose_h2()) {
            self->handed_over = true;
            h2::start_connection(self->context_, std::move(self->stream_), endpoints);
            co_return;
        }
    } else {
        if (self->listener_ == Listener::http && co_await self->detect_h2_preface()) {
            self->handed_over = true;
            h2::start_connection(self->context_, std::move(self->stream_), endpoints,
                                 {self->in_.get(), self->in_end_});
            co_return;
        }
    }

    while (co_await self->read_request()) {
        if constexpr (!tls) {
            if (self->move_to_idle_worker()) co_return;
        }
        self->request_read();
        self->context_.events->request_started();  // may start a drain (--max-requests)
        // Only what the response announced decides: a drain that began while it was
        // written is honoured on the next request (answered with Connection: close).
        const bool again = co_await self->respond();
        if (self->moved_away_) {  // another worker answers it (serve_php)
            self->context_.events->request_moved_away();
            if (self->context_.telemetry) self->context_.telemetry->request_moved();
            co_return;
        }
        self->request_done();
        if (self->detach_pending_) self->detach_exchange();
        if (!again) break;
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

// The TLS handshake, bounded by --tls-handshake-timeout through the connection's deadline
// (the worker's once-a-second sweep closes it): a client that connects and sends nothing,
// or stalls half-way, holds a connection for that long at most.
template <class Stream>
asio::awaitable<bool> StreamConnection<Stream>::handshake() {
    if constexpr (tls) {
        set_deadline(context_.options.tls_handshake_timeout);
        auto [ec] = co_await stream_.async_handshake(asio::ssl::stream_base::server, as_tuple(use_awaitable));
        if (!ec) co_return true;
        if (aborted_) {
            spdlog::debug("{}: TLS handshake timed out", exchange_->request.endpoints.remote_addr);
        } else {
            spdlog::debug("{}: TLS handshake failed: {}", exchange_->request.endpoints.remote_addr, ec.message());
            if (ec.category() == asio::error::get_ssl_category() &&
                ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_HTTP_REQUEST) {
                set_deadline(context_.options.write_timeout);
                auto [write_ec, n] = co_await asio::async_write(socket(), asio::buffer(plain_http_on_tls_port),
                                                                as_tuple(use_awaitable));
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
        return std::string_view(reinterpret_cast<const char*>(protocol), protocol ? length : 0) == h2::alpn_id;
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
    set_deadline(!idle_ ? context_.options.header_timeout
                 : context_.draining ? std::chrono::seconds(1)
                                     : context_.options.keepalive_timeout);
    for (;;) {
        if (in_end_ > 0 && !h2::may_be_preface({in_.get(), in_end_})) co_return false;
        if (in_end_ >= h2::client_preface.size()) co_return true;
        auto [ec, n] = co_await stream_.async_read_some(asio::buffer(in_.get() + in_end_, read_buffer_size - in_end_),
                                                        as_tuple(use_awaitable));
        if (ec || n == 0) co_return false;  // read_request() sees the same end
        in_end_ += n;
        outcome_.bytes_in += n;  // HTTP/1 bytes after all, most of the time
        if (idle_) {
            idle_ = false;
            set_deadline(context_.options.header_timeout);
        }
    }
}

// A PHP request that would wait behind others on this worker while another worker's PHP
// is idle: the connection moves there with the bytes of this request and any after it
// (worker/handoff.hpp). Only between requests of a clear-text HTTP/1.1 connection whose
// request is whole in the read buffer; the check costs nothing while PHP here is free.
template <class Stream>
bool StreamConnection<Stream>::move_to_idle_worker() {
    if (!movable()) return false;
    const int peer = context_.events->move_target();
    if (peer < 0) return false;
    const Request& request = exchange_->request;
    if (context_.routes.resolve(request.path(), request.query())->kind != Route::Kind::php) return false;
    return move_to(peer);
}

// Hands the socket to `peer` with the bytes of this request and any after it.
template <class Stream>
bool StreamConnection<Stream>::move_to(int peer) {
    return context_.events->move_connection(peer, socket().native_handle(),
                                            {in_.get() + request_begin_, in_end_ - request_begin_});
}

// Reads until one whole request is in exchange_->request. False: close the connection
// (peer closed, timeout, or an error that has been answered).
template <class Stream>
asio::awaitable<bool> StreamConnection<Stream>::read_request() {
    parser_.start(exchange_->request);
    if (in_begin_ == in_end_) in_begin_ = in_end_ = 0;
    request_begin_ = in_begin_;
    request_whole_ = true;
    idle_ = in_begin_ == in_end_;
    set_deadline(!idle_ ? context_.options.header_timeout
                 : context_.draining ? std::chrono::seconds(1)  // see expire_if_idle()
                                     : context_.options.keepalive_timeout);
    bool headers_seen = false;
    for (;;) {
        if (in_begin_ < in_end_) {
            if (idle_) {
                idle_ = false;
                set_deadline(context_.options.header_timeout);  // slowloris: not extended by trickling
            }
            auto result = parser_.feed(in_.get() + in_begin_, in_end_ - in_begin_);
            in_begin_ += result.consumed;
            switch (result.status) {
                case Parser::Status::complete:
                    exchange_->request.start_time = unix_time_now();
                    co_return true;
                case Parser::Status::error:
                    spdlog::debug("{}: bad request: {}", exchange_->request.endpoints.remote_addr,
                                  parser_.error_reason());
                    request_read();
                    co_await send_simple(parser_.error_status(), {}, false);
                    request_done();
                    co_await close_after_error();
                    co_return false;
                case Parser::Status::expect_continue:
                    // RFC 9110 section 10.1.1: the body is acceptable, ask for it.
                    if (!co_await write("HTTP/1.1 100 Continue\r\n\r\n")) co_return false;
                    request_whole_ = false;  // moved, it would be asked for its body twice
                    parser_.continue_after_expect();
                    continue;
                case Parser::Status::need_more:
                    break;
            }
            if (parser_.headers_complete() && !headers_seen) headers_seen = true;
            if (headers_seen) set_deadline(context_.options.body_timeout);  // a stall, not the total
        }
        // The parser consumes everything it is given: only this request's bytes are kept
        // (for a move), from its first byte, as long as they leave room to read into.
        if (in_end_ == read_buffer_size) {
            const std::size_t from = request_whole_ && request_begin_ > 0 ? request_begin_ : in_begin_;
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
                    exchange_->request.keep_alive = false;
                    exchange_->request.start_time = unix_time_now();
                    co_return true;
                }
            }
            if (aborted_ && !idle_ && !context_.draining) {
                // Timed out in the middle of a request (RFC 9110 section 15.5.9).
                aborted_ = false;
                request_read();
                co_await send_simple(408, {}, false);
                request_done();
            }
            co_return false;
        }
        in_end_ += n;
        outcome_.bytes_in += n;
    }
}

template <class Stream>
asio::awaitable<bool> StreamConnection<Stream>::respond() {
    Request& request = exchange_->request;
    keep_alive_ = request.keep_alive && !context_.draining;
    if (listener_ == Listener::https_redirect) co_return co_await redirect_to_https();
    exchange_->route = context_.routes.resolve(request.path(), request.query());
    const Route& route = *exchange_->route;
    switch (route.kind) {
        case Route::Kind::php: co_return co_await serve_php();
        case Route::Kind::static_file: co_return co_await serve_static();
        case Route::Kind::redirect: {
            std::string fields = "Location: " + route.location + "\r\n";
            co_return co_await send_simple(301, fields, keep_alive_);
        }
        case Route::Kind::forbidden: co_return co_await send_simple(403, {}, keep_alive_);
        case Route::Kind::bad_request: co_return co_await send_simple(400, {}, false);
        case Route::Kind::not_found: break;
    }
    co_return co_await send_simple(404, {}, keep_alive_);
}

// --listen-http: every request is sent to HTTPS with 308 (RFC 9110 section 15.4.9: the
// method and body are kept), except ACME HTTP-01 challenges, which certbot's webroot mode
// puts under ROOT/.well-known/acme-challenge/ and the CA fetches over plain HTTP. Only
// static files below that folder are served here, nothing else from the root.
template <class Stream>
asio::awaitable<bool> StreamConnection<Stream>::redirect_to_https() {
    const Request& request = exchange_->request;
    if (is_acme_challenge(request.path())) {
        exchange_->route = context_.routes.resolve(request.path(), request.query());
        const Route& route = *exchange_->route;
        const std::string challenges = context_.router.root + "/.well-known/acme-challenge/";
        if (route.kind == Route::Kind::static_file && route.file.starts_with(challenges)) {
            co_return co_await serve_static();
        }
        co_return co_await send_simple(404, {}, keep_alive_);
    }
    const auto& local = request.endpoints.local_addr;
    const std::string fallback = local.find(':') != std::string::npos ? "[" + local + "]" : local;
    const auto location = https_redirect_location(request.header("host"), request.target, context_.https_port, fallback);
    if (!location) co_return co_await send_simple(400, {}, false);
    co_return co_await send_simple(308, "Location: " + *location + "\r\n", keep_alive_);
}

template <class Stream>
asio::awaitable<bool> StreamConnection<Stream>::write(std::string_view a, std::string_view b, std::string_view c,
                                                      std::string_view d) {
    // Over TLS, asio copies small gather writes into one buffer first (8 KiB), so a head
    // and a small body still leave in one record and one send().
    std::array<asio::const_buffer, 4> buffers{asio::buffer(a), asio::buffer(b), asio::buffer(c), asio::buffer(d)};
    set_deadline(context_.options.write_timeout);
    auto [ec, n] = co_await asio::async_write(stream_, buffers, as_tuple(use_awaitable));
    outcome_.bytes_out += n;
    co_return !ec;
}

template <class Stream>
asio::awaitable<bool> StreamConnection<Stream>::send_simple(int status, std::string_view fields, bool keep_alive) {
    keep_alive_ = keep_alive && !context_.draining;
    std::string body_storage;
    std::string_view body = simple_body(status, body_storage);
    std::string all_fields(fields);
    all_fields.append("Content-Type: text/html\r\n");
    const bool head_only = exchange_->request.method == "HEAD";
    out_.clear();
    append_head(status, all_fields, Framing::length, body.size());
    const bool ok = co_await write(out_, head_only ? std::string_view{} : body);
    co_return ok && keep_alive_;
}

// After an error the client may still be sending (a body we refused): closing at once
// would make the kernel send RST and destroy the error response in flight (RFC 9112
// section 9.6). Stop sending, read and discard for a short while, then close. Over TLS
// the discarded bytes are records nobody needs to decrypt: the TCP socket is read.
template <class Stream>
asio::awaitable<void> StreamConnection<Stream>::close_after_error() {
    boost::system::error_code ec;
    socket().shutdown(asio::socket_base::shutdown_send, ec);
    deadline_ = Clock::now() + std::chrono::seconds(2);
    for (std::size_t drained = 0; drained < (1 << 20);) {
        auto [read_ec, n] = co_await socket().async_read_some(asio::buffer(in_.get(), read_buffer_size),
                                                              as_tuple(use_awaitable));
        if (read_ec || n == 0) break;
        drained += n;
    }
}

template <class Stream>
asio::awaitable<bool> StreamConnection<Stream>::serve_php() {
    worker::Exchange& exchange = *exchange_;
    const Route& route = *exchange.route;
    exchange.script.target = {route.file, route.script_name, route.path_info, context_.router.root};
    exchange.begin();
    deadline_ = Clock::time_point::max();  // PHP's own limits apply while it runs
    outcome_.kind = shm::ResponseKind::php;
    const auto php_began = timing() ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    exchange.movable = movable();
    exchange.withdrawn_to = -1;
    context_.php.submit(exchange);
    context_.events->php_submitted();

    const bool head_only = exchange.request.method == "HEAD";
    bool no_body = head_only;
    Framing framing = Framing::none;
    bool failed = false;
    bool finished = false;
    char chunk_line[24];
    for (;;) {
        if (exchange.withdrawn_to >= 0) {
            // An idle worker asked for a waiting request and this one was taken back from
            // the PHP queue before it started (worker/handoff.hpp): the connection moves
            // there with it, or, if that fails, the request queues here again.
            if (move_to(std::exchange(exchange.withdrawn_to, -1))) {
                moved_away_ = true;
                co_return false;
            }
            context_.php.submit(exchange);
            context_.events->php_submitted();
            co_await exchange.wait();
            continue;
        }
        php_body_.clear();
        const auto progress = exchange.take(php_head_, php_body_);
        const std::size_t taken = php_body_.size();
        // The PHP thread is free before the client has its answer: say so now, or a client
        // that reconnects at once finds this worker still counted busy (accept policy).
        if (progress.released) {
            if (timing()) outcome_.php = std::chrono::steady_clock::now() - php_began;
            context_.events->php_finished();
        }
        if (!failed && !finished && (progress.head || taken > 0 || progress.complete)) {
            out_.clear();
            if (progress.head) {
                no_body = head_only || status_has_no_body(php_head_.status);
                std::uint64_t length = php_body_.size();
                if (status_has_no_body(php_head_.status)) {
                    framing = Framing::none;
                } else if (head_only) {
                    // PHP discards a HEAD response's body (headers_only): announce a length
                    // only when the script declared one (RFC 9110 section 8.6).
                    framing = Framing::none;
                    if (!php_head_.content_length.empty()) {
                        const auto& declared = php_head_.content_length;
                        if (std::from_chars(declared.data(), declared.data() + declared.size(), length).ec ==
                            std::errc{}) {
                            framing = Framing::length;
                        }
                    }
                } else if (progress.complete) {
                    framing = Framing::length;  // the whole response is known: one write
                } else if (exchange.request.version_minor == 0) {
                    framing = Framing::until_close;  // HTTP/1.0 has no chunked coding
                    keep_alive_ = false;
                } else {
                    framing = Framing::chunked;  // streamed: flush() or a large output
                }
                append_head(php_head_.status, php_head_.fields, framing, length);
            }
            std::string_view body = no_body ? std::string_view{} : std::string_view(php_body_);
            std::string_view chunk_start;
            std::string_view chunk_end;
            if (framing == Framing::chunked) {
                if (!body.empty()) {
                    auto end = std::to_chars(chunk_line, chunk_line + 20, body.size(), 16).ptr;
                    *end++ = '\r';
                    *end++ = '\n';
                    chunk_start = {chunk_line, static_cast<std::size_t>(end - chunk_line)};
                    chunk_end = progress.complete ? "\r\n0\r\n\r\n" : "\r\n";
                } else if (progress.complete) {
                    chunk_end = "0\r\n\r\n";  // RFC 9112 section 7.1: the last chunk
                }
            }
            if (!co_await write(out_, chunk_start, body, chunk_end)) {
                failed = true;
                keep_alive_ = false;
                exchange.mark_client_gone();
            }
            finished = progress.complete;
        }
        exchange.written(taken);
        if (progress.released) break;
        if (finished && !failed) {
            // fastcgi_finish_request(): the client has its whole response while the script
            // goes on (deferred updates, jobs). The connection goes on too, with a fresh
            // exchange, as behind php-fpm; its next request may move to an idle worker.
            if (timing()) outcome_.php = std::chrono::steady_clock::now() - php_began;
            detach_pending_ = true;  // once the request is recorded (serve)
            break;
        }
        deadline_ = Clock::time_point::max();
        co_await exchange.wait();
    }
    co_return keep_alive_ && !failed;
}

// The PHP thread still runs the request of `exchange` (its response is complete): a small
// coroutine keeps the exchange alive until PHP releases it, then counts PHP as done.
static asio::awaitable<void> finish_detached(std::unique_ptr<worker::Exchange> exchange, worker::WorkerEvents* events) {
    php::ResponseHead ignored_head;
    std::string ignored_body;
    for (;;) {
        ignored_body.clear();
        const auto progress = exchange->take(ignored_head, ignored_body);
        exchange->written(ignored_body.size());
        if (progress.released) break;
        co_await exchange->wait();
    }
    if (events) events->php_finished();
}

void Connection::detach_exchange() {
    auto fresh = std::make_unique<worker::Exchange>(context_.io, context_.completions, exchange_->socket_fd());
    fresh->request.endpoints = exchange_->request.endpoints;
    exchange_->detach();
    asio::co_spawn(context_.io, finish_detached(std::exchange(exchange_, std::move(fresh)), context_.events),
                   core::log_coroutine_exception);
}

template <class Stream>
asio::awaitable<bool> StreamConnection<Stream>::serve_static() {
    outcome_.kind = shm::ResponseKind::static_file;
    static_files::prepare_file_response(exchange_->request, context_.files, exchange_->route->file, file_);
    if (file_.status == 404 || file_.status == 403 || file_.status == 405) {
        co_return co_await send_simple(file_.status, file_.fields, keep_alive_);
    }
    out_.clear();
    const Framing framing = status_has_no_body(file_.status) ? Framing::none : Framing::length;
    append_head(file_.status, file_.fields, framing, file_.length);
    if (!file_.send_body) co_return co_await write(out_) && keep_alive_;
    if (file_.fd.get() < 0) {  // small file from memory: head and body in one write
        const bool ok = co_await write(out_, file_.inline_body);
        file_.file.reset();
        co_return ok && keep_alive_;
    }
    const bool ok = co_await send_file_body();
    file_.fd.reset();
    co_return ok && keep_alive_;
}

// The head in out_, then file_.length bytes of file_.fd from file_.offset.
template <class Stream>
asio::awaitable<bool> StreamConnection<Stream>::send_file_body() {
    off_t offset = static_cast<off_t>(file_.offset);
    std::uint64_t remaining = file_.length;
    if constexpr (tls) {
        // sendfile() cannot write through OpenSSL: read the file a chunk at a time and write
        // it through the stream (the head goes with the first chunk), with the same write
        // timeout per chunk.
        if (!file_chunk_) file_chunk_.reset(new char[tls_file_chunk]);
        std::string_view head = out_;
        while (remaining > 0) {
            const ssize_t n = ::pread(file_.fd.get(), file_chunk_.get(),
                                      static_cast<std::size_t>(std::min<std::uint64_t>(remaining, tls_file_chunk)), offset);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) co_return false;  // error, or the file shrank: the length promised cannot be kept
            if (!co_await write(head, {file_chunk_.get(), static_cast<std::size_t>(n)})) co_return false;
            head = {};
            offset += n;
            remaining -= static_cast<std::uint64_t>(n);
        }
        co_return true;
    } else {
        // Head first (MSG_MORE: the kernel holds it for the file's first bytes), then sendfile.
        set_deadline(context_.options.write_timeout);
        auto [ec, n] = co_await stream_.async_send(asio::buffer(out_), MSG_MORE, as_tuple(use_awaitable));
        outcome_.bytes_out += n;
        if (ec || n != out_.size()) co_return false;
        while (remaining > 0) {
            ssize_t sent = ::sendfile(stream_.native_handle(), file_.fd.get(), &offset,
                                      static_cast<std::size_t>(std::min<std::uint64_t>(remaining, 1 << 20)));
            if (sent > 0) {
                remaining -= static_cast<std::uint64_t>(sent);
                outcome_.bytes_out += static_cast<std::uint64_t>(sent);
                set_deadline(context_.options.write_timeout);
                continue;
            }
            if (sent < 0 && (errno == EAGAIN || errno == EINTR)) {
                auto [wait_ec] = co_await stream_.async_wait(asio::socket_base::wait_write, as_tuple(use_awaitable));
                if (wait_ec) co_return false;
                continue;
            }
            co_return false;  // error, or the file shrank: the length promised cannot be kept
        }
        co_return true;
    }
}

}  // namespace askr::http::h1
