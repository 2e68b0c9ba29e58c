#include "http/h2/connection.hpp"

#include <algorithm>
#include <memory>
#include <type_traits>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "core/log.hpp"
#include "http/h2/session.hpp"

namespace askr::http::h2 {

namespace asio = boost::asio;
using asio::as_tuple;
using asio::use_awaitable;
using tcp = asio::ip::tcp;
using TlsStream = asio::ssl::stream<tcp::socket>;

namespace {

constexpr std::size_t read_buffer_size = 16 * 1024;
constexpr std::size_t write_batch = 64 * 1024;  // frames gathered into one write

// One HTTP/2 connection over `Stream` (tcp::socket or asio::ssl::stream): a reader that
// feeds nghttp2 and a writer that sends what nghttp2 and the streams have ready. Both run
// on the I/O thread; asio streams (TLS too) allow one read and one write at a time.
template <class Stream>
class StreamConnection final : public Session {
  public:
    static constexpr bool tls = std::is_same_v<Stream, TlsStream>;

    StreamConnection(Context& context, Stream stream, const Endpoints& endpoints, Handler& handler)
        : Session(context, endpoints, lowest_layer(stream).native_handle(), handler),
          stream_(std::move(stream)),
          writer_done_(context.io),
          in_(new char[read_buffer_size]) {}

    static asio::awaitable<void> serve(std::unique_ptr<StreamConnection> self,
                                       std::string received);

    void abort() override {
        aborted_ = true;
        closing_ = true;
        boost::system::error_code ignored;
        socket().shutdown(asio::socket_base::shutdown_both, ignored);
        socket().cancel(ignored);
        wake_writer();
    }

  private:
    static tcp::socket& lowest_layer(Stream& stream) {
        if constexpr (tls) {
            return stream.next_layer();
        } else {
            return stream;
        }
    }
    tcp::socket& socket() { return lowest_layer(stream_); }

    asio::awaitable<void> read_loop();
    asio::awaitable<void> write_loop();

    Stream stream_;
    asio::steady_timer writer_done_;
    bool writer_running_ = true;
    std::unique_ptr<char[]> in_;
    OutputBatch batch_;
    std::vector<iovec> iovecs_;
    std::vector<asio::const_buffer> buffers_;
    std::string linear_;  // TLS: the batch in one piece
};

template <class Stream>
asio::awaitable<void> StreamConnection<Stream>::serve(std::unique_ptr<StreamConnection> self,
                                                      std::string received) {
    asio::co_spawn(self->context_.io, self->write_loop(), core::log_coroutine_exception);
    if (received.empty() || self->receive(received.data(), received.size()))
        co_await self->read_loop();
    // The reader is done (the client left, or the session ended): let the writer send
    // what is queued (a GOAWAY) and wait for it, bounded by on_deadline().
    self->closing_ = true;
    self->wake_writer();
    while (self->writer_running_) {
        self->writer_done_.expires_at(asio::steady_timer::time_point::max());
        co_await self->writer_done_.async_wait(as_tuple(use_awaitable));
    }
    self->transport_closed();
    if constexpr (tls) {
        // close_notify (RFC 8446 section 6.1), bounded: the peer may never answer.
        if (!self->aborted_) {
            self->deadline_ = Clock::now() + std::chrono::seconds(2);
            co_await self->stream_.async_shutdown(as_tuple(use_awaitable));
        }
    }
    // The client sees the end now; the descriptor stays ours until every handler has
    // returned (a running script polls it for a hang-up: a reused number would mislead it).
    boost::system::error_code ignored;
    self->socket().shutdown(asio::socket_base::shutdown_both, ignored);
    co_await self->wait_for_streams();
    self->socket().close(ignored);
}

template <class Stream>
asio::awaitable<void> StreamConnection<Stream>::read_loop() {
    for (;;) {
        auto [ec, n] = co_await stream_.async_read_some(asio::buffer(in_.get(), read_buffer_size),
                                                        as_tuple(use_awaitable));
        if (ec || n == 0 || aborted_) co_return;
        if (!receive(in_.get(), n)) co_return;
    }
}

template <class Stream>
asio::awaitable<void> StreamConnection<Stream>::write_loop() {
    for (;;) {
        batch_.clear();
        if (!aborted_) produce(batch_, write_batch);
        if (batch_.empty()) {
            if (aborted_ || closing_ || finished()) break;
            co_await wait_for_output();
            continue;
        }
        // One gather write: the frames nghttp2 serialised and the DATA payloads where
        // they lie (the handlers' buffers, files read into the batch).
        batch_.to_iovecs(iovecs_);
        buffers_.clear();
        if constexpr (tls) {
            // Asio's TLS stream gives SSL_write at most 8 KiB of a buffer sequence at a time
            // (it linearises the pieces), and each SSL_write becomes a record and a send of
            // its own. Encryption copies the bytes anyway: one contiguous buffer makes the
            // batch one SSL_write, a single send for a batch of small responses.
            linear_.clear();
            for (const auto& v : iovecs_)
                linear_.append(static_cast<const char*>(v.iov_base), v.iov_len);
            buffers_.emplace_back(linear_.data(), linear_.size());
        } else {
            for (const auto& v : iovecs_) buffers_.emplace_back(v.iov_base, v.iov_len);
        }
        writing_ = true;
        write_began_ = Clock::now();
        // Counts progress before each partial write (the send rate, Session::on_deadline).
        std::size_t counted = 0;
        auto progress = [this, &counted](const boost::system::error_code& ec,
                                         std::size_t written) -> std::size_t {
            sent_ += written - counted;
            counted = written;
            return asio::transfer_all()(ec, written);
        };
        auto [ec, n] =
            co_await asio::async_write(stream_, buffers_, progress, as_tuple(use_awaitable));
        sent_ += n - counted;
        writing_ = false;
        batch_written(batch_);
        if (ec) {
            abort();
            break;
        }
    }
    // Nothing more to say: stop the reader (it may wait for a client that says nothing).
    boost::system::error_code ignored;
    if (!aborted_) socket().cancel(ignored);
    writer_running_ = false;
    writer_done_.cancel();
}

}  // namespace

bool may_be_preface(std::string_view bytes) {
    const auto n = std::min(bytes.size(), client_preface.size());
    return bytes.substr(0, n) == client_preface.substr(0, n);
}

void start_connection(Context& context, tcp::socket socket, const Endpoints& endpoints,
                      Handler& handler, std::string_view received) {
    using Connection = StreamConnection<tcp::socket>;
    auto connection = std::make_unique<Connection>(context, std::move(socket), endpoints, handler);
    asio::co_spawn(context.io, Connection::serve(std::move(connection), std::string(received)),
                   core::log_coroutine_exception);
}

void start_connection(Context& context, TlsStream stream, const Endpoints& endpoints,
                      Handler& handler) {
    using Connection = StreamConnection<TlsStream>;
    auto connection = std::make_unique<Connection>(context, std::move(stream), endpoints, handler);
    asio::co_spawn(context.io, Connection::serve(std::move(connection), std::string()),
                   core::log_coroutine_exception);
}

}  // namespace askr::http::h2
