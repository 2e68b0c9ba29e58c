#pragma once
#include <string_view>

#include <boost/asio/io_context.hpp>

#include "config/serve_options.hpp"
#include "http/h1/parser.hpp"
#include "http/route_cache.hpp"
#include "http/router.hpp"
#include "static/file_cache.hpp"
#include "worker/exchange.hpp"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace askr::http {
class Connection;
}

namespace askr::worker {

/// What connections tell the worker about their requests (accept policy, recycling).
class Telemetry;

class WorkerEvents {
public:
    virtual ~WorkerEvents() = default;
    /// A request was handed to the PHP thread.
    virtual void php_submitted() = 0;
    /// The PHP thread is done with a request.
    virtual void php_finished() = 0;
    /// A request has been read and is about to be answered.
    virtual void request_started() = 0;
    /// A request counted by request_started() went to a peer before PHP ran it.
    virtual void request_moved_away() = 0;
    /// A client connection has closed.
    virtual void connection_closed() = 0;
    /// A request has just been read: the idle peer to move its connection to, because the
    /// request would wait here (worker/handoff.hpp), or -1 to serve it here. Cheap when
    /// this worker's PHP thread is free (the usual case).
    virtual int move_target() = 0;
    /// Hands the connection `socket_fd` with the bytes not yet answered to `peer`. True
    /// when the peer has it: the caller closes its own copy and forgets the connection.
    virtual bool move_connection(int peer, int socket_fd, std::string_view unread) = 0;
};

/// What every connection of a worker shares: settings, the PHP queue, and the registry of
/// open connections (for timeouts and draining). Lives on the I/O thread.
struct Context {
    Context(const config::ServeOptions& o, boost::asio::io_context& i, PhpQueue& p, Completions& c)
        : options(o), io(i), php(p), completions(c) {}

    const config::ServeOptions& options;
    boost::asio::io_context& io;
    PhpQueue& php;
    Completions& completions;
    http::RouterConfig router;
    http::h1::Limits limits;
    http::RouteCache routes{router};              ///< routing decisions of the last second
    static_files::FileCache files{};              ///< static files of the last second
    bool draining = false;                        ///< stop taking requests, close idle connections
    http::Connection* connections = nullptr;  ///< intrusive list of open connections
    std::size_t connection_count = 0;
    void (*on_last_connection_closed)(Context&) = nullptr;  ///< called when draining ends
    WorkerEvents* events = nullptr;
    ssl_ctx_st* tls = nullptr;                    ///< TLS of the --listen sockets (from the master)
    std::uint16_t https_port = 0;                 ///< where --listen-http redirects to
    Telemetry* telemetry = nullptr;               ///< metrics and access log (worker/telemetry.hpp)
};

}  // namespace askr::worker
