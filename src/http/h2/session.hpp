#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "http/connection.hpp"
#include "http/h2/response_fields.hpp"
#include "http/request.hpp"

struct nghttp2_session;  // nghttp2's session; <nghttp2/nghttp2.h> stays in session.cpp

namespace askr::worker {
class Exchange;
}

namespace askr::http::h2 {

struct Stream;     // one request/response exchange (session.cpp)
struct Callbacks;  // nghttp2's callbacks, friends of Session (session.cpp)

/// The protocol side of one HTTP/2 connection, independent of the transport: an
/// nghttp2 server session, its streams, and the hand-off of complete requests to the
/// static-file and PHP paths that HTTP/1 uses. The transport (plain TCP or TLS,
/// connection.cpp) feeds received bytes in, takes frames out, and runs the coroutines.
/// Neither copyable nor movable: nghttp2 holds a pointer to it.
class Session : public http::Connection {
  public:
    ~Session() override;

    void expire_if_idle() override;
    void on_deadline() override;

    /// Defaults of the server's HTTP/2 limits (RFC 9113 section 6.5.2), see docs/http2.md.
    // The concurrent-stream limit is [server] http2_max_streams (config::ServeOptions).
    static constexpr std::uint32_t initial_window_size = 256 * 1024;  ///< per stream
    static constexpr std::uint32_t connection_window_size = 1 << 20;  ///< whole connection
    static constexpr std::size_t body_memory_limit =
        1 << 20;  ///< larger bodies go to a temp file (as HTTP/1)...
    static constexpr std::size_t body_memory_budget =
        4 << 20;  ///< ... and so do bodies past this per connection
    static constexpr unsigned rapid_reset_limit = 200;             ///< client resets per window ...
    static constexpr std::chrono::seconds rapid_reset_window{10};  ///< ... before ENHANCE_YOUR_CALM

  protected:
    Session(worker::Context& context, const Endpoints& endpoints, int socket_fd);

    /// Feeds bytes read from the client to nghttp2; false when the connection must close
    /// (after what is queued, a GOAWAY, has been written).
    bool receive(const char* data, std::size_t length);
    /// Appends frames ready to go out to `out`, up to about `limit` bytes.
    void produce(std::string& out, std::size_t limit);
    /// True when nothing more will be sent or received: close once `out` is written.
    bool finished() const;
    /// Suspends the writer until there may be something to send.
    boost::asio::awaitable<void> wait_for_output();
    /// Wakes the writer (new frames may be ready).
    void wake_writer();
    /// The transport is gone: PHP requests still running see a client that went away.
    void transport_closed();
    /// Suspends until the PHP thread has released every request of this connection.
    boost::asio::awaitable<void> wait_for_php();

    bool closing_ = false;  ///< GOAWAY queued or the client left: close when written
    bool aborted_ = false;  ///< abort() ran
    bool writing_ = false;  ///< a socket write is in progress (since write_began_)
    Clock::time_point write_began_{};

  private:
    friend struct Callbacks;
    struct SessionFree {
        void operator()(nghttp2_session* session) const noexcept;
    };

    Stream* open_stream(std::int32_t id);
    void dispatch(Stream& stream);
    void respond_simple(Stream& stream, int status, std::string_view fields = {});
    void serve_static(Stream& stream);
    void serve_php(Stream& stream);
    boost::asio::awaitable<void> pump_php(Stream& stream);
    /// Submits a response head ("Name: value\r\n" fields); with_body: a DATA source follows.
    bool submit_head(Stream& stream, int status, std::string_view fields,
                     std::int64_t content_length, bool with_body);
    void stream_closed(std::int32_t id, std::uint32_t error_code);
    void erase_stream(std::int32_t id);
    void stream_reset();
    void goaway(std::uint32_t error_code, bool immediately);
    void update_deadline();
    std::unique_ptr<worker::Exchange> take_exchange();

    std::unique_ptr<nghttp2_session, SessionFree> session_;
    Endpoints endpoints_;
    int socket_fd_;
    std::unordered_map<std::int32_t, std::unique_ptr<Stream>> streams_;  // open, or waiting for PHP
    std::vector<std::unique_ptr<worker::Exchange>> spare_exchanges_;
    boost::asio::steady_timer output_signal_;
    bool output_wanted_ = false;
    boost::asio::steady_timer php_signal_;
    std::size_t php_running_ = 0;  // PHP requests not yet released by the PHP thread
    Clock::time_point idle_since_;
    Clock::time_point reset_window_start_{};
    unsigned resets_in_window_ = 0;
    std::size_t body_memory_in_use_ = 0;  // request bodies held in memory, all streams
    bool goaway_sent_ = false;
    bool shutdown_noticed_ = false;  // drain: the first GOAWAY (last stream 2^31-1) is queued
    bool final_goaway_ = false;      // drain: the GOAWAY naming the last stream is queued
    Clock::time_point shutdown_notice_time_{};
    ResponseFields response_fields_;
};

}  // namespace askr::http::h2
