#pragma once
#include <chrono>
#include <memory>
#include <string>

#include <boost/asio/ip/tcp.hpp>

#include "http/connection.hpp"
#include "http/h1/parser.hpp"
#include "php/engine.hpp"
#include "static/file_response.hpp"
#include "worker/context.hpp"
#include "worker/exchange.hpp"
#include "worker/telemetry.hpp"

namespace askr::http::h1 {

/// What a listening socket's connections speak.
enum class Listener {
    http,            ///< HTTP/1.1 in the clear
    https,           ///< TLS first (within --tls-handshake-timeout), then HTTP/1.1
    https_redirect,  ///< clear HTTP that redirects to HTTPS, except ACME challenges (--listen-http)
};

/// Serves an accepted connection on the I/O thread until it closes (a coroutine owns it).
/// False when it could not start (no TLS session): the socket is closed. `moved_in`: the
/// bytes a peer worker read from this clear-text connection before handing it here
/// (worker/handoff.hpp); they are parsed as if just read.
bool start_connection(worker::Context& context, boost::asio::ip::tcp::socket socket, Listener listener,
                      std::string_view moved_in = {});

/// One HTTP/1.1 connection: reads requests (keep-alive, pipelining), routes each one to a
/// static file or to PHP, and frames the responses (Content-Length or chunked). Lives on
/// the I/O thread. This part holds the state and what does not touch the stream; the I/O
/// is done by one subclass per stream type, plain TCP or TLS (connection.cpp), so that
/// OpenSSL stays out of this header and the plain path pays nothing for TLS.
class Connection : public http::Connection {
public:
    ~Connection() override;

    /// True between requests (no byte of a next request read yet): safe to close.
    bool idle() const { return idle_; }
    /// When idle, closes within a second (draining): a request that arrives before that
    /// is still answered, with Connection: close, so keep-alive clients move on cleanly.
    void expire_if_idle() override;

protected:
    enum class Framing { none, length, chunked, until_close };

    Connection(worker::Context& context, int socket_fd, Listener listener);
    void append_head(int status, std::string_view fields, Framing framing, std::uint64_t length);
    // Metrics and access log (worker/telemetry.hpp): a whole request was read / answered.
    void request_read();
    void request_done();
    bool timing() const { return context_.telemetry && context_.telemetry->timing(); }

    const Listener listener_;
    Parser parser_;
    /// Gives the request still running in PHP after fastcgi_finish_request() its own
    /// life (it ends when PHP releases it) and takes a fresh exchange for the next one.
    void detach_exchange();

    std::unique_ptr<worker::Exchange> exchange_;  // replaced when detached
    static_files::FileResponse file_;
    php::ResponseHead php_head_;
    std::string php_body_;
    std::string out_;             // response head (and small bodies) being written
    std::unique_ptr<char[]> in_;  // read buffer
    std::size_t in_begin_ = 0, in_end_ = 0;
    // Where the request being read starts in in_, while all of it is still there (the
    // connection can then be moved to another worker with it, worker/handoff.hpp).
    std::size_t request_begin_ = 0;
    bool request_whole_ = true;
    bool moved_away_ = false;  // the connection went to another worker with its request
    bool detach_pending_ = false;  // the response is complete, the script still runs
    bool keep_alive_ = true;
    bool idle_ = true;
    bool aborted_ = false;
    worker::RequestOutcome outcome_;  // the request being answered, for the telemetry
};

}  // namespace askr::http::h1
