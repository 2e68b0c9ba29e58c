#pragma once
#include <boost/asio/awaitable.hpp>

#include "http/request.hpp"
#include "http/response.hpp"

namespace askr::http {

/// What became of a request besides its response.
struct HandlerResult {
    /// The request was taken back unanswered, to be served by the worker in this slot
    /// with its connection (only for a request marked Request::movable); -1: answered.
    int move_to = -1;
};

/// The protocol-neutral handler chain, as the protocols see it: HTTP/1.1 and HTTP/2 parse
/// a request, then hand it here with their ResponseSink. Routing, static files, PHP,
/// redirects and error pages are behind it (src/worker/chain.cpp wires them).
class Handler {
  public:
    virtual ~Handler() = default;
    /// Answers `request` through `sink`. Completes once the response is complete (or the
    /// client is gone); the request may be released to live on (ResponseSink).
    virtual boost::asio::awaitable<HandlerResult> handle(Request& request, ResponseSink& sink) = 0;
    /// Answers `request` through `sink` at once when the answer is ready in memory (a
    /// small static file, a redirect, an error page), and says so; false: only handle()
    /// can answer it, and nothing was sent. Never suspends, so a protocol may call it
    /// before it starts a coroutine for the request; handle() begins with it too.
    virtual bool handle_now(Request& request, ResponseSink& sink) = 0;
    /// Called when a client asks for 100 Continue before sending its body (RFC 9110
    /// section 10.1.1): the status the request will be refused with anyway (404, 405,
    /// 413, ...), so that the client is not invited to send a body that is then thrown
    /// away, or 0 to invite it. The headers are complete; the body is not there yet.
    virtual int refuse_before_body(const Request& request) = 0;
};

/// Askr's own page for `status` into `head` (which should be clear) and `body`: a short
/// HTML body naming the status, plus `fields`.
void status_page(int status, const Fields& fields, bool close, ResponseHead& head,
                 std::string& body);

/// Answers with an error or redirect page Askr produces itself (a short HTML body naming
/// the status), plus `fields` (Location, Allow, ...).
boost::asio::awaitable<bool> respond_with_status(ResponseSink& sink, int status,
                                                 const Fields& fields = {}, bool close = false);
/// respond_with_status() through ResponseSink::send_now().
bool respond_with_status_now(ResponseSink& sink, int status, const Fields& fields = {},
                             bool close = false);

}  // namespace askr::http
