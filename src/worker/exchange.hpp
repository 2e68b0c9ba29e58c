#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "http/request.hpp"
#include "http/router.hpp"
#include "php/engine.hpp"

namespace askr::worker {

class Completions;

/// One PHP request crossing between the I/O thread and the PHP thread, and its response
/// coming back as a stream. Owned by a connection and reused for its requests.
///
/// The I/O thread fills `request`, submits the exchange, then loops on take()/wait() and
/// writes what it gets. The PHP thread pushes head and body (push/end); it waits only
/// when more than `max_buffered` bytes are not yet written to a slow client.
class Exchange final : public php::ResponseWriter {
public:
    Exchange(boost::asio::io_context& io, Completions& completions, int socket_fd);
    ~Exchange() override;
    Exchange(const Exchange&) = delete;
    Exchange& operator=(const Exchange&) = delete;

    http::Request request;     ///< filled by the I/O thread before submit
    /// I/O thread only: the connection may move to another worker while this request
    /// waits for PHP (clear-text HTTP/1.1, request whole in its buffer; handoff.hpp) ...
    bool movable = false;
    /// ... and the slot of the idle worker that asked for it, once withdrawn (-1: none).
    int withdrawn_to = -1;
    std::shared_ptr<const http::Route> route;  ///< how it was routed (owns the script path strings)
    php::ScriptRequest script; ///< what the PHP thread runs

    // --- PHP thread -------------------------------------------------------------------
    bool push(php::ResponseHead* head, std::string& body, bool last) override;
    void end(php::ResponseHead* head, std::string& body) override;
    bool client_gone() override;

    // --- I/O thread -------------------------------------------------------------------
    /// What take() found.
    struct Progress {
        bool head = false;      ///< the head was handed over by this take()
        bool complete = false;  ///< the response is complete (all body taken)
        bool released = false;  ///< the PHP thread is done with this exchange
    };
    /// Resets the response side for a new request.
    void begin();
    /// The client socket this exchange polls in client_gone().
    int socket_fd() const { return socket_fd_.load(std::memory_order_relaxed); }
    /// The connection goes on without this exchange (its response is complete, PHP still
    /// runs the script): client_gone() stops looking at a socket that may be reused.
    void detach() { socket_fd_.store(-1, std::memory_order_relaxed); }
    /// Moves what PHP produced into `head` (first time) and `body` (must be empty).
    Progress take(php::ResponseHead& head, std::string& body);
    /// Reports `bytes` taken earlier as written (lets a waiting PHP thread go on).
    void written(std::size_t bytes);
    /// Records that the client is gone: PHP stops waiting and sees connection_aborted().
    void mark_client_gone();
    /// Suspends until the PHP thread hands over something new.
    boost::asio::awaitable<void> wait();
    /// Called by Completions on the I/O thread: wakes wait().
    void wake();

    static constexpr std::size_t max_buffered = 1 << 20;

private:
    friend class Completions;
    Completions& completions_;
    boost::asio::steady_timer wake_timer_;
    std::atomic<int> socket_fd_;
    bool queued_ = false;        // guarded by Completions' mutex
    bool wake_pending_ = false;  // I/O thread only: news arrived while not waiting

    std::mutex mutex_;
    std::condition_variable space_;
    php::ResponseHead head_;
    bool head_ready_ = false;
    bool head_taken_ = false;
    bool complete_ = false;
    bool released_ = false;
    bool php_waiting_ = false;
    std::string output_;
    std::size_t in_flight_ = 0;
    std::atomic<bool> client_gone_{false};
};

/// Wakes exchanges on the I/O thread when the PHP thread has news for them; batches the
/// wake-ups (one post per burst, DESIGN.md section 2).
class Completions {
public:
    explicit Completions(boost::asio::io_context& io) : io_(io) {}
    /// Any thread: `exchange` has news.
    void notify(Exchange& exchange);
    /// I/O thread: `exchange` is going away; drop it from the pending list.
    void forget(Exchange& exchange);

private:
    void drain();
    boost::asio::io_context& io_;
    std::mutex mutex_;
    std::vector<Exchange*> ready_;
    std::vector<Exchange*> draining_;
    bool posted_ = false;
};

/// Requests waiting for the PHP thread, in arrival order.
class PhpQueue {
public:
    /// I/O thread: hands a request to PHP.
    void submit(Exchange& exchange);
    /// PHP thread: the next request; blocks up to `timeout`; nullptr once stopped and
    /// empty, or when the time is up.
    Exchange* take(std::chrono::milliseconds timeout = std::chrono::milliseconds::max());
    /// I/O thread: takes back the first waiting request that is `movable`, so that an
    /// idle peer can run it (handoff.hpp); nullptr when none waits. The PHP thread never
    /// sees a withdrawn request.
    Exchange* withdraw_movable();
    /// True while no request waits.
    bool empty();
    /// True once stop() was called.
    bool stopped();
    /// Lets take() return nullptr once the queue is empty.
    void stop();

private:
    void reset_if_drained();  // with mutex_ held

    std::mutex mutex_;
    std::condition_variable ready_;
    std::vector<Exchange*> items_;
    std::size_t head_ = 0;
    bool sleeping_ = false;
    bool stopped_ = false;
};

}  // namespace askr::worker
