#pragma once
#include <string>

#include "http/context.hpp"
#include "http/handler.hpp"
#include "shm/scoreboard.hpp"

namespace askr::worker {

/// The paths a load balancer probes on the main listeners ([server] health_path and
/// ready_path; empty: not answered, the request goes on to the app).
struct HealthPaths {
    std::string health;  ///< 200 while this worker answers at all
    std::string ready;   ///< 200 while this worker takes new requests, 503 once it drains
    bool any() const { return !health.empty() || !ready.empty(); }
};

/// The first stage of a worker's chain when health paths are configured: answers them on
/// the I/O thread, without PHP and before routing, over either protocol. Every other
/// request goes on to `next` untouched. A worker is ready while it is not draining (a
/// graceful stop, a reload or --max-requests retiring it) and its scoreboard slot says it
/// serves (in worker mode, once the script reached askr_handle_request(); not while it fails).
class HealthStage final : public http::Handler {
  public:
    HealthStage(http::Handler& next, const HealthPaths& paths, const http::Context& context,
                const shm::WorkerSlot* slot)
        : next_(next), paths_(paths), context_(context), slot_(slot) {}

    boost::asio::awaitable<http::HandlerResult> handle(http::Request& request,
                                                       http::ResponseSink& sink) override;
    bool handle_now(http::Request& request, http::ResponseSink& sink) override;
    int refuse_before_body(const http::Request& request) override;

  private:
    bool probed(const http::Request& request) const;
    bool respond(const http::Request& request, http::ResponseSink& sink) const;
    bool ready() const;

    http::Handler& next_;
    const HealthPaths& paths_;
    const http::Context& context_;
    const shm::WorkerSlot* slot_;  // null: no scoreboard (the draining flag alone decides)
};

}  // namespace askr::worker
