#include "http/h2/callbacks.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "http/h2/session.hpp"
#include "http/h2/stream.hpp"

namespace askr::http::h2 {

namespace {

// Runs a callback body; no exception may cross into nghttp2 (C code cannot unwind it).
template <class F>
int guarded(const char* what, F&& body) noexcept {
    try {
        return body();
    } catch (const std::exception& e) {
        spdlog::warn("h2: {}: {}", what, e.what());
    } catch (...) {
        spdlog::warn("h2: {}: unknown exception", what);
    }
    return NGHTTP2_ERR_CALLBACK_FAILURE;
}

bool is_pseudo(std::string_view name) {
    return !name.empty() && name.front() == ':';
}

}  // namespace

// nghttp2's callbacks (nghttp2.h, "Callbacks"); user_data is the Session.
CallbacksPtr Callbacks::make() {
    nghttp2_session_callbacks* callbacks = nullptr;
    if (nghttp2_session_callbacks_new(&callbacks) != 0) throw std::bad_alloc();
    CallbacksPtr owned(callbacks, nghttp2_session_callbacks_del);
    nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, on_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_stream_close);
    nghttp2_session_callbacks_set_send_data_callback(callbacks, send_data);
    return owned;
}

Session& Callbacks::session(void* user_data) {
    return *static_cast<Session*>(user_data);
}
Stream* Callbacks::stream(nghttp2_session* s, std::int32_t id) {
    return static_cast<Stream*>(nghttp2_session_get_stream_user_data(s, id));
}

int Callbacks::on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    return guarded("begin headers", [&] {
        if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
            return 0;
        session(user_data).open_stream(frame->hd.stream_id);
        return 0;
    });
}

// RFC 9113 section 8.2: names arrive lower-case and validated (nghttp2 checks them).
int Callbacks::on_header(nghttp2_session* s, const nghttp2_frame* frame,
                         const std::uint8_t* name_data, std::size_t name_length,
                         const std::uint8_t* value_data, std::size_t value_length, std::uint8_t,
                         void* user_data) {
    return guarded("header", [&] {
        Stream* st = stream(s, frame->hd.stream_id);
        if (!st || st->error_status != 0 || frame->hd.type != NGHTTP2_HEADERS) return 0;
        if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;  // trailers: not passed on
        const std::string_view name(reinterpret_cast<const char*>(name_data), name_length);
        const std::string_view value(reinterpret_cast<const char*>(value_data), value_length);
        const auto& limits = session(user_data).context_.limits;
        // RFC 9113 section 6.5.2: a field's size is its name, its value and 32.
        st->header_bytes += name_length + value_length + 32;
        if (st->header_bytes > limits.max_header_bytes ||
            ++st->header_count > limits.max_header_count) {
            st->error_status = 431;
            return 0;
        }
        Request& request = st->request();
        if (!is_pseudo(name)) {
            // RFC 9113 section 8.3.1: :authority (sent before any field) wins over Host.
            if (name == "host" && !st->authority.empty()) return 0;
            request.add_header(name, value);
        } else if (name == ":method") {
            request.method.assign(value);
        } else if (name == ":path") {
            if (value.size() > limits.max_target_bytes) st->error_status = 414;
            request.target.assign(value);
        } else if (name == ":authority") {
            st->authority.assign(value);
        }
        return 0;
    });
}

int Callbacks::on_data_chunk(nghttp2_session* s, std::uint8_t, std::int32_t id,
                             const std::uint8_t* data, std::size_t length, void* user_data) {
    return guarded("data", [&] {
        Stream* st = stream(s, id);
        if (!st || st->dispatched) return 0;
        st->last_received = Session::Clock::now();
        st->outcome().bytes_in += length;
        if (st->error_status != 0) return 0;
        Request& request = st->request();
        if (request.body_length() + length > session(user_data).context_.limits.max_body_bytes) {
            st->error_status = 413;  // answered at once: the client need not send the rest
            session(user_data).dispatch(*st);
            return 0;
        }
        // Bodies stay in memory up to 1 MiB each as with HTTP/1, but all the streams of a
        // connection together hold at most body_memory_budget: past it they spool.
        Session& self = session(user_data);
        const std::size_t budget_left = Session::body_memory_budget - self.body_memory_in_use_;
        const std::size_t memory_limit =
            std::min(Session::body_memory_limit, request.body.size() + budget_left);
        if (!request.append_body(reinterpret_cast<const char*>(data), length, memory_limit)) {
            spdlog::warn("h2: cannot spool a request body to a temporary file: {}",
                         std::strerror(errno));
            st->error_status = 500;
        }
        self.body_memory_in_use_ = self.body_memory_in_use_ - st->body_memory + request.body.size();
        st->body_memory = request.body.size();
        return 0;
    });
}

int Callbacks::on_frame_recv(nghttp2_session* s, const nghttp2_frame* frame, void* user_data) {
    return guarded("frame", [&] {
        Session& self = session(user_data);
        switch (frame->hd.type) {
            case NGHTTP2_HEADERS:
            case NGHTTP2_DATA:
                break;
            default:
                return 0;
        }
        Stream* st = stream(s, frame->hd.stream_id);
        if (!st) return 0;
        if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
            // :authority stands for Host (RFC 9113 section 8.3.1).
            Request& request = st->request();
            if (!st->authority.empty()) {
                request.add_header("host", st->authority);
            }
            drop_fragment(request.target);
            if (st->error_status == 0) {
                // The same answers as over HTTP/1.1 (h1/parser.cpp): no tunnels, and only a
                // Host that is a host.
                // Methods are case-sensitive (RFC 9110 section 9.1): "get" is not GET, and
                // no method this server knows has a lower-case letter.
                const bool lower_case = std::any_of(request.method.begin(), request.method.end(),
                                                    [](char c) { return c >= 'a' && c <= 'z'; });
                if (request.method == "CONNECT" || lower_case) {
                    st->error_status = 501;
                } else if (const auto host = request.header("host");
                           !host.empty() && !is_valid_host(host)) {
                    st->error_status = 400;
                }
            }
            st->headers_complete = true;
            st->last_received = Session::Clock::now();
            // RFC 9110 section 10.1.1: a client waiting for 100 Continue before its body
            // gets it, unless the request is refused anyway (an early error, such as 431,
            // or what the chain says: 404, 405, 413), which then answers at once.
            if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0 && st->error_status == 0 &&
                request.header("expect") == "100-continue") {
                st->error_status = self.handler_.refuse_before_body(request);
                if (st->error_status != 0) {
                    self.dispatch(*st);
                    return 0;
                }
                static const char status[] = ":status", code[] = "100";
                nghttp2_nv nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(status)),
                              reinterpret_cast<std::uint8_t*>(const_cast<char*>(code)),
                              sizeof status - 1, sizeof code - 1, NGHTTP2_NV_FLAG_NONE};
                nghttp2_submit_headers(s, NGHTTP2_FLAG_NONE, st->id, nullptr, &nv, 1, nullptr);
                self.wake_writer();
            }
        }
        if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
            st->request_complete = true;
            if (!st->dispatched) self.dispatch(*st);
        }
        return 0;
    });
}

int Callbacks::on_frame_send(nghttp2_session* s, const nghttp2_frame* frame, void* user_data) {
    return guarded("frame sent", [&] {
        if (frame->hd.type == NGHTTP2_GOAWAY) session(user_data).goaway_sent_ = true;
        if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) return 0;
        if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
        Stream* st = stream(s, frame->hd.stream_id);
        // The response is complete while the request is not (an early 413): RFC 9113
        // section 8.1 lets the server stop the rest of the body with RST_STREAM(NO_ERROR).
        if (st && !st->request_complete)
            nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
        return 0;
    });
}

int Callbacks::on_stream_close(nghttp2_session*, std::int32_t id, std::uint32_t error_code,
                               void* user_data) {
    return guarded("stream close", [&] {
        session(user_data).stream_closed(id, error_code);
        return 0;
    });
}

// The response body, as the client's flow-control window lets it go (RFC 9113
// section 5.2): nghttp2 asks for at most `length` bytes. Nothing is copied here
// (NGHTTP2_DATA_FLAG_NO_COPY): send_data() puts the frame into the write batch.
ssize_t Callbacks::read_body(nghttp2_session*, std::int32_t, std::uint8_t*, std::size_t length,
                             std::uint32_t* flags, nghttp2_data_source* source, void*) {
    return guarded("body", [&]() -> int {
        auto& st = *static_cast<Stream*>(source->ptr);
        bool eof = false;
        const std::size_t n = st.ready_bytes(length, eof);
        *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
        if (eof) {
            *flags |= NGHTTP2_DATA_FLAG_EOF;
        } else if (n == 0) {
            st.deferred = true;
            return NGHTTP2_ERR_DEFERRED;
        }
        return static_cast<int>(n);
    });
}

// A DATA frame is due: its head and payload go into the write batch (Session::send_data).
int Callbacks::send_data(nghttp2_session*, nghttp2_frame* frame, const std::uint8_t* frame_head,
                         std::size_t length, nghttp2_data_source* source, void* user_data) {
    return guarded("send data", [&] {
        return session(user_data).send_data(frame_head, length, frame->data.padlen,
                                            (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0,
                                            *static_cast<Stream*>(source->ptr));
    });
}

}  // namespace askr::http::h2
