#include "worker/worker.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>

#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "http/h1/connection.hpp"
#include "php/engine.hpp"
#include "worker/context.hpp"

namespace askr::worker {

namespace asio = boost::asio;
using asio::as_tuple;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

namespace {

// Signals the process handles; blocked in every thread and read from a signalfd on the
// I/O thread, so that no handler ever runs inside PHP (ZEND_SIGNALS, DESIGN.md section 3).
sigset_t control_signals() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2}) sigaddset(&set, s);
    return set;
}

void log_exception(std::exception_ptr e) {
    if (!e) return;
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        spdlog::error("connection ended by an internal error: {}", ex.what());
    }
}

class IoSide {
public:
    IoSide(const config::ServeOptions& options, asio::io_context& io, PhpQueue& php, Completions& completions)
        : context_{options, io, php, completions, {}, {}},
          signals_(io),
          sweeper_(io),
          shutdown_timer_(io) {
        context_.router.root = options.root;
        context_.router.index = options.index;
        context_.router.symlinks = options.symlinks;
        context_.limits.max_body_bytes = options.max_body_size;
        context_.on_last_connection_closed = [](Context& c) { asio::post(c.io, [&c] { finish(c); }); };
    }

    void start(std::vector<core::ListenSocket>& sockets) {
        for (auto& s : sockets) {
            const bool v6 = s.host.find(':') != std::string::npos;
            acceptors_.emplace_back(context_.io, v6 ? tcp::v6() : tcp::v4(), s.fd.release());
        }
        for (auto& acceptor : acceptors_) asio::co_spawn(context_.io, accept_loop(acceptor), log_exception);
        sigset_t set = control_signals();
        int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
        if (fd < 0) throw std::runtime_error("signalfd() failed");
        signals_.assign(fd);
        asio::co_spawn(context_.io, signal_loop(), log_exception);
        asio::co_spawn(context_.io, sweep_loop(), log_exception);
    }

private:
    asio::awaitable<void> accept_loop(tcp::acceptor& acceptor) {
        for (;;) {
            auto [ec, socket] = co_await acceptor.async_accept(as_tuple(use_awaitable));
            if (context_.draining) co_return;
            if (ec) {
                if (ec == asio::error::operation_aborted) co_return;
                // Out of descriptors (EMFILE/ENFILE): back off instead of spinning.
                spdlog::warn("accept failed: {}; retrying in 100 ms", ec.message());
                asio::steady_timer pause(context_.io, std::chrono::milliseconds(100));
                co_await pause.async_wait(as_tuple(use_awaitable));
                continue;
            }
            auto connection = std::make_unique<http::h1::Connection>(context_, std::move(socket));
            asio::co_spawn(context_.io, http::h1::Connection::serve(std::move(connection)), log_exception);
        }
    }

    asio::awaitable<void> signal_loop() {
        signalfd_siginfo info;
        for (;;) {
            auto [ec, n] = co_await asio::async_read(signals_, asio::buffer(&info, sizeof info), as_tuple(use_awaitable));
            if (ec) co_return;
            switch (info.ssi_signo) {
                case SIGTERM:
                case SIGINT: begin_drain(strsignal(static_cast<int>(info.ssi_signo))); break;
                case SIGQUIT:
                    spdlog::info("SIGQUIT: stopping now");
                    std::_Exit(0);
                case SIGHUP: spdlog::info("SIGHUP: reload needs the master process; ignored"); break;
                default: break;
            }
        }
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
        }
    }

    void begin_drain(const char* why) {
        if (context_.draining) return;
        context_.draining = true;
        spdlog::info("{}: graceful stop, draining {} connection(s) (at most {}s)", why,
                     context_.connection_count, context_.options.shutdown_timeout.count());
        boost::system::error_code ignored;
        for (auto& acceptor : acceptors_) acceptor.close(ignored);
        for (auto* c = context_.connections; c; c = c->next) {
            if (c->idle()) c->abort();
        }
        if (context_.connection_count == 0) {
            asio::post(context_.io, [this] { finish(context_); });
            return;
        }
        shutdown_timer_.expires_after(context_.options.shutdown_timeout);
        shutdown_timer_.async_wait([this](boost::system::error_code ec) {
            if (ec) return;
            spdlog::warn("shutdown timeout: {} connection(s) still busy; exiting", context_.connection_count);
            std::_Exit(0);
        });
    }

    static void finish(Context& context) {
        spdlog::info("drained; stopping");
        context.php.stop();
        context.io.stop();
    }

    Context context_;
    std::vector<tcp::acceptor> acceptors_;
    asio::posix::stream_descriptor signals_;
    asio::steady_timer sweeper_;
    asio::steady_timer shutdown_timer_;
};

}  // namespace

int run_worker(const config::ServeOptions& options, std::vector<core::ListenSocket>& sockets) {
    sigset_t control = control_signals();
    pthread_sigmask(SIG_BLOCK, &control, nullptr);

    php::EngineOptions engine;
    engine.ini = options.php_ini;
    engine.server_software = "Askr/" ASKR_VERSION;
    php::startup(engine);

    asio::io_context io;
    PhpQueue php_queue;
    Completions completions(io);
    IoSide io_side(options, io, php_queue, completions);
    io_side.start(sockets);

    // The I/O thread blocks every signal: PHP's timers (SIGPROF) and anything else reach
    // the PHP thread only.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    std::thread io_thread([&io] { io.run(); });
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);

    for (const auto& s : sockets) {
        const bool v6 = s.host.find(':') != std::string::npos;
        spdlog::info("listening on http://{}{}{}:{}", v6 ? "[" : "", s.host, v6 ? "]" : "", s.port);
    }
    spdlog::info("serving {} with PHP {} (index {})", options.root, php::php_version(), options.index);

    while (Exchange* exchange = php_queue.take()) {
        php::run_script(exchange->script);
        php_queue.finished();
    }
    io_thread.join();
    php::shutdown();
    return 0;
}

}  // namespace askr::worker
