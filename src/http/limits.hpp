#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace askr::http {

/// Bounds on what one request may hold, the same for HTTP/1 and HTTP/2; past them the
/// request is refused with the status named.
struct Limits {
    std::size_t max_target_bytes = 8 * 1024;   ///< request-target length, else 414
    std::size_t max_header_bytes = 32 * 1024;  ///< all field names and values, else 431
    std::size_t max_header_count = 100;        ///< number of fields, else 431
    std::uint64_t max_body_bytes = 8 << 20;    ///< body (also chunked), else 413
    std::uint32_t h2_max_streams = 100;        ///< HTTP/2 concurrent streams per connection
};

/// How long a client may take at each step before its connection is closed.
struct Timeouts {
    std::chrono::seconds header{15};         ///< first byte of a request to the end of its head
    std::chrono::seconds keepalive{60};      ///< idle between requests
    std::chrono::seconds body{60};           ///< longest pause while a body arrives
    std::chrono::seconds write{60};          ///< longest stall writing to the client
    std::chrono::seconds tls_handshake{10};  ///< connect to the end of the TLS handshake
    /// Bytes a second a client must take a response at while the server waits on it,
    /// judged over SendRate::window of waiting (http/send_rate.hpp); 0 = not checked.
    std::uint64_t min_send_rate = 1024;
};

}  // namespace askr::http
