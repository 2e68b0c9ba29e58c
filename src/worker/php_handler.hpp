#pragma once
#include <memory>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "http/context.hpp"
#include "http/handler.hpp"
#include "http/router.hpp"
#include "worker/exchange.hpp"

namespace askr::worker {

/// What the worker counts about its PHP thread's load (the accept policy reads it).
class PhpLoad {
  public:
    virtual ~PhpLoad() = default;
    /// A request was handed to the PHP thread.
    virtual void php_submitted() = 0;
    /// The PHP thread is done with a request.
    virtual void php_finished() = 0;
};

/// The chain's PHP stage: hands a request to the PHP thread through a mailbox (Exchange)
/// taken from a pool, and passes what the script produces to the response sink as it
/// comes (one write when the script finished before anything was sent). I/O thread only.
class PhpHandler {
  public:
    PhpHandler(boost::asio::io_context& io, PhpQueue& queue, Completions& completions,
               PhpLoad& load, const http::RequestObserver* observer,
               const http::RouterConfig& router, std::uint64_t spool_limit = 0);
    ~PhpHandler();
    PhpHandler(const PhpHandler&) = delete;
    PhpHandler& operator=(const PhpHandler&) = delete;

    /// Runs the script `route` names for `request`. Completes once the response is
    /// complete; a script still running after fastcgi_finish_request() goes on with the
    /// request (released from the sink) until PHP is done with it.
    boost::asio::awaitable<http::HandlerResult> serve(http::Request& request,
                                                      std::shared_ptr<const http::Route> route,
                                                      http::ResponseSink& sink);

  private:
    std::unique_ptr<Exchange> acquire();
    void recycle(std::unique_ptr<Exchange> exchange);
    boost::asio::awaitable<void> finish_detached(std::unique_ptr<Exchange> exchange,
                                                 std::unique_ptr<http::Request> request);

    boost::asio::io_context& io_;
    PhpQueue& queue_;
    Completions& completions_;
    PhpLoad& load_;
    const http::RequestObserver* observer_;
    const http::RouterConfig& router_;
    std::uint64_t spool_limit_;  // per response, for its exchanges (exchange.hpp)
    std::vector<std::unique_ptr<Exchange>> spare_;
};

}  // namespace askr::worker
