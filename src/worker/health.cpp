#include "worker/health.hpp"

#include <string_view>

namespace askr::worker {

namespace {

bool probe_method(const http::Request& request) {
    return request.method == "GET" || request.method == "HEAD";
}

// A plain-text answer a person reading a probe's log understands; never cached.
bool answer(http::ResponseSink& sink, int status, std::string_view body, bool allow = false) {
    http::ResponseHead head;
    head.status = status;
    head.fields.add("Content-Type", "text/plain; charset=utf-8");
    head.fields.add("Cache-Control", "no-store");
    if (allow) head.fields.add("Allow", "GET, HEAD");
    head.content_length = body.size();
    return sink.send_now(head, body);
}

}  // namespace

bool HealthStage::ready() const {
    if (context_.draining) return false;
    if (!slot_) return true;
    const auto state = slot_->state.load(std::memory_order_relaxed);
    return state == shm::WorkerState::idle || state == shm::WorkerState::busy;
}

bool HealthStage::probed(const http::Request& request) const {
    const std::string_view path = request.path();
    return (!paths_.health.empty() && path == paths_.health) ||
           (!paths_.ready.empty() && path == paths_.ready);
}

bool HealthStage::respond(const http::Request& request, http::ResponseSink& sink) const {
    if (!probe_method(request)) return answer(sink, 405, "use GET or HEAD\n", true);
    if (request.path() == paths_.health) return answer(sink, 200, "ok\n");
    if (ready()) return answer(sink, 200, "ready\n");
    if (context_.draining) return answer(sink, 503, "not ready: this worker is draining\n");
    if (slot_ && slot_->state.load(std::memory_order_relaxed) == shm::WorkerState::failing) {
        return answer(sink, 503,
                      "not ready: the worker script ended before askr_handle_request() (see "
                      "the log)\n");
    }
    return answer(sink, 503, "not ready: this worker is not serving yet\n");
}

bool HealthStage::handle_now(http::Request& request, http::ResponseSink& sink) {
    if (probed(request)) return respond(request, sink);
    return next_.handle_now(request, sink);
}

boost::asio::awaitable<http::HandlerResult> HealthStage::handle(http::Request& request,
                                                                http::ResponseSink& sink) {
    if (probed(request)) {
        respond(request, sink);
        co_return http::HandlerResult{};
    }
    co_return co_await next_.handle(request, sink);
}

int HealthStage::refuse_before_body(const http::Request& request) {
    if (probed(request)) return probe_method(request) ? 0 : 405;
    return next_.refuse_before_body(request);
}

}  // namespace askr::worker
