#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "http/request.hpp"
#include "php/engine.hpp"
#include "static/file_response.hpp"
#include "worker/exchange.hpp"
#include "worker/telemetry.hpp"

namespace askr::http::h2 {

/// One HTTP/2 stream: the request being assembled from HEADERS and DATA, then its
/// response body waiting for the client's flow-control window. Owned by the Session;
/// internal to src/http/h2/.
struct Stream {
    using Clock = std::chrono::steady_clock;
    /// Where the response body comes from.
    enum class Kind { none, memory, file, php };

    Stream(std::int32_t stream_id, std::unique_ptr<worker::Exchange> owned)
        : id(stream_id), exchange(std::move(owned)) {}

    /// The request (it lives in the exchange, which PHP reads it from).
    Request& request() { return exchange->request; }
    /// Sets `body` to the page Askr answers an error or redirect with.
    void set_simple_body(int status);
    /// Copies up to `length` body bytes into `out`; sets `eof` with the last ones. Returns
    /// the count, 0 when nothing is ready yet (PHP has not produced more), -1 on a read error.
    long read_body(char* out, std::size_t length, bool& eof);
    /// Bytes of the response ready but not yet sent (held back by the client's window).
    std::uint64_t pending_bytes() const;
    /// Takes PHP output (swapped out of `taken`); discarded at once for HEAD and 204/304.
    void append_output(std::string& taken, worker::Exchange& from);
    /// True while the PHP thread may still use the exchange.
    bool php_running() const { return php_submitted && !php_released; }

    const std::int32_t id;
    std::unique_ptr<worker::Exchange> exchange;
    Kind kind = Kind::none;
    std::string authority;         ///< :authority, becomes Host
    std::size_t header_bytes = 0;  ///< RFC 9113 section 6.5.2 size so far
    std::size_t header_count = 0;
    std::size_t body_memory = 0;    ///< bytes of the request body in memory (Session's budget)
    int error_status = 0;           ///< the request is refused with this status (413, 431, ...)
    bool headers_complete = false;  ///< the request's header block is complete
    bool request_complete = false;  ///< END_STREAM received
    bool dispatched = false;        ///< routed and answered (or handed to PHP)
    bool closed = false;            ///< nghttp2 closed the stream (reset or done)
    bool sending = false;           ///< a response body is being sent
    bool deferred = false;          ///< nghttp2 waits for resume_data (no output ready)
    bool discard_body = false;      ///< HEAD, 204, 304: PHP's output is dropped
    bool php_submitted = false;
    bool php_released = false;
    bool php_complete = false;        ///< PHP's whole output is in `body` (or sent)
    Clock::time_point opened;         ///< HEADERS began (header timeout)
    Clock::time_point last_received;  ///< last request bytes (body stall timeout)
    Clock::time_point last_progress;  ///< last response bytes sent (write stall timeout)
    worker::RequestOutcome outcome;   ///< for the metrics and the access log (worker/telemetry.hpp)
    std::chrono::steady_clock::time_point php_began;  ///< handed to PHP (outcome.php)

    std::string body;  ///< memory / PHP body not yet sent, from body_offset
    std::size_t body_offset = 0;
    static_files::FileResponse file;
    std::uint64_t file_offset = 0;
    std::uint64_t file_remaining = 0;
    php::ResponseHead php_head;
};

}  // namespace askr::http::h2
