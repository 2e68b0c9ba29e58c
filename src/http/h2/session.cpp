#include "http/h2/session.hpp"

#include <nghttp2/nghttp2.h>

#include <charconv>
#include <cstring>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/clock.hpp"
#include "core/log.hpp"
#include "http/h2/callbacks.hpp"
#include "http/h2/stream.hpp"
#include "http/status.hpp"

namespace askr::http::h2 {

namespace asio = boost::asio;

void OutputBatch::append_copy(const void* data, std::size_t length) {
    const std::size_t offset = frames.size();
    frames.append(static_cast<const char*>(data), length);
    append_frames(offset, length);
}

void OutputBatch::append_frames(std::size_t offset, std::size_t length) {
    if (length == 0) return;
    // Consecutive bytes of `frames` make one piece.
    if (!pieces.empty() && !pieces.back().external &&
        pieces.back().offset + pieces.back().length == offset) {
        pieces.back().length += length;
    } else {
        pieces.push_back({nullptr, offset, length});
    }
    bytes += length;
}

void OutputBatch::append_external(const char* data, std::size_t length) {
    if (length == 0) return;
    pieces.push_back({data, 0, length});
    bytes += length;
}

void OutputBatch::to_iovecs(std::vector<iovec>& out) const {
    out.clear();
    for (const auto& piece : pieces) {
        const char* base = piece.external ? piece.external : frames.data() + piece.offset;
        out.push_back({const_cast<char*>(base), piece.length});
    }
}

void Session::SessionFree::operator()(nghttp2_session* session) const noexcept {
    nghttp2_session_del(session);
}

Session::Session(Context& context, const Endpoints& endpoints, int socket_fd, Handler& handler)
    : http::Connection(context),
      endpoints_(endpoints),
      socket_fd_(socket_fd),
      handler_(handler),
      output_signal_(context.io),
      streams_signal_(context.io),
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
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, context.limits.h2_max_streams},
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
    session_.reset();  // first: it may call back into streams that are still alive
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

void Session::produce(OutputBatch& batch, std::size_t limit) {
    batch_ = &batch;
    while (batch.bytes < limit) {
        const std::uint8_t* data = nullptr;
        const auto n = nghttp2_session_mem_send(session_.get(), &data);
        if (n < 0) {
            spdlog::debug("h2: {}: cannot send: {}", endpoints_.remote_addr,
                          nghttp2_strerror(static_cast<int>(n)));
            closing_ = true;
            break;
        }
        if (n == 0) break;  // nothing more (DATA frames went through send_data())
        batch.append_copy(data, static_cast<std::size_t>(n));
    }
    batch_ = nullptr;
}

// A DATA frame (NGHTTP2_DATA_FLAG_NO_COPY): its 9-byte head is copied into the batch and
// its payload is referenced where it is, or read from the file into the batch.
int Session::send_data(const std::uint8_t* frame_head, std::size_t length, std::size_t padding,
                       bool end_stream, Stream& stream) {
    if (!batch_) return NGHTTP2_ERR_WOULDBLOCK;
    OutputBatch& batch = *batch_;
    // Askr never asks for padding (`padding` counts the pad-length byte); honoured all the same.
    const std::size_t start = batch.frames.size();
    batch.frames.append(reinterpret_cast<const char*>(frame_head), 9);
    if (padding > 0) batch.frames.push_back(static_cast<char>(padding - 1));
    const std::size_t payload_at = batch.frames.size();
    const char* external = stream.take_bytes(length, batch.frames, payload_at);
    if (!external && batch.frames.size() != payload_at + length) {
        batch.frames.resize(start);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // the file cannot be read: this stream is
                                                       // reset
    }
    if (external) {
        batch.append_frames(start, payload_at - start);
        batch.append_external(external, length);
        const std::size_t tail = batch.frames.size();
        if (padding > 1) batch.frames.append(padding - 1, '\0');
        batch.append_frames(tail, batch.frames.size() - tail);
    } else {
        if (padding > 1) batch.frames.append(padding - 1, '\0');
        batch.append_frames(start, batch.frames.size() - start);
    }
    if (!stream.in_flight) {
        stream.in_flight = true;
        batch.streams.push_back(&stream);
    }
    stream.last_progress = Clock::now();
    stream.outcome().bytes_out += length;
    if (end_stream) stream.mark_complete();
    return 0;
}

void Session::batch_written(OutputBatch& batch) {
    // A stream whose handler was waiting may finish and be released here: collect first.
    for (Stream* stream : batch.streams) stream->write_completed();
    for (Stream* stream : batch.streams) release_if_done(*stream);
    batch.clear();
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
    std::vector<Stream*> all;
    for (auto& [id, stream] : streams_) all.push_back(stream.get());
    for (Stream* stream : all) {
        stream->in_flight = false;
        if (!stream->closed) stream->on_closed();
        release_if_done(*stream);
    }
}

asio::awaitable<void> Session::wait_for_streams() {
    while (busy_streams_ > 0) {
        streams_signal_.expires_at(asio::steady_timer::time_point::max());
        co_await streams_signal_.async_wait(asio::as_tuple(asio::use_awaitable));
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
    if (closing_ || (writing_ && now - write_began_ > context_.timeouts.write)) {
        if (writing_) reset_on_close(socket_fd());
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
    bool waiting = writing_;  // on the client: a write, or a response its windows hold back
    for (auto& [id, stream] : streams_) {
        if (stream->closed) continue;
        if (stream->pending_bytes() > 0) waiting = true;
        // A header block (HEADERS + CONTINUATION) has the header timeout from its first
        // frame, as an HTTP/1 head has: trickling does not extend it. A body may pause
        // for the body timeout between DATA frames.
        const bool receive_stall =
            !stream->request_complete &&
            (stream->headers_complete ? now - stream->last_received > context_.timeouts.body
                                      : now - stream->opened > context_.timeouts.header);
        const bool send_stall =
            stream->pending_bytes() > 0 && now - stream->last_progress > context_.timeouts.write;
        if (receive_stall || send_stall) {
            spdlog::debug("h2: {}: stream {} reset: {}", endpoints_.remote_addr, id,
                          receive_stall ? "request stalled" : "client window stalled");
            nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
        }
    }
    // The connection's rate, not each stream's: many streams share one client's bandwidth.
    // The second since the last check is judged as it was then, waiting or not.
    const bool too_slow = send_rate_.too_slow(now, sent_, context_.timeouts.min_send_rate);
    send_rate_.update(now, waiting, sent_);
    if (too_slow) {
        reset_on_close(socket_fd());
        spdlog::info(
            "h2: {}: closed: the client took responses at less than {} bytes/s over "
            "{} s (min_send_rate)",
            endpoints_.remote_addr, context_.timeouts.min_send_rate, SendRate::window.count());
        abort();
        return;
    }
    wake_writer();
    set_deadline(std::chrono::seconds(1));  // the next check
    update_deadline();
}

void Session::update_deadline() {
    if (closing_) {
        deadline_ = std::min(deadline_, Clock::now() + std::chrono::seconds(2));
    } else if (streams_.empty()) {
        deadline_ = idle_since_ +
                    (context_.draining ? std::chrono::seconds(1) : context_.timeouts.keepalive);
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

Stream* Session::open_stream(std::int32_t id) {
    // Streams reset while their handler still runs count too: a client cannot queue more
    // PHP work than twice the stream limit by resetting streams.
    if (streams_.size() >= 2 * std::size_t{context_.limits.h2_max_streams} || closing_) {
        nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, id, NGHTTP2_REFUSED_STREAM);
        return nullptr;
    }
    StreamMap::node_type node;
    if (spare_streams_.empty()) {
        StreamMap fresh;
        fresh.emplace(id, std::make_unique<Stream>(*this, context_.io));
        node = fresh.extract(fresh.begin());
    } else {
        node = std::move(spare_streams_.back());
        spare_streams_.pop_back();
        node.key() = id;
    }
    Stream* raw = node.mapped().get();
    raw->open(id, endpoints_);
    if (!streams_.insert(std::move(node)).inserted) return nullptr;  // nghttp2 opens an id once
    nghttp2_session_set_stream_user_data(session_.get(), id, raw);
    update_deadline();
    return raw;
}

void Session::stream_closed(std::int32_t id, std::uint32_t error_code) {
    if (error_code != NGHTTP2_NO_ERROR) stream_reset();  // refused streams count too
    auto it = streams_.find(id);
    if (it == streams_.end()) return;
    Stream& stream = *it->second;
    stream.on_closed();
    release_if_done(stream);
}

// A stream goes once nghttp2 has closed it and nothing else uses it (its handler has
// returned, no write in progress carries its bytes).
void Session::release_if_done(Stream& stream) {
    if (!stream.closed || stream.busy()) return;
    auto it = streams_.find(stream.id);
    if (it == streams_.end() || it->second.get() != &stream) return;
    if (stream.dispatched && context_.observer)
        context_.observer->request_finished(stream.request(), stream.outcome());
    body_memory_in_use_ -= stream.body_memory;
    auto node = streams_.extract(it);
    if (spare_streams_.size() < max_spare_streams) spare_streams_.push_back(std::move(node));
    if (streams_.empty()) idle_since_ = Clock::now();
    update_deadline();
}

void Session::dispatch(Stream& stream) {
    stream.dispatched = true;
    stream.request().start_time = core::unix_time_now();
    if (context_.observer) {  // metrics and access log, as for HTTP/1 (release_if_done() ends it)
        if (context_.observer->timing()) stream.outcome().began = std::chrono::steady_clock::now();
        stream.outcome().bytes_in += stream.header_bytes;
        context_.observer->request_started();
    }
    // Called from nghttp2's callbacks. An answer ready at once (a refusal, a small static
    // file, a redirect) is submitted from here, which nghttp2's submit functions allow,
    // with no coroutine; any other runs in one of its own (co_spawn starts it at once).
    if (stream.error_status != 0) {
        respond_with_status_now(stream, stream.error_status);
        handler_returned(stream);
        return;
    }
    if (context_.events) context_.events->request_started();  // may start a drain (--max-requests)
    if (handler_.handle_now(stream.request(), stream)) {
        handler_returned(stream);
        return;
    }
    stream.handler_running = true;
    ++busy_streams_;
    asio::co_spawn(context_.io, run_chain(stream), core::log_coroutine_exception);
}

asio::awaitable<void> Session::run_chain(Stream& stream) {
    co_await handler_.handle(stream.request(), stream);
    stream.handler_running = false;
    --busy_streams_;
    handler_returned(stream);
    if (busy_streams_ == 0) streams_signal_.cancel();
}

void Session::reset_stream(Stream& stream) {
    nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, stream.id, NGHTTP2_CANCEL);
    wake_writer();
}

void Session::handler_returned(Stream& stream) {
    // A handler that returned without ending its response: the client must not wait for
    // the rest (RST_STREAM, RFC 9113 section 8.1).
    if (!stream.closed && !stream.ended()) {
        nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, stream.id,
                                  NGHTTP2_INTERNAL_ERROR);
        wake_writer();
    }
    release_if_done(stream);
}

namespace {

nghttp2_nv make_nv(std::string_view name, std::string_view value) {
    return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
            reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(),
            value.size(), NGHTTP2_NV_FLAG_NONE};
}

// The name/value pairs handed to nghttp2, reused (nghttp2 copies them; I/O thread only).
thread_local std::vector<nghttp2_nv> nv_scratch;

}  // namespace

// `fields` as nghttp2 pairs after the ones already in nv_scratch, names lower-cased into
// names_ (RFC 9113 section 8.2.1), the protocol's own fields left out.
void Session::append_fields(const Fields& fields) {
    std::size_t names_size = 0;
    for (std::size_t i = 0; i < fields.size(); ++i) names_size += fields.name(i).size();
    if (names_.size() < names_size)
        names_.resize(names_size);  // sized first: the pointers stay valid
    char* name_out = names_.data();
    for (std::size_t i = 0; i < fields.size(); ++i) {
        const auto name = fields.name(i);
        if (is_protocol_owned(name)) continue;
        for (std::size_t k = 0; k < name.size(); ++k) {
            const char c = name[k];
            name_out[k] = c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
        }
        nv_scratch.push_back(make_nv({name_out, name.size()}, fields.value(i)));
        name_out += name.size();
    }
}

bool Session::submit_response(Stream& stream, const ResponseHead& head,
                              const std::optional<std::uint64_t>& length, bool data_follows) {
    stream.outcome().status = head.status;
    char status_text[8];
    const auto status_end =
        std::to_chars(status_text, status_text + sizeof status_text, head.status).ptr;
    char length_text[24];
    const auto length_end =
        length ? std::to_chars(length_text, length_text + sizeof length_text, *length).ptr
               : length_text;
    nv_scratch.clear();
    nv_scratch.push_back(
        make_nv(":status", {status_text, static_cast<std::size_t>(status_end - status_text)}));
    nv_scratch.push_back(make_nv("server", "Askr"));
    nv_scratch.push_back(make_nv("date", http_date_now()));
    if (length) {
        nv_scratch.push_back(make_nv(
            "content-length", {length_text, static_cast<std::size_t>(length_end - length_text)}));
    }
    append_fields(head.fields);
    nghttp2_data_provider provider{};
    provider.source.ptr = &stream;
    provider.read_callback = Callbacks::read_body;
    stream.last_progress = Clock::now();
    const int rv = nghttp2_submit_response(session_.get(), stream.id, nv_scratch.data(),
                                           nv_scratch.size(), data_follows ? &provider : nullptr);
    wake_writer();
    return rv == 0;
}

bool Session::submit_interim(Stream& stream, int status, const Fields& fields) {
    char status_text[8];
    const auto status_end =
        std::to_chars(status_text, status_text + sizeof status_text, status).ptr;
    nv_scratch.clear();
    nv_scratch.push_back(
        make_nv(":status", {status_text, static_cast<std::size_t>(status_end - status_text)}));
    append_fields(fields);
    const int rv = nghttp2_submit_headers(session_.get(), NGHTTP2_FLAG_NONE, stream.id, nullptr,
                                          nv_scratch.data(), nv_scratch.size(), nullptr);
    wake_writer();
    return rv == 0;
}

void Session::resume(Stream& stream) {
    if (stream.deferred) {
        stream.deferred = false;
        nghttp2_session_resume_data(session_.get(), stream.id);
    }
    wake_writer();
}

}  // namespace askr::http::h2
