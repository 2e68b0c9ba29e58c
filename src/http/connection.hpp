#pragma once
#include <chrono>

#include "http/context.hpp"

namespace askr::http {

/// An open client connection of any protocol, as the worker sees it: registered in
/// Context::connections (for timeouts and draining) from construction to destruction.
/// HTTP/1 and HTTP/2 connections derive from it. Lives on the I/O thread.
class Connection {
  public:
    using Clock = std::chrono::steady_clock;

    virtual ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    /// Time after which the worker's once-a-second sweep calls on_deadline().
    Clock::time_point deadline() const { return deadline_; }
    /// The deadline has passed: by default the client has taken too long and the
    /// connection is aborted; HTTP/2 also checks its streams here.
    virtual void on_deadline() { abort(); }
    /// A drain has begun: an idle connection closes soon, a busy one after its requests,
    /// telling its client (Connection: close, GOAWAY).
    virtual void expire_if_idle() = 0;
    /// Closes the connection now (timeout, shutdown): pending operations are cancelled.
    virtual void abort() = 0;

    Connection* prev = nullptr;  ///< registry links (Context::connections)
    Connection* next = nullptr;
    /// Set when another Connection object takes the socket over (HTTP/1 → HTTP/2): this
    /// one's end is then not the client connection's end.
    bool handed_over = false;

  protected:
    explicit Connection(Context& context);
    void set_deadline(std::chrono::seconds from_now) { deadline_ = Clock::now() + from_now; }
    /// The client stopped taking the response: its close is a reset, so the kernel drops
    /// what it still holds for the client (megabytes, on a fast link) instead of keeping
    /// it, orphaned, for a reader that never comes.
    static void reset_on_close(int socket_fd);

    Context& context_;
    Clock::time_point deadline_;
};

}  // namespace askr::http
