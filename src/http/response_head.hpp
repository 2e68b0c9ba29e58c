#pragma once
#include <cstdint>
#include <optional>

#include "http/fields.hpp"

namespace askr::http {

/// A final response's head, the same for every protocol.
struct ResponseHead {
    int status = 200;
    Fields fields;  ///< never the connection-specific ones, nor Content-Length
    /// The body's length when the handler knows it before sending (a static file, a HEAD
    /// answer that declares the GET length); otherwise the protocol counts or streams.
    std::optional<std::uint64_t> content_length;
    /// The connection should carry no further request after this response (HTTP/1.1
    /// says Connection: close; HTTP/2 streams are independent and ignore it).
    bool close = false;

    /// Back to a 200 with no fields, keeping the buffers.
    void clear() {
        status = 200;
        fields.clear();
        content_length.reset();
        close = false;
    }
};

}  // namespace askr::http
