#pragma once
#include <sys/uio.h>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "http/connection.hpp"
#include "http/handler.hpp"
#include "http/request.hpp"
#include "http/send_rate.hpp"

struct nghttp2_session;  // nghttp2's session; <nghttp2/nghttp2.h> stays in src/http/h2/*.cpp

namespace askr::http::h2 {

class Stream;
struct Callbacks;  // nghttp2's callbacks, friends of Session (callbacks.cpp)

/// What one socket write carries: frames nghttp2 serialised (copied into `frames`) and
/// DATA payloads that stay where they are (the handlers' buffers), gathered into one
/// writev.
struct OutputBatch {
    /// One piece of the write: bytes of `frames` from `offset`, or `external` memory.
    struct Piece {
        const char* external;
        std::size_t offset;
        std::size_t length;
    };
    std::string frames;
    std::vector<Piece> pieces;
    std::vector<Stream*> streams;  ///< streams whose bytes are in this write
    std::size_t bytes = 0;

    void clear() {
        frames.clear();
        pieces.clear();
        streams.clear();
        bytes = 0;
    }
    bool empty() const { return bytes == 0; }
    /// Copies `length` bytes into `frames`.
    void append_copy(const void* data, std::size_t length);
    /// Adds `length` bytes of `frames` just written there from `offset`.
    void append_frames(std::size_t offset, std::size_t length);
    /// Adds memory that stays valid until the write completes.
    void append_external(const char* data, std::size_t length);
    /// The pieces as iovecs (valid until `frames` changes).
    void to_iovecs(std::vector<iovec>& out) const;
};

/// The protocol side of one HTTP/2 connection, independent of the transport: an nghttp2
/// server session and its streams, each request handed to the handler chain with its
/// stream as the ResponseSink. The transport (plain TCP or TLS, connection.cpp) feeds
/// received bytes in, takes write batches out, and runs the coroutines. Neither copyable
/// nor movable: nghttp2 holds a pointer to it.
class Session : public http::Connection {
  public:
    ~Session() override;

    void expire_if_idle() override;
    void on_deadline() override;

    /// Defaults of the server's HTTP/2 limits (RFC 9113 section 6.5.2), see docs/http2.md.
    // The concurrent-stream limit is Limits::h2_max_streams.
    static constexpr std::uint32_t initial_window_size = 256 * 1024;  ///< per stream
    static constexpr std::uint32_t connection_window_size = 1 << 20;  ///< whole connection
    static constexpr std::size_t body_memory_limit =
        1 << 20;  ///< larger bodies go to a temp file (as HTTP/1)...
    static constexpr std::size_t body_memory_budget =
        4 << 20;  ///< ... and so do bodies past this per connection
    static constexpr std::size_t max_spare_streams = 32;           ///< kept for reuse
    static constexpr unsigned rapid_reset_limit = 200;             ///< client resets per window ...
    static constexpr std::chrono::seconds rapid_reset_window{10};  ///< ... before ENHANCE_YOUR_CALM

    // --- for the streams ---------------------------------------------------------------
    /// Submits a response head; `data_follows`: DATA frames come from the stream (else the
    /// HEADERS frame ends the stream). False when nghttp2 refuses it.
    bool submit_response(Stream& stream, const ResponseHead& head,
                         const std::optional<std::uint64_t>& length, bool data_follows);
    /// Submits a 1xx interim response on the stream.
    bool submit_interim(Stream& stream, int status, const Fields& fields);
    /// The stream has new body bytes for nghttp2 (it had deferred).
    void resume(Stream& stream);
    /// Resets the stream (RST_STREAM CANCEL), as a stream whose client stalled is.
    void reset_stream(Stream& stream);
    /// Wakes the writer (new frames may be ready).
    void wake_writer();
    /// The socket of the connection (a running script polls it for a hang-up).
    int socket_fd() const { return socket_fd_; }
    /// The event loop.
    boost::asio::io_context& io() { return context_.io; }

  protected:
    Session(Context& context, const Endpoints& endpoints, int socket_fd, Handler& handler);

    /// Feeds bytes read from the client to nghttp2; false when the connection must close
    /// (after what is queued, a GOAWAY, has been written).
    bool receive(const char* data, std::size_t length);
    /// Fills `batch` with what is ready to go out, up to about `limit` bytes.
    void produce(OutputBatch& batch, std::size_t limit);
    /// The write of `batch` has completed (or failed): the streams in it go on.
    void batch_written(OutputBatch& batch);
    /// True when nothing more will be sent or received: close once `out` is written.
    bool finished() const;
    /// Suspends the writer until there may be something to send.
    boost::asio::awaitable<void> wait_for_output();
    /// The transport is gone: every stream is closed; running handlers see the client gone.
    void transport_closed();
    /// Suspends until no handler runs for any stream (a script may still poll the socket).
    boost::asio::awaitable<void> wait_for_streams();

    bool closing_ = false;  ///< GOAWAY queued or the client left: close when written
    bool aborted_ = false;  ///< abort() ran
    bool writing_ = false;  ///< a socket write is in progress (since write_began_)
    Clock::time_point write_began_{};
    std::uint64_t sent_ = 0;  ///< bytes the client has taken (socket writes, counted as they go)
    SendRate send_rate_;      ///< judged while a write or a stream's response waits on the client

  private:
    friend struct Callbacks;
    struct SessionFree {
        void operator()(nghttp2_session* session) const noexcept;
    };

    Stream* open_stream(std::int32_t id);
    void dispatch(Stream& stream);
    boost::asio::awaitable<void> run_chain(Stream& stream);
    void handler_returned(Stream& stream);
    int send_data(const std::uint8_t* frame_head, std::size_t length, std::size_t padding,
                  bool end_stream, Stream& stream);
    void stream_closed(std::int32_t id, std::uint32_t error_code);
    void release_if_done(Stream& stream);
    void stream_reset();
    void goaway(std::uint32_t error_code, bool immediately);
    void update_deadline();
    void append_fields(const Fields& fields);

    std::unique_ptr<nghttp2_session, SessionFree> session_;
    Endpoints endpoints_;
    int socket_fd_;
    Handler& handler_;
    using StreamMap = std::unordered_map<std::int32_t, std::unique_ptr<Stream>>;
    StreamMap streams_;  // open, or their handler runs
    // Streams that went, kept with their map node for the next ones: opening a stream then
    // allocates nothing.
    std::vector<StreamMap::node_type> spare_streams_;
    OutputBatch* batch_ = nullptr;  // the batch produce() fills (send_data() appends to it)
    boost::asio::steady_timer output_signal_;
    bool output_wanted_ = false;
    boost::asio::steady_timer streams_signal_;
    std::size_t busy_streams_ = 0;  // streams whose handler runs
    Clock::time_point idle_since_;
    Clock::time_point reset_window_start_{};
    unsigned resets_in_window_ = 0;
    std::size_t body_memory_in_use_ = 0;  // request bodies held in memory, all streams
    bool goaway_sent_ = false;
    bool shutdown_noticed_ = false;  // drain: the first GOAWAY (last stream 2^31-1) is queued
    bool final_goaway_ = false;      // drain: the GOAWAY naming the last stream is queued
    Clock::time_point shutdown_notice_time_{};
    std::vector<char> names_;  // lower-cased response field names for nghttp2
};

}  // namespace askr::http::h2
