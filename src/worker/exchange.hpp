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

#include "core/unique_fd.hpp"
#include "http/request.hpp"
#include "http/router.hpp"
#include "php/engine.hpp"

namespace askr::worker {

class Completions;

/// The PHP mailbox: one PHP request crossing from the I/O thread to the PHP thread, and its
/// response coming back as a stream. Only requests that go to PHP get one, from the PHP
/// handler's pool (php_handler.hpp); it is reused.
///
/// The I/O thread points `script` at the request, submits the exchange, then loops on
/// take()/wait() and hands what it gets to the response sink. The PHP thread pushes head
/// and body (push/end); it waits only when more than `max_buffered` bytes are not yet
/// written to a slow client.
class Exchange final : public php::ResponseWriter {
  public:
    /// `spool_limit`: how much of a response may wait in a temporary file for a slow
    /// client beyond the max_buffered bytes in memory (0: none; PHP waits instead).
    Exchange(boost::asio::io_context& io, Completions& completions, std::uint64_t spool_limit = 0);
    ~Exchange() override;
    Exchange(const Exchange&) = delete;
    Exchange& operator=(const Exchange&) = delete;

    /// I/O thread only: the connection may move to another worker while this request
    /// waits for PHP (clear-text HTTP/1.1, request whole in its buffer; handoff.hpp) ...
    bool movable = false;
    /// ... and the slot of the idle worker that asked for it, once withdrawn (-1: none).
    int withdrawn_to = -1;
    std::shared_ptr<const http::Route> route;  ///< how it was routed (owns the script path strings)
    php::ScriptRequest script;                 ///< what the PHP thread runs
    /// I/O thread: where take() puts the head and body (kept with the exchange, so that
    /// their buffers are reused from request to request).
    php::ResponseHead taken_head;
    std::string taken_body;
    /// An interim (1xx) response the script asked for before its head.
    struct Interim {
        int status = 0;
        http::Fields fields;
    };
    /// I/O thread: the interim responses the last take() found, to go out before the head.
    std::vector<Interim> taken_interims;

    // --- PHP thread -------------------------------------------------------------------
    bool push(php::ResponseHead* head, std::string& body, bool last) override;
    void end(php::ResponseHead* head, std::string& body) override;
    bool client_gone() override;
    bool interim(int status, const http::Fields& fields) override;

    /// Closes the spool file a response cut short left behind, so that its disk space is
    /// freed when the request ends, not when the exchange is next used.
    void drop_spool();
    // --- I/O thread -------------------------------------------------------------------
    /// What take() found.
    struct Progress {
        bool interims = false;  ///< taken_interims holds interim responses, sent before the head
        bool head = false;      ///< the head was handed over by this take()
        bool complete = false;  ///< the response is complete (all body taken)
        bool released = false;  ///< the PHP thread is done with this exchange
        bool more = false;      ///< more is ready to take now (the spool): do not wait
    };
    /// Prepares the exchange for `request`, whose client connection is `socket_fd`.
    void begin(const http::Request& request, int socket_fd);
    /// The client socket this exchange polls in client_gone().
    int socket_fd() const { return socket_fd_.load(std::memory_order_relaxed); }
    /// The connection goes on without this exchange (its response is complete, PHP still
    /// runs the script): client_gone() stops looking at a socket that may be reused.
    void detach() { socket_fd_.store(-1, std::memory_order_relaxed); }
    /// Moves what PHP produced into `head` (first time) and `body` (must be empty), and
    /// the interim responses that precede the head into `taken_interims`.
    Progress take(php::ResponseHead& head, std::string& body);
    /// Reports `bytes` taken earlier as written (lets a waiting PHP thread go on).
    void written(std::size_t bytes);
    /// Records that the client is gone: PHP stops waiting and sees connection_aborted().
    void mark_client_gone();
    /// The PHP thread will never finish this exchange (it crashed or hung, worker.cpp):
    /// a response not yet started becomes Askr's page for `status`; one already started
    /// ends incomplete (its connection closes). Either way the exchange is released.
    void abandon(int status);
    /// Suspends until the PHP thread hands over something new.
    boost::asio::awaitable<void> wait();
    /// Called by Completions on the I/O thread: wakes wait().
    void wake();

    static constexpr std::size_t max_buffered = 1 << 20;
    static constexpr std::size_t spool_chunk = 256 << 10;  ///< read from the spool per take()

  private:
    friend class Completions;
    void append_output(std::unique_lock<std::mutex>& lock, std::string& body);
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
    std::vector<Interim> interims_;  // handed over by PHP, not yet taken
    std::size_t in_flight_ = 0;
    std::atomic<bool> client_gone_{false};
    // The spool (append_output): bytes [spool_read_, spool_end_) of the file wait to be sent.
    const std::uint64_t spool_limit_;
    core::UniqueFd spool_;
    bool spooling_ = false;  // this response's output goes to the file from now on
    std::uint64_t spool_end_ = 0;
    std::uint64_t spool_read_ = 0;
};

/// Wakes exchanges on the I/O thread when the PHP thread has news for them; batches the
/// wake-ups (one post per burst: a cross-thread wake-up costs more than the work it
/// announces, docs/architecture.md).
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
    /// I/O thread, once the PHP thread is lost: stops the queue and returns the request
    /// it was running (nullptr when none) and, in `waiting`, those it never started.
    Exchange* abandon(std::vector<Exchange*>& waiting);

  private:
    void reset_if_drained();  // with mutex_ held

    std::mutex mutex_;
    std::condition_variable ready_;
    std::vector<Exchange*> items_;
    std::size_t head_ = 0;
    Exchange* running_ = nullptr;  // the last one take() returned, until the next take()
    bool sleeping_ = false;
    bool stopped_ = false;
};

}  // namespace askr::worker
