#pragma once
// nghttp2's callbacks for Session (internal to src/http/h2/: includes nghttp2.h).
#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <memory>

namespace askr::http::h2 {

class Session;
class Stream;

/// Owns an nghttp2_session_callbacks.
using CallbacksPtr =
    std::unique_ptr<nghttp2_session_callbacks, void (*)(nghttp2_session_callbacks*)>;

/// The callbacks nghttp2 calls while a Session feeds it bytes or takes frames from it;
/// user_data is the Session (they are its friends). None lets an exception out
/// (an exception must never cross into C code): a failure becomes NGHTTP2_ERR_CALLBACK_FAILURE.
struct Callbacks {
    /// The callback table for a server session.
    static CallbacksPtr make();
    /// The Session a callback runs for.
    static Session& session(void* user_data);
    /// The Stream of `id`, null when Askr does not track it (refused).
    static Stream* stream(nghttp2_session* s, std::int32_t id);
    /// A request's HEADERS begin: a new stream (or refused past the limits).
    static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user_data);
    /// One decoded request field: pseudo-headers, fields, header list limits.
    static int on_header(nghttp2_session* s, const nghttp2_frame* frame,
                         const std::uint8_t* name_data, std::size_t name_length,
                         const std::uint8_t* value_data, std::size_t value_length,
                         std::uint8_t flags, void* user_data);
    /// Request body bytes.
    static int on_data_chunk(nghttp2_session* s, std::uint8_t flags, std::int32_t id,
                             const std::uint8_t* data, std::size_t length, void* user_data);
    /// A whole frame received: end of headers, END_STREAM (the request is complete), RST_STREAM.
    static int on_frame_recv(nghttp2_session* s, const nghttp2_frame* frame, void* user_data);
    /// A frame sent: GOAWAY noted, early responses end the upload.
    static int on_frame_send(nghttp2_session* s, const nghttp2_frame* frame, void* user_data);
    /// A stream closed (done or reset).
    static int on_stream_close(nghttp2_session*, std::int32_t id, std::uint32_t error_code,
                               void* user_data);
    /// How much of the response body may go in the next DATA frame (the client's window).
    static ssize_t read_body(nghttp2_session* s, std::int32_t id, std::uint8_t* buffer,
                             std::size_t length, std::uint32_t* flags, nghttp2_data_source* source,
                             void* user_data);
    /// Writes a DATA frame into the write batch without copying its payload.
    static int send_data(nghttp2_session* s, nghttp2_frame* frame, const std::uint8_t* frame_head,
                         std::size_t length, nghttp2_data_source* source, void* user_data);
};

}  // namespace askr::http::h2
