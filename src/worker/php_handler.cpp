#include "worker/php_handler.hpp"

#include <boost/asio/co_spawn.hpp>

#include "core/log.hpp"

namespace askr::worker {

namespace asio = boost::asio;

PhpHandler::PhpHandler(asio::io_context& io, PhpQueue& queue, Completions& completions,
                       PhpLoad& load, const http::RequestObserver* observer,
                       const http::RouterConfig& router, std::uint64_t spool_limit)
    : io_(io),
      queue_(queue),
      completions_(completions),
      load_(load),
      observer_(observer),
      router_(router),
      spool_limit_(spool_limit) {}

PhpHandler::~PhpHandler() = default;

std::unique_ptr<Exchange> PhpHandler::acquire() {
    if (spare_.empty()) return std::make_unique<Exchange>(io_, completions_, spool_limit_);
    auto exchange = std::move(spare_.back());
    spare_.pop_back();
    return exchange;
}

void PhpHandler::recycle(std::unique_ptr<Exchange> exchange) {
    exchange->route.reset();
    exchange->script.request = nullptr;
    exchange->drop_spool();
    if (spare_.size() < 64) spare_.push_back(std::move(exchange));
}

asio::awaitable<http::HandlerResult> PhpHandler::serve(http::Request& request,
                                                       std::shared_ptr<const http::Route> route,
                                                       http::ResponseSink& sink) {
    auto exchange = acquire();
    exchange->begin(request, sink.socket_fd());
    exchange->route = std::move(route);
    const http::Route& r = *exchange->route;
    exchange->script.target = {r.file, r.script_name, r.path_info, router_.root};
    sink.outcome().kind = shm::ResponseKind::php;
    const bool timing = observer_ && observer_->timing();
    const auto began =
        timing ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    queue_.submit(*exchange);
    load_.php_submitted();

    const bool head_request = request.method == "HEAD";
    php::ResponseHead& head = exchange->taken_head;
    std::string& body = exchange->taken_body;
    bool failed = false;
    bool finished = false;
    bool released = false;
    for (;;) {
        if (exchange->withdrawn_to >= 0) {
            // An idle worker asked for a waiting request and this one was taken back from
            // the PHP queue before it started (worker/handoff.hpp): its connection moves.
            const int peer = exchange->withdrawn_to;
            recycle(std::move(exchange));
            co_return http::HandlerResult{peer};
        }
        body.clear();
        const auto progress = exchange->take(head, body);
        const std::size_t taken = body.size();
        // The PHP thread is free before the client has its answer: say so now, or a client
        // that reconnects at once finds this worker still counted busy (accept policy).
        if (progress.released && !released) load_.php_finished();
        if ((progress.released || progress.complete) && timing && !finished) {
            sink.outcome().php = std::chrono::steady_clock::now() - began;  // before the last send
        }
        if (progress.interims && !failed && !finished) {
            // 103 Early Hints and the like (RFC 8297): before the head, in the order the
            // script asked for them; the sink drops what its client cannot take.
            for (const auto& interim : exchange->taken_interims)
                co_await sink.interim(interim.status, interim.fields);
        }
        if (!failed && !finished && (progress.head || taken > 0 || progress.complete)) {
            // A length the script declared only answers HEAD (RFC 9110 section 9.3.2); a
            // body is framed as it actually comes.
            if (progress.head && !head_request) head.content_length.reset();
            if (!co_await sink.send(progress.head ? &head : nullptr, body, progress.complete)) {
                failed = true;
                exchange->mark_client_gone();
            }
            finished = progress.complete;
        }
        exchange->written(taken);
        // PHP may be done while its output is still spooled (exchange.hpp): send on
        // until the response is complete, the client gone, or nothing more comes.
        if (progress.released && (finished || failed || taken == 0)) break;
        released = progress.released;
        if (finished && !failed) {
            // fastcgi_finish_request(): the client has its whole response while the script
            // goes on (deferred updates, jobs). The connection goes on too, as behind
            // php-fpm, and the request lives with the script until PHP releases it.
            exchange->detach();
            asio::co_spawn(io_, finish_detached(std::move(exchange), sink.release_request()),
                           core::log_coroutine_exception);
            co_return http::HandlerResult{};
        }
        if (!released && !progress.more) co_await exchange->wait();
    }
    recycle(std::move(exchange));
    co_return http::HandlerResult{};
}

// The PHP thread still runs the script of `exchange` (its response is complete): keep the
// exchange and the request alive until PHP releases them, then count PHP as done.
asio::awaitable<void> PhpHandler::finish_detached(std::unique_ptr<Exchange> exchange,
                                                  std::unique_ptr<http::Request> request) {
    for (;;) {
        exchange->taken_body.clear();
        const auto progress = exchange->take(exchange->taken_head, exchange->taken_body);
        exchange->written(exchange->taken_body.size());
        if (progress.released) break;
        co_await exchange->wait();
    }
    load_.php_finished();
    recycle(std::move(exchange));
    request.reset();
}

}  // namespace askr::worker
