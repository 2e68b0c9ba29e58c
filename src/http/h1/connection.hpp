#pragma once
#include <chrono>
#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "http/h1/parser.hpp"
#include "php/engine.hpp"
#include "static/file_response.hpp"
#include "worker/context.hpp"
#include "worker/exchange.hpp"

namespace askr::http::h1 {

/// One HTTP/1.1 connection: reads requests (keep-alive, pipelining), routes each one to a
/// static file or to PHP, and frames the responses (Content-Length or chunked). Lives on
/// the I/O thread; the coroutine serve() owns it.
class Connection {
public:
    using Clock = std::chrono::steady_clock;

    Connection(worker::Context& context, boost::asio::ip::tcp::socket socket);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    /// Serves the connection until it closes; owns it.
    static boost::asio::awaitable<void> serve(std::unique_ptr<Connection> connection);

    /// Time after which the client has taken too long (max while PHP works).
    Clock::time_point deadline() const { return deadline_; }
    /// True between requests (no byte of a next request read yet): safe to close.
    bool idle() const { return idle_; }
    /// When idle, closes within a second (draining): a request that arrives before that
    /// is still answered, with Connection: close, so keep-alive clients move on cleanly.
    void expire_if_idle();
    /// Closes the connection now (timeout, shutdown): pending operations are cancelled.
    void abort();

    Connection* prev = nullptr;  ///< registry links (worker::Context::connections)
    Connection* next = nullptr;

private:
    enum class Framing { none, length, chunked, until_close };

    boost::asio::awaitable<bool> read_request();
    boost::asio::awaitable<bool> respond();
    boost::asio::awaitable<bool> serve_php();
    boost::asio::awaitable<bool> serve_static();
    boost::asio::awaitable<bool> send_simple(int status, std::string_view fields, bool keep_alive);
    /// Writes the pieces in one gather write; false when the client is gone or too slow.
    boost::asio::awaitable<bool> write(std::string_view a, std::string_view b = {},
                                       std::string_view c = {}, std::string_view d = {});
    boost::asio::awaitable<void> close_after_error();
    void append_head(int status, std::string_view fields, Framing framing, std::uint64_t length);
    void set_deadline(std::chrono::seconds from_now) { deadline_ = Clock::now() + from_now; }

    worker::Context& context_;
    boost::asio::ip::tcp::socket socket_;
    Parser parser_;
    worker::Exchange exchange_;
    static_files::FileResponse file_;
    php::ResponseHead php_head_;
    std::string php_body_;
    std::string out_;             // response head (and small bodies) being written
    std::unique_ptr<char[]> in_;  // read buffer
    std::size_t in_begin_ = 0, in_end_ = 0;
    bool keep_alive_ = true;
    bool idle_ = true;
    bool aborted_ = false;
    Clock::time_point deadline_;
};

}  // namespace askr::http::h1
