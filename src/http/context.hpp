#pragma once
#include <cstddef>
#include <string_view>

#include <boost/asio/io_context.hpp>

#include "http/limits.hpp"
#include "http/request.hpp"
#include "http/response.hpp"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace askr::http {

class Connection;

/// What a worker learns from its connections (recycling, the accept policy, moving a
/// waiting request to an idle worker). Implemented by the worker.
class ConnectionEvents {
  public:
    virtual ~ConnectionEvents() = default;
    /// A request has been read and is about to be answered.
    virtual void request_started() = 0;
    /// A request counted by request_started() went to a peer unanswered.
    virtual void request_moved_away() = 0;
    /// A client connection has closed.
    virtual void connection_closed() = 0;
    /// `request` has just been read on a connection that may move: the slot of an idle
    /// peer to hand the connection to because the request would wait here, or -1 to
    /// serve it here. Cheap in the common case.
    virtual int move_target(const Request& request) = 0;
    /// Hands the connection `socket_fd`, with the bytes read and not yet answered, to
    /// `peer`. True when the peer has it: the caller closes its copy and forgets it.
    virtual bool move_connection(int peer, int socket_fd, std::string_view unread) = 0;
};

/// Where the protocols report requests for the metrics and the access log.
class RequestObserver {
  public:
    virtual ~RequestObserver() = default;
    /// True when requests must be timed.
    virtual bool timing() const = 0;
    /// A connection was accepted.
    virtual void connection_accepted() = 0;
    /// A whole request was read; it is in flight until request_finished().
    virtual void request_started() = 0;
    /// The request moved, unanswered, to another worker with its connection.
    virtual void request_moved() = 0;
    /// The request's response was written (or the client went away).
    virtual void request_finished(const Request& request, const RequestOutcome& outcome) = 0;
};

/// What every connection of a worker shares: the event loop, the limits, the observers
/// and the registry of open connections (timeouts, draining). I/O thread only.
struct Context {
    explicit Context(boost::asio::io_context& i) : io(i) {}

    boost::asio::io_context& io;
    Limits limits;
    Timeouts timeouts;
    ssl_ctx_st* tls = nullptr;  ///< TLS of the --listen sockets (from the master)
    ConnectionEvents* events = nullptr;
    RequestObserver* observer = nullptr;
    Connection* connections = nullptr;  ///< intrusive list of open connections
    std::size_t connection_count = 0;
    bool draining = false;  ///< stop taking requests, close idle connections
    void (*on_last_connection_closed)(Context&) = nullptr;  ///< called when draining ends
    void* owner = nullptr;                                  ///< for on_last_connection_closed
};

}  // namespace askr::http
