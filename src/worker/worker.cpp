#include "worker/worker.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>

#include <random>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "core/log.hpp"

#include "http/h1/connection.hpp"
#include "http/tls/tls_context.hpp"
#include "php/engine.hpp"
#include "worker/context.hpp"
#include "worker/telemetry.hpp"

namespace askr::worker {

namespace asio = boost::asio;
using asio::as_tuple;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

namespace {

// Staggered recycling: each worker retires after max_requests plus up to 10% more, so
// that workers started together do not all recycle together.
std::uint64_t staggered_limit(std::uint64_t max_requests) {
    if (max_requests == 0) return 0;
    std::random_device seed;
    std::uniform_int_distribution<std::uint64_t> grace(0, max_requests / 10);
    return max_requests + grace(seed);
}

// The I/O thread's side of a worker: accepting (with the load-following accept policy),
// signals, timeouts, draining.
class IoSide final : public WorkerEvents {
public:
    IoSide(const config::ServeOptions& options, const WorkerIdentity& identity, asio::io_context& io,
           PhpQueue& php, Completions& completions)
        : context_(options, io, php, completions),
          identity_(identity),
          request_limit_(staggered_limit(identity.max_requests)),
          signals_(io, SIGTERM, SIGINT),
          stop_requests_(io),
          sweeper_(io),
          shutdown_timer_(io),
          accept_resume_(io),
          telemetry_(options, identity.metrics, identity.supervisor) {
        context_.telemetry = &telemetry_;
        context_.router.root = options.root;
        context_.router.index = options.index;
        context_.router.symlinks = options.symlinks;
        context_.router.worker_script = options.worker_script;
        context_.limits.max_body_bytes = options.max_body_size;
        context_.events = this;
        context_.tls = identity.tls ? identity.tls->native_handle() : nullptr;
        context_.on_last_connection_closed = [](Context& c) { asio::post(c.io, [&c] { finish(c); }); };
    }

    void start(std::vector<core::ListenSocket>& sockets) {
        std::vector<http::h1::Listener> kinds;
        for (auto& s : sockets) {
            const bool v6 = s.host.find(':') != std::string::npos;
            acceptors_.emplace_back(context_.io, v6 ? tcp::v6() : tcp::v4(), ::dup(s.fd.get()));
            kinds.push_back(s.redirect_to_https ? http::h1::Listener::https_redirect
                            : context_.tls      ? http::h1::Listener::https
                                                : http::h1::Listener::http);
            if (kinds.back() == http::h1::Listener::https && context_.https_port == 0) context_.https_port = s.port;
        }
        for (std::size_t i = 0; i < acceptors_.size(); ++i) {
            asio::co_spawn(context_.io, accept_loop(acceptors_[i], kinds[i]), core::log_coroutine_exception);
        }
        signals_.async_wait([this](boost::system::error_code ec, int signal) { on_signal(ec, signal); });
        if (identity_.stop_fd >= 0) {
            stop_requests_.assign(::dup(identity_.stop_fd));
            asio::co_spawn(context_.io, stop_request_loop(), core::log_coroutine_exception);
        }
        asio::co_spawn(context_.io, sweep_loop(), core::log_coroutine_exception);
    }

    // Accept policy (issue 3, DESIGN.md section 2): while this worker's PHP thread is busy
    // and another worker is idle, it takes no new connection, so that a fast request never
    // waits behind a slow one. When no other worker is idle it keeps accepting: pausing
    // then would only starve new connections in the backlog (its keep-alive clients keep
    // it busy). Outstanding requests are counted here, on the I/O thread, so that submit
    // and release are seen in order.
    void php_submitted() override {
        ++php_outstanding_;
        if (!accept_paused_ && another_worker_idle()) pause_accepting();
    }

    void php_finished() override {
        --php_outstanding_;
        if (accept_paused_ && (php_outstanding_ == 0 || !another_worker_idle())) {
            accept_paused_ = false;
            accept_resume_.cancel();
        }
    }

    void pause_accepting() {
        accept_paused_ = true;
        boost::system::error_code ignored;
        for (auto& a : acceptors_) a.cancel(ignored);
    }

    bool another_worker_idle() const {
        const shm::Scoreboard* board = identity_.scoreboard;
        if (!board || !identity_.slot) return false;
        for (std::size_t i = 0; i < board->size(); ++i) {
            const shm::WorkerSlot& other = board->slot(i);
            if (&other != identity_.slot && other.state.load(std::memory_order_relaxed) == shm::WorkerState::idle) {
                return true;
            }
        }
        return false;
    }

    void request_started() override {
        ++requests_;
        if (identity_.slot) identity_.slot->requests.store(requests_, std::memory_order_relaxed);
        if (request_limit_ != 0 && requests_ >= request_limit_ && !context_.draining) {
            spdlog::info("worker {}: {} requests served (--max-requests); recycling", ::getpid(), requests_);
            begin_drain();
        }
    }

private:
    asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, http::h1::Listener listener) {
        while (!context_.draining) {
            if (accept_paused_) {
                accept_resume_.expires_at(asio::steady_timer::time_point::max());
                co_await accept_resume_.async_wait(as_tuple(use_awaitable));
                continue;
            }
            auto [ec, socket] = co_await acceptor.async_accept(as_tuple(use_awaitable));
            // A connection accepted as the drain began is still served (with
            // Connection: close): dropping it would fail a request the client already sent.
            if (ec == asio::error::operation_aborted) continue;  // paused, or closing
            if (ec) {
                // Out of descriptors (EMFILE/ENFILE): back off instead of spinning.
                spdlog::warn("accept failed: {}; retrying in 100 ms", ec.message());
                asio::steady_timer pause(context_.io, std::chrono::milliseconds(100));
                co_await pause.async_wait(as_tuple(use_awaitable));
                continue;
            }
            http::h1::start_connection(context_, std::move(socket), listener);
        }
    }

    // The master asks for a drain through the slot's eventfd (see master.cpp).
    asio::awaitable<void> stop_request_loop() {
        std::uint64_t count;
        auto [ec, n] = co_await asio::async_read(stop_requests_, asio::buffer(&count, sizeof count),
                                                 as_tuple(use_awaitable));
        if (!ec) begin_drain();
    }

    // SIGTERM/SIGINT sent to a worker directly (the terminal's Ctrl-C, a process manager):
    // asio's handler runs on the PHP thread and only writes to a pipe; this completion runs
    // on the I/O thread. The master itself never signals a worker for a graceful stop.
    void on_signal(boost::system::error_code ec, int) {
        if (ec) return;
        begin_drain();
        signals_.async_wait([this](boost::system::error_code e, int s) { on_signal(e, s); });
    }

    // Once a second: close connections whose client has taken too long (timeouts).
    asio::awaitable<void> sweep_loop() {
        for (;;) {
            sweeper_.expires_after(std::chrono::seconds(1));
            auto [ec] = co_await sweeper_.async_wait(as_tuple(use_awaitable));
            if (ec) co_return;
            const auto now = http::h1::Connection::Clock::now();
            for (auto* c = context_.connections; c; c = c->next) {
                if (c->deadline() < now) c->abort();
            }
            // The accept policy, re-checked: another worker may have become idle since.
            if (!accept_paused_ && php_outstanding_ > 0 && another_worker_idle()) pause_accepting();
            if (identity_.slot) identity_.slot->rss_bytes.store(shm::current_rss_bytes(), std::memory_order_relaxed);
            telemetry_.tick();  // access log flush, CPU split, log reopen (SIGUSR1)
        }
    }

    void begin_drain() {
        if (context_.draining) return;
        context_.draining = true;
        if (identity_.slot) identity_.slot->state.store(shm::WorkerState::draining, std::memory_order_relaxed);
        boost::system::error_code ignored;
        for (auto& acceptor : acceptors_) acceptor.close(ignored);
        accept_resume_.cancel();
        for (auto* c = context_.connections; c; c = c->next) c->expire_if_idle();
        if (context_.connection_count == 0) {
            asio::post(context_.io, [this] { finish(context_); });
            return;
        }
        shutdown_timer_.expires_after(context_.options.shutdown_timeout);
        shutdown_timer_.async_wait([this](boost::system::error_code ec) {
            if (ec) return;
            spdlog::warn("worker {}: shutdown timeout, {} connection(s) still busy; exiting", ::getpid(),
                         context_.connection_count);
            std::_Exit(0);
        });
    }

    static void finish(Context& context) {
        context.php.stop();
        context.io.stop();
    }

    Context context_;
    WorkerIdentity identity_;
    std::uint64_t request_limit_;
    std::uint64_t requests_ = 0;
    std::vector<tcp::acceptor> acceptors_;
    asio::signal_set signals_;
    asio::posix::stream_descriptor stop_requests_;
    asio::steady_timer sweeper_;
    asio::steady_timer shutdown_timer_;
    asio::steady_timer accept_resume_;
    bool accept_paused_ = false;
    std::size_t php_outstanding_ = 0;  // submitted to PHP and not yet released
    Telemetry telemetry_;
};

// The PHP thread's side of the queue: the next request, and the worker table kept up to
// date (busy while a request runs, idle while waiting).
class RequestFeed final : public php::RequestSource {
public:
    RequestFeed(PhpQueue& queue, shm::WorkerSlot* slot) : queue_(queue), slot_(slot) {}
    php::ScriptRequest* next() override { return next_for(std::chrono::milliseconds::max()); }

    php::ScriptRequest* next_for(std::chrono::milliseconds timeout) override {
        set_state(shm::WorkerState::busy, shm::WorkerState::idle);
        if (slot_) slot_->request_started_ms.store(0, std::memory_order_relaxed);
        Exchange* exchange = queue_.take(timeout);
        if (!exchange) return nullptr;
        if (slot_) slot_->request_started_ms.store(shm::now_ms(), std::memory_order_relaxed);
        set_state(shm::WorkerState::idle, shm::WorkerState::busy);
        return &exchange->script;
    }

    bool stopping() override { return queue_.stopped(); }

private:
    void set_state(shm::WorkerState from, shm::WorkerState to) {
        if (slot_) slot_->state.compare_exchange_strong(from, to, std::memory_order_relaxed);
    }
    PhpQueue& queue_;
    shm::WorkerSlot* slot_;
};

}  // namespace

int run_worker(const config::ServeOptions& options, std::vector<core::ListenSocket>& sockets,
               const WorkerIdentity& identity) {
    ::prctl(PR_SET_NAME, "askr: worker");
    php::bind_php_thread();  // the zygote's timer did not survive the fork
    // SIGQUIT is the fast stop: exit in the handler itself (async-signal-safe), before the
    // interrupted script can finish anything.
    struct sigaction quit{};
    quit.sa_handler = [](int) { ::_exit(0); };
    sigemptyset(&quit.sa_mask);
    ::sigaction(SIGQUIT, &quit, nullptr);
    asio::io_context io;  // created after fork() (DESIGN.md section 7)
    PhpQueue php_queue;
    Completions completions(io);
    IoSide io_side(options, identity, io, php_queue, completions);
    io_side.start(sockets);

    // The I/O thread blocks every signal: PHP's timers (SIGPROF) and the stop signals
    // reach the PHP thread only (ZEND_SIGNALS, DESIGN.md section 3).
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    std::thread io_thread([&io] { io.run(); });
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);

    shm::WorkerSlot* slot = identity.slot;
    if (slot) slot->state.store(shm::WorkerState::idle, std::memory_order_release);
    // idle <-> busy by compare-exchange: a `draining` set by the I/O thread stays.
    RequestFeed feed(php_queue, slot);
    if (options.worker_script.empty()) {
        while (php::ScriptRequest* script = feed.next()) php::run_script(*script);
    } else {
        php::WorkerScript worker{options.worker_script, options.root, options.frankenphp_compat};
        php::run_worker_script(worker, feed);  // worker mode: the script loops on the feed
    }
    io_thread.join();
    return 0;
}

}  // namespace askr::worker
