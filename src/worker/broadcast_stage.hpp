#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>

#include "http/handler.hpp"

namespace askr::shm {
class BroadcastRing;
struct BroadcastSlot;
}  // namespace askr::shm

namespace askr::worker {

/// The limits and timings of subscriptions ([broadcast] in the configuration).
struct BroadcastSettings {
    std::size_t max_channel_length = 64;
    std::size_t max_channels = 16;
    std::size_t max_subscribers = 1000;  ///< per worker
    std::size_t buffer = 1 << 20;        ///< unsent bytes per subscriber
    std::chrono::seconds heartbeat{15};
    std::uint32_t retry_ms = 3000;
};

/// Appends event `id` (named `name` unless empty) in the event-stream format (WHATWG
/// HTML, "Server-sent events"): `id:`, `event:`, one `data:` line per line of `data`, then
/// a blank line.
void format_event(std::uint64_t id, std::string_view name, std::string_view data, std::string& out);

/// The path subscribers ask for.
inline constexpr std::string_view broadcast_path = "/askr/events";

/// The stage in front of routing that serves GET /askr/events?channel=A&channel=B as a
/// Server-Sent Events stream (docs/broadcast.md), over HTTP/1.1 (a chunked body) and
/// HTTP/2 (a stream) alike, through the same ResponseSink as every response; every other
/// request goes on to `next`. It also fans events out: one reader per worker follows the
/// shared ring (shm/broadcast_ring.hpp), woken through the slot's eventfd, formats each
/// event once and appends it to the buffer of each subscriber of its channel, then writes
/// each buffer straight to its socket where that can be done at once
/// (http::ResponseSink::try_send()); otherwise the subscriber's coroutine writes it, so a
/// slow client holds back only itself, and one whose buffer outgrows [broadcast] buffer is
/// cut off. I/O thread only.
class BroadcastStage final : public http::Handler {
  public:
    BroadcastStage(http::Handler& next, boost::asio::io_context& io, shm::BroadcastRing& ring,
                   std::size_t slot, const BroadcastSettings& settings);
    ~BroadcastStage() override;
    BroadcastStage(const BroadcastStage&) = delete;
    BroadcastStage& operator=(const BroadcastStage&) = delete;

    boost::asio::awaitable<http::HandlerResult> handle(http::Request& request,
                                                       http::ResponseSink& sink) override;
    bool handle_now(http::Request& request, http::ResponseSink& sink) override;
    int refuse_before_body(const http::Request& request) override;

    /// Starts following the ring (in the worker, on its I/O thread).
    void start();
    /// A drain has begun (stop, reload, recycling): every stream ends cleanly, so that
    /// EventSource reconnects (to another worker), and new subscriptions are refused.
    void close_all();

    struct Subscriber;  ///< one open stream (broadcast_stage.cpp)
    struct Fanout;      ///< the worker's reader of the ring (broadcast_stage.cpp)

  private:
    boost::asio::awaitable<void> serve(http::Request& request, http::ResponseSink& sink);

    http::Handler& next_;
    std::unique_ptr<Fanout> fanout_;
};

}  // namespace askr::worker
