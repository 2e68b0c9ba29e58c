#include "http/h2/session.hpp"

#include <nghttp2/nghttp2.h>

#include <charconv>
#include <ctime>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/log.hpp"
#include "http/h2/callbacks.hpp"
#include "http/h2/stream.hpp"
#include "http/status.hpp"
#include "worker/context.hpp"

namespace askr::http::h2 {

namespace asio = boost::asio;

namespace {

double unix_time_now() {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

}  // namespace

void Session::SessionFree::operator()(nghttp2_session* session) const noexcept {
    nghttp2_session_del(session);
}

Session::Session(worker::Context& context, const Endpoints& endpoints, int socket_fd)
    : http::Connection(context),
      endpoints_(endpoints),
      socket_fd_(socket_fd),
      output_signal_(context.io),
      php_signal_(context.io),
      idle_since_(Clock::now()) {
    auto callbacks = Callbacks::make();

    nghttp2_option* option = nullptr;
    if (nghttp2_option_new(&option) != 0) throw std::bad_alloc();
    std::unique_ptr<nghttp2_option, void (*)(nghttp2_option*)> owned_option(option,
                                                                            nghttp2_option_del);
    // CVE-2024-28182: a header block split into more CONTINUATION frames than this is a
    // connection error (nghttp2's default, stated here so that it does not drift).
    nghttp2_option_set_max_continuations(option, 8);

    nghttp2_session* session = nullptr;
    if (nghttp2_session_server_new2(&session, callbacks.get(), this, option) != 0)
        throw std::bad_alloc();
    session_.reset(session);

    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, context.options.h2_max_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, initial_window_size},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
         static_cast<std::uint32_t>(context.limits.max_header_bytes)},
    };
    nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, settings, std::size(settings));
    nghttp2_session_set_local_window_size(session, NGHTTP2_FLAG_NONE, 0, connection_window_size);
    if (context_.draining) {
        // Accepted just before a drain began: the requests already sent are answered (as
        // HTTP/1 answers one with Connection: close), the client is told to move on.
        nghttp2_submit_shutdown_notice(session);
        shutdown_noticed_ = true;
        shutdown_notice_time_ = Clock::now();
    }
    update_deadline();
}

Session::~Session() {
    session_.reset();  // first: the streams its data sources point to are still alive
}

bool Session::receive(const char* data, std::size_t length) {
    const auto n = nghttp2_session_mem_recv(session_.get(),
                                            reinterpret_cast<const std::uint8_t*>(data), length);
    if (n < 0) {
        // Bad preface, a flood nghttp2 stopped, a callback that failed: end the connection
        // with GOAWAY (RFC 9113 section 5.4.1) if nghttp2 has not queued one itself.
        spdlog::debug("h2: {}: closing: {}", endpoints_.remote_addr,
                      nghttp2_strerror(static_cast<int>(n)));
        goaway(n == NGHTTP2_ERR_CALLBACK_FAILURE ? NGHTTP2_INTERNAL_ERROR : NGHTTP2_PROTOCOL_ERROR,
               true);
    }
    update_deadline();
    wake_writer();
    return !closing_ && !finished();
}

void Session::produce(std::string& out, std::size_t limit) {
    while (out.size() < limit) {
        const std::uint8_t* data = nullptr;
        const auto n = nghttp2_session_mem_send(session_.get(), &data);
        if (n < 0) {
            spdlog::debug("h2: {}: cannot send: {}", endpoints_.remote_addr,
                          nghttp2_strerror(static_cast<int>(n)));
            closing_ = true;
            return;
        }
        if (n == 0) return;
        out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
}

bool Session::finished() const {
    return nghttp2_session_want_read(session_.get()) == 0 &&
           nghttp2_session_want_write(session_.get()) == 0;
}

asio::awaitable<void> Session::wait_for_output() {
    if (!output_wanted_) {
        output_signal_.expires_at(asio::steady_timer::time_point::max());
        co_await output_signal_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    output_wanted_ = false;
}

void Session::wake_writer() {
    output_wanted_ = true;
    output_signal_.cancel();
}

void Session::transport_closed() {
    closing_ = true;
    for (auto& [id, stream] : streams_) {
        if (!stream->closed && stream->php_running() &&
            (!stream->php_complete || stream->pending_bytes() > 0)) {
            stream->exchange->mark_client_gone();  // as in stream_closed()
        }
        stream->closed = true;
    }
    std::erase_if(streams_, [](const auto& entry) { return !entry.second->php_running(); });
}

asio::awaitable<void> Session::wait_for_php() {
    while (php_running_ > 0) {
        php_signal_.expires_at(asio::steady_timer::time_point::max());
        co_await php_signal_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

// A drain (SIGTERM, reload, --max-requests), in two steps as RFC 9113 section 6.8
// advises: a GOAWAY with the largest stream id first (the client stops opening streams,
// the ones already on the wire are still taken), and a second later the final GOAWAY
// naming the last stream taken (on_deadline()). Those are answered, then the connection
// closes. An idle connection closes at once.
void Session::expire_if_idle() {
    if (closing_ || goaway_sent_ || shutdown_noticed_) return;
    if (streams_.empty()) {
        goaway(NGHTTP2_NO_ERROR, true);
    } else {
        nghttp2_submit_shutdown_notice(session_.get());
        shutdown_noticed_ = true;
        shutdown_notice_time_ = Clock::now();
        wake_writer();
    }
    update_deadline();
}

void Session::goaway(std::uint32_t error_code, bool immediately) {
    if (immediately || error_code != NGHTTP2_NO_ERROR) {
        nghttp2_session_terminate_session(session_.get(), error_code);
        closing_ = true;
    } else {
        const auto last = nghttp2_session_get_last_proc_stream_id(session_.get());
        nghttp2_submit_goaway(session_.get(), NGHTTP2_FLAG_NONE, last, error_code, nullptr, 0);
    }
    wake_writer();
}

void Session::on_deadline() {
    const auto now = Clock::now();
    if (aborted_) return;
    if (closing_ || (writing_ && now - write_began_ > context_.options.write_timeout)) {
        abort();  // the GOAWAY could not be written in time, or the client reads nothing at all
        return;
    }
    if (shutdown_noticed_ && !final_goaway_ &&
        now - shutdown_notice_time_ >= std::chrono::seconds(1)) {
        final_goaway_ = true;
        goaway(NGHTTP2_NO_ERROR, false);
    }
    if (streams_.empty()) {
        goaway(NGHTTP2_NO_ERROR, true);  // idle past the keep-alive timeout (1 s when draining)
        set_deadline(std::chrono::seconds(2));
        return;
    }
    // Per stream: a request body that stopped arriving, a response the client's window
    // holds back (zero-window stall): the stream is reset, its memory and PHP freed.
    for (auto& [id, stream] : streams_) {
        if (stream->closed) continue;
        // A header block (HEADERS + CONTINUATION) has --header-timeout from its first
        // frame, as an HTTP/1 head has: trickling does not extend it. A body may pause
        // for --body-timeout between DATA frames.
        const bool receive_stall =
            !stream->request_complete &&
            (stream->headers_complete ? now - stream->last_received > context_.options.body_timeout
                                      : now - stream->opened > context_.options.header_timeout);
        const bool send_stall = stream->pending_bytes() > 0 &&
                                now - stream->last_progress > context_.options.write_timeout;
        if (receive_stall || send_stall) {
            spdlog::debug("h2: {}: stream {} reset: {}", endpoints_.remote_addr, id,
                          receive_stall ? "request stalled" : "client window stalled");
            nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
        }
    }
    wake_writer();
    set_deadline(std::chrono::seconds(1));  // the next check
    update_deadline();
}

void Session::update_deadline() {
    if (closing_) {
        deadline_ = std::min(deadline_, Clock::now() + std::chrono::seconds(2));
    } else if (streams_.empty()) {
        deadline_ = idle_since_ + (context_.draining ? std::chrono::seconds(1)
                                                     : context_.options.keepalive_timeout);
    } else {
        // on_deadline() checks the streams once a second. Not pushed back by traffic: a
        // client sending PINGs must not keep a stalled stream from being checked.
        deadline_ = std::min(deadline_, Clock::now() + std::chrono::seconds(1));
    }
}

// CVE-2023-44487 (rapid reset): opening streams and resetting them at once costs the
// client nothing and the server a request each. Every stream that ends reset counts:
// by the client's RST_STREAM, or by the server because of the client's errors (a bad
// WINDOW_UPDATE or DATA on a stream makes nghttp2 reset it, CVE-2025-8671 "MadeYouReset").
// Past rapid_reset_limit within rapid_reset_window, the connection ends with
// ENHANCE_YOUR_CALM.
void Session::stream_reset() {
    const auto now = Clock::now();
    if (now - reset_window_start_ > rapid_reset_window) {
        reset_window_start_ = now;
        resets_in_window_ = 0;
    }
    if (++resets_in_window_ > rapid_reset_limit && !closing_) {
        spdlog::warn("h2: {}: {} streams reset within {} s (rapid reset); closing the connection",
                     endpoints_.remote_addr, resets_in_window_, rapid_reset_window.count());
        goaway(NGHTTP2_ENHANCE_YOUR_CALM, true);
    }
}

std::unique_ptr<worker::Exchange> Session::take_exchange() {
    if (spare_exchanges_.empty()) {
        return std::make_unique<worker::Exchange>(context_.io, context_.completions, socket_fd_);
    }
    auto exchange = std::move(spare_exchanges_.back());
    spare_exchanges_.pop_back();
    return exchange;
}

Stream* Session::open_stream(std::int32_t id) {
    // Streams reset while PHP still runs them count too: a client cannot queue more PHP
    // work than twice the stream limit by resetting streams.
    if (streams_.size() >= 2 * std::size_t{context_.options.h2_max_streams} || closing_) {
        nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, id, NGHTTP2_REFUSED_STREAM);
        return nullptr;
    }
    auto stream = std::make_unique<Stream>(id, take_exchange());
    Request& request = stream->request();
    request.clear();
    request.endpoints = endpoints_;
    request.version_major = 2;
    request.version_minor = 0;
    stream->opened = stream->last_received = stream->last_progress = Clock::now();
    Stream* raw = stream.get();
    nghttp2_session_set_stream_user_data(session_.get(), id, raw);
    streams_[id] = std::move(stream);
    update_deadline();
    return raw;
}

void Session::stream_closed(std::int32_t id, std::uint32_t error_code) {
    if (error_code != NGHTTP2_NO_ERROR) stream_reset();  // refused streams count too
    auto it = streams_.find(id);
    if (it == streams_.end()) return;
    Stream& stream = *it->second;
    stream.closed = true;
    if (stream.php_running()) {
        // Reset before the response was complete: PHP goes on without output and sees
        // connection_aborted(). After a complete response (a script still running after
        // fastcgi_finish_request()) nothing changes for it. pump_php() erases the stream.
        if (error_code != NGHTTP2_NO_ERROR || !stream.php_complete || stream.pending_bytes() > 0) {
            stream.exchange->mark_client_gone();
        }
    } else {
        erase_stream(id);
    }
}

void Session::erase_stream(std::int32_t id) {
    auto it = streams_.find(id);
    if (it == streams_.end()) return;
    if (it->second->dispatched && context_.telemetry) {
        context_.telemetry->request_finished(it->second->request(), it->second->outcome);
    }
    body_memory_in_use_ -= it->second->body_memory;
    if (it->second->exchange && spare_exchanges_.size() < 8) {
        it->second->exchange->request.clear();
        spare_exchanges_.push_back(std::move(it->second->exchange));
    }
    streams_.erase(it);
    if (streams_.empty()) idle_since_ = Clock::now();
    update_deadline();
}

void Session::dispatch(Stream& stream) {
    stream.dispatched = true;
    Request& request = stream.request();
    request.start_time = unix_time_now();
    if (context_.telemetry) {  // metrics and access log, as for HTTP/1 (erase_stream() ends it)
        if (context_.telemetry->timing()) stream.outcome.began = std::chrono::steady_clock::now();
        stream.outcome.bytes_in += stream.header_bytes;
        context_.telemetry->request_started();
    }
    if (stream.error_status != 0) return respond_simple(stream, stream.error_status);
    if (request.method.empty() || request.target.empty() || request.target.front() != '/') {
        return respond_simple(stream,
                              request.method == "OPTIONS" && request.target == "*" ? 204 : 400);
    }
    context_.events->request_started();  // may start a drain (--max-requests)
    auto& exchange = *stream.exchange;
    exchange.route = context_.routes.resolve(request.path(), request.query());
    const Route& route = *exchange.route;
    switch (route.kind) {
        case Route::Kind::php:
            stream.outcome.kind = shm::ResponseKind::php;
            return serve_php(stream);
        case Route::Kind::static_file:
            stream.outcome.kind = shm::ResponseKind::static_file;
            return serve_static(stream);
        case Route::Kind::redirect:
            return respond_simple(stream, 301, "Location: " + route.location + "\r\n");
        case Route::Kind::forbidden:
            return respond_simple(stream, 403);
        case Route::Kind::bad_request:
            return respond_simple(stream, 400);
        case Route::Kind::not_found:
            break;
    }
    respond_simple(stream, 404);
}

void Session::respond_simple(Stream& stream, int status, std::string_view fields) {
    stream.kind = Stream::Kind::memory;
    stream.set_simple_body(status);
    std::string all_fields(fields);
    all_fields.append("Content-Type: text/html\r\n");
    const bool head_only = stream.request().method == "HEAD";
    submit_head(stream, status, all_fields, static_cast<std::int64_t>(stream.body.size()),
                !head_only);
}

void Session::serve_static(Stream& stream) {
    auto& file = stream.file;
    static_files::prepare_file_response(stream.request(), context_.files,
                                        stream.exchange->route->file, file);
    if (file.status == 404 || file.status == 403 || file.status == 405) {
        return respond_simple(stream, file.status, file.fields);
    }
    stream.kind = Stream::Kind::file;
    stream.file_offset = file.offset;
    stream.file_remaining = file.send_body ? file.length : 0;
    const bool no_body = status_has_no_body(file.status);
    submit_head(stream, file.status, file.fields,
                no_body ? -1 : static_cast<std::int64_t>(file.length),
                file.send_body && file.length > 0);
}

bool Session::submit_head(Stream& stream, int status, std::string_view fields,
                          std::int64_t content_length, bool with_body) {
    stream.outcome.status = status;
    char status_text[8];
    const auto status_end =
        std::to_chars(status_text, status_text + sizeof status_text, status).ptr;
    char length_text[24];
    std::string_view length_value;
    if (content_length >= 0) {
        length_value = {
            length_text,
            static_cast<std::size_t>(
                std::to_chars(length_text, length_text + sizeof length_text, content_length).ptr -
                length_text)};
    }
    response_fields_.assign(fields);
    auto nv = [](std::string_view name, std::string_view value) {
        return nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                          reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())),
                          name.size(), value.size(), NGHTTP2_NV_FLAG_NONE};
    };
    std::vector<nghttp2_nv> headers;  // nghttp2_submit_response() copies them
    headers.reserve(response_fields_.fields().size() + 4);
    headers.push_back(
        nv(":status", {status_text, static_cast<std::size_t>(status_end - status_text)}));
    headers.push_back(nv("server", "Askr"));
    headers.push_back(nv("date", http_date_now()));
    if (!length_value.empty()) headers.push_back(nv("content-length", length_value));
    for (const auto& field : response_fields_.fields())
        headers.push_back(nv(field.name, field.value));
    nghttp2_data_provider provider{};
    provider.source.ptr = &stream;
    provider.read_callback = Callbacks::read_body;
    stream.sending = with_body;
    stream.last_progress = Clock::now();
    const int rv = nghttp2_submit_response(session_.get(), stream.id, headers.data(),
                                           headers.size(), with_body ? &provider : nullptr);
    wake_writer();
    return rv == 0;
}

void Session::serve_php(Stream& stream) {
    stream.kind = Stream::Kind::php;
    worker::Exchange& exchange = *stream.exchange;
    const Route& route = *exchange.route;
    exchange.script.target = {route.file, route.script_name, route.path_info, context_.router.root};
    exchange.begin();
    stream.php_submitted = true;
    ++php_running_;
    context_.php.submit(exchange);
    context_.events->php_submitted();
    stream.php_began = std::chrono::steady_clock::now();
    asio::co_spawn(context_.io, pump_php(stream), core::log_coroutine_exception);
}

// Output of a PHP request, from the PHP thread to DATA frames. What PHP hands over is kept
// in the stream until the client's window takes it; Exchange::written() is told only
// then, so a slow or zero-window client holds PHP back (Exchange::max_buffered) instead
// of growing memory.
asio::awaitable<void> Session::pump_php(Stream& stream) {
    worker::Exchange& exchange = *stream.exchange;
    const bool head_only = stream.request().method == "HEAD";
    std::string taken;
    for (;;) {
        taken.clear();
        const auto progress = exchange.take(stream.php_head, taken);
        if (stream.closed) {
            exchange.written(taken.size());
        } else {
            if (progress.head) {
                const int status = stream.php_head.status;
                stream.discard_body = head_only || status_has_no_body(status);
                std::int64_t length = -1;
                if (status_has_no_body(status)) {
                    length = -1;
                } else if (head_only) {
                    const auto& declared = stream.php_head.content_length;
                    std::int64_t value = 0;
                    if (!declared.empty() &&
                        std::from_chars(declared.data(), declared.data() + declared.size(), value)
                                .ec == std::errc{}) {
                        length = value;
                    }
                } else if (progress.complete) {
                    length = static_cast<std::int64_t>(taken.size());
                }
                stream.php_complete = progress.complete;
                const bool with_body =
                    !stream.discard_body && !(progress.complete && taken.empty());
                stream.append_output(taken, exchange);
                submit_head(stream, status, stream.php_head.fields, length, with_body);
            } else {
                stream.php_complete = progress.complete;
                stream.append_output(taken, exchange);
                if (stream.deferred) {
                    stream.deferred = false;
                    nghttp2_session_resume_data(session_.get(), stream.id);
                }
                wake_writer();
            }
        }
        if (progress.released) break;
        co_await exchange.wait();
    }
    stream.php_released = true;
    stream.outcome.php = std::chrono::steady_clock::now() - stream.php_began;
    --php_running_;
    context_.events->php_finished();
    if (stream.closed) erase_stream(stream.id);
    if (php_running_ == 0) php_signal_.cancel();
}

}  // namespace askr::http::h2
