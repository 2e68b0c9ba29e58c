#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/steady_timer.hpp>

#include "http/request.hpp"
#include "http/response.hpp"

namespace askr::http::h2 {

class Session;

/// One HTTP/2 stream: the request being assembled from HEADERS and DATA, then the chain's
/// ResponseSink for it (HEADERS, DATA frames as the client's window allows, END_STREAM).
/// Body bytes are never copied: a DATA frame's payload is written from the handler's
/// buffer (or read from the file straight into the write batch), and send() completes once
/// the socket write that carried its last byte has completed. Owned by the Session;
/// internal to src/http/h2/.
class Stream final : public ResponseSink {
  public:
    using Clock = std::chrono::steady_clock;

    Stream(Session& session, boost::asio::io_context& io);

    /// Makes the object serve stream `id` (a reused object starts over).
    void open(std::int32_t id, const Endpoints& endpoints);

    // --- ResponseSink ----------------------------------------------------------------
    boost::asio::awaitable<bool> interim(int status, const Fields& fields) override;
    boost::asio::awaitable<bool> send(const ResponseHead* head, std::string_view body,
                                      bool last) override;
    boost::asio::awaitable<bool> send_file(const ResponseHead* head, FileBody file) override;
    bool send_now(const ResponseHead& head, std::string_view body) override;
    bool head_sent() const override { return head_sent_; }
    RequestOutcome& outcome() override { return outcome_; }
    std::unique_ptr<Request> release_request() override;
    int socket_fd() const override;
    void cut() override;

    // --- for the Session and nghttp2's callbacks -------------------------------------
    /// The request being assembled.
    Request& request() { return *request_; }
    /// nghttp2 asks for up to `length` payload bytes: how many are ready (0: none yet),
    /// with `eof` set on the last ones. Nothing is copied here (NGHTTP2_DATA_FLAG_NO_COPY).
    std::size_t ready_bytes(std::size_t length, bool& eof) const;
    /// nghttp2 writes a DATA frame of `length` payload bytes: where they are. For a
    /// memory body, a pointer into the handler's buffer (valid until write_completed());
    /// for a file, null, the bytes read into `frames` at `at` (`frames` is left as it was
    /// when the file cannot be read).
    const char* take_bytes(std::size_t length, std::string& frames, std::size_t at);
    /// The frame carrying END_STREAM has been taken.
    void mark_complete() { complete_ = true; }
    /// True once the response's last byte has been handed to the writer.
    bool complete() const { return complete_; }
    /// True once the handler has given the whole response (it may still be on its way).
    bool ended() const { return complete_ || (last_ && owned_body_); }
    /// A socket write that carried this stream's bytes (or failed to) has completed.
    void write_completed();
    /// nghttp2 closed the stream (done, or reset by either side).
    void on_closed();
    /// Bytes of the response ready but not yet sent (held back by the client's window).
    std::uint64_t pending_bytes() const;
    /// True while the chain still runs for this stream (the object must live).
    bool busy() const { return handler_running || waiting_ || in_flight; }

    std::int32_t id = 0;
    std::string authority;         ///< :authority, becomes Host
    std::size_t header_bytes = 0;  ///< RFC 9113 section 6.5.2 size so far
    std::size_t header_count = 0;
    std::size_t body_memory = 0;      ///< bytes of the request body in memory (Session's budget)
    int error_status = 0;             ///< the request is refused with this status (413, 431, ...)
    bool headers_complete = false;    ///< the request's header block is complete
    bool request_complete = false;    ///< END_STREAM received
    bool dispatched = false;          ///< handed to the chain
    bool handler_running = false;     ///< the chain has not returned yet
    bool closed = false;              ///< nghttp2 closed the stream (reset or done)
    bool deferred = false;            ///< nghttp2 waits for resume_data (nothing ready)
    bool in_flight = false;           ///< a socket write in progress carries its bytes
    Clock::time_point opened;         ///< HEADERS began (header timeout)
    Clock::time_point last_received;  ///< last request bytes (body stall timeout)
    Clock::time_point last_progress;  ///< last response bytes sent (write stall timeout)

  private:
    boost::asio::awaitable<bool> submit(const ResponseHead& head, std::size_t first_bytes,
                                        bool last);
    boost::asio::awaitable<bool> wait_until_sent();
    bool submit_head(const ResponseHead& head, std::size_t first_bytes, bool last);
    // Makes `body` the piece being sent (copied into owned_ when `copy`, or small and last).
    void hold_body(std::string_view body, bool last, bool copy);

    Session& session_;
    std::unique_ptr<Request> request_;
    RequestOutcome outcome_;
    boost::asio::steady_timer sent_signal_;
    bool head_sent_ = false;
    bool complete_ = false;  // the last byte was handed over
    bool no_body_ = false;   // HEAD, 204, 304: body bytes are dropped
    bool waiting_ = false;   // send() waits in wait_until_sent()
    // The body being sent: handler memory, or a file range.
    std::string_view memory_;
    std::size_t memory_taken_ = 0;
    FileBody file_{};
    bool file_body_ = false;
    bool last_ = false;  // what is pending ends the response
    // A small last piece is copied here, so that the handler need not wait for the writer
    // (most answers are one small piece: waiting would cost an event-loop round each).
    std::string owned_;
    bool owned_body_ = false;  // memory_ points into owned_
};

}  // namespace askr::http::h2
