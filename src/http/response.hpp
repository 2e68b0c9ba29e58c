#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "http/request.hpp"
#include "http/response_head.hpp"
#include "shm/metrics.hpp"

// The response side of the one handler chain: what handlers produce and the interface
// each protocol implements to put it on the wire (docs/architecture.md, "The handler
// chain").
namespace askr::http {

/// How one request was answered, for the metrics and the access log: the protocol
/// records status and bytes, handlers record what kind of response it was.
struct RequestOutcome {
    int status = 0;
    shm::ResponseKind kind = shm::ResponseKind::other;
    std::uint64_t bytes_in = 0;                     ///< bytes read for this request
    std::uint64_t bytes_out = 0;                    ///< bytes written, head included
    std::uint64_t head_bytes = 0;                   ///< of which the response head
    std::chrono::steady_clock::time_point began{};  ///< request read completely
    std::chrono::steady_clock::duration php{};      ///< hand-off to PHP's release
};

/// A range of an open file sent as a response body.
struct FileBody {
    int fd = -1;  ///< stays open (owned by the caller) until send_file() completes
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
};

/// How a ResponseSink::try_send() went.
enum class TrySend {
    sent,     ///< all of it is on the wire
    held,     ///< part of it is on the wire and the sink holds the rest: send() writes it
    not_now,  ///< nothing was sent: send() it (the transport cannot write it at once)
};

/// Where a response goes: implemented once per protocol (HTTP/1.1 frames it with
/// Content-Length or chunked coding, HTTP/2 as HEADERS and DATA frames), and by filters
/// that transform a response on its way (they wrap another sink). Handlers call it and
/// never ask which protocol is underneath. All calls happen on the I/O thread, in order:
/// any interim() calls, then send()/send_file() with the head on the first call.
class ResponseSink {
  public:
    virtual ~ResponseSink() = default;
    /// Sends an interim (1xx) response, such as 103 Early Hints, before the final head.
    /// False when it was not sent (the client cannot take it, or the response has begun).
    virtual boost::asio::awaitable<bool> interim(int status, const Fields& fields) = 0;
    /// Sends body bytes, preceded by `head` on the first call (non-null exactly then);
    /// `last` ends the response. Completes once the bytes are written or queued within
    /// the protocol's bound (slow clients hold the caller back); false once the client is
    /// gone. Bytes of a response that has no body (HEAD, 204, 304) are dropped here.
    virtual boost::asio::awaitable<bool> send(const ResponseHead* head, std::string_view body,
                                              bool last) = 0;
    /// Sends `file` as the rest of the body, preceded by `head` if non-null, and ends the
    /// response (sendfile where the transport allows it).
    virtual boost::asio::awaitable<bool> send_file(const ResponseHead* head, FileBody file) = 0;
    /// Sends a whole response whose body is in memory, without waiting: the sink copies
    /// what it cannot write at once and writes it by itself after. For the answers the
    /// chain has ready at once (Handler::handle_now()). False once the client is gone.
    virtual bool send_now(const ResponseHead& head, std::string_view body) = 0;
    /// True once the head has been sent (an error can then no longer be a status).
    virtual bool head_sent() const = 0;
    /// The request's outcome record (metrics, access log).
    virtual RequestOutcome& outcome() = 0;
    /// The request outlives its response (a script goes on after fastcgi_finish_request()):
    /// the caller owns it from here, and the connection reads its next request into a
    /// new object.
    virtual std::unique_ptr<Request> release_request() = 0;
    /// The client connection's socket, polled by a running script to learn that the client
    /// hung up (connection_aborted()); -1 when there is none to poll.
    virtual int socket_fd() const = 0;
    /// Sends body bytes of a response whose head has been sent, at once and without waiting,
    /// when the transport can take them now; never while a send() is under way. For bytes
    /// that go to many clients at once (an event to every subscriber): no coroutine, no
    /// copy, one system call. After `held` the caller must send() (an empty body will do)
    /// before anything else; after `not_now` it sends the same bytes with send(). By
    /// default `not_now`: a transport that frames or encrypts per write (HTTP/2, TLS)
    /// writes through send().
    virtual TrySend try_send(std::string_view body) {
        (void)body;
        return TrySend::not_now;
    }
    /// Ends the response now, unfinished, from outside the coroutine that writes it (a
    /// subscriber that stopped reading): HTTP/1.1 closes the connection, HTTP/2 resets the
    /// stream, and a send() waiting on the client completes with false. By default
    /// nothing: a sink without a connection of its own has nothing to cut.
    virtual void cut() {}
};

/// How a response body is delimited, decided once per response from its head and its
/// first send() (RFC 9110 section 6.4.1, RFC 9112 section 6.3): the same rule for every
/// protocol.
struct BodyFraming {
    bool body = true;  ///< false: no body follows (HEAD, 1xx, 204, 304); bytes are dropped
    /// The Content-Length to announce; none while a body streams (chunked in HTTP/1.1,
    /// DATA frames until END_STREAM in HTTP/2).
    std::optional<std::uint64_t> content_length;
};

/// The framing of a response to `request` with `head`, whose first send() carries
/// `first_bytes` bytes and is the last one when `last`.
BodyFraming decide_framing(const Request& request, const ResponseHead& head,
                           std::size_t first_bytes, bool last);

}  // namespace askr::http
