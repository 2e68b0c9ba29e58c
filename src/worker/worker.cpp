#include "worker/worker.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <optional>
#include <random>
#include <thread>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/ip_address.hpp"
#include "core/log.hpp"

#include "http/connection.hpp"
#include "http/context.hpp"
#include "http/forwarded.hpp"
#include "http/h1/connection.hpp"
#include "http/tls/tls_context.hpp"
#include "php/engine.hpp"
#include "worker/accept_policy.hpp"
#include "worker/accept_thread.hpp"
#include "worker/broadcast_stage.hpp"
#include "worker/chain.hpp"
#include "worker/exchange.hpp"
#include "worker/health.hpp"
#include "worker/php_handler.hpp"
#include "worker/telemetry.hpp"

namespace askr::worker {

namespace asio = boost::asio;
using asio::as_tuple;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

// A moved connection brings its read buffer along.
static_assert(max_moved_bytes == http::h1::read_buffer_size);

namespace {

// --- a lost PHP thread ----------------------------------------------------------------
//
// A worker has one PHP thread. When it crashes (a segfault in an extension, a stack
// overflow from runaway recursion, abort()) or hangs past --request-timeout (the master
// sends request_timeout_signal()), the process cannot serve PHP any more, but its I/O
// thread can still answer: the request PHP was running gets 502 (504 for the timeout) if
// its response had not started, the requests waiting behind it 503, and the log names the
// request. The PHP thread's handler only writes to an eventfd and parks; the I/O thread
// does the rest and exits the process. Should the I/O thread not manage within a few
// seconds, SIGALRM's default action ends the process.

std::atomic<bool> php_lost{false};
int php_lost_fd = -1;
pid_t php_thread_id = 0;
constexpr int lost_exit_status = 70;  // EX_SOFTWARE

// Which signal it was and the status to answer, through the eventfd's 64-bit counter.
constexpr std::uint64_t lost_code(int status, int signal) {
    return static_cast<std::uint64_t>(status) << 16 | static_cast<std::uint64_t>(signal);
}

extern "C" void on_php_thread_lost(int signal) {
    if (static_cast<pid_t>(::syscall(SYS_gettid)) != php_thread_id) {
        // Not the PHP thread: the fault is the server's own; the default action (a core).
        struct sigaction fallback {};
        fallback.sa_handler = SIG_DFL;
        ::sigaction(signal, &fallback, nullptr);
        return;  // a fault happens again at once; abort() raises again itself
    }
    if (!php_lost.exchange(true)) {
        const std::uint64_t code =
            lost_code(signal == request_timeout_signal() ? 504 : 502, signal);
        [[maybe_unused]] auto written = ::write(php_lost_fd, &code, sizeof code);
        ::alarm(3);
    }
    for (;;) ::pause();
}

// On the PHP thread, before the I/O thread starts: the handlers, and a stack of their own
// (a stack overflow leaves none to run on).
void guard_php_thread(int lost_fd) {
    php_lost_fd = lost_fd;
    php_thread_id = static_cast<pid_t>(::syscall(SYS_gettid));
    static char alternate_stack[64 * 1024];
    stack_t stack{};
    stack.ss_sp = alternate_stack;
    stack.ss_size = sizeof alternate_stack;
    ::sigaltstack(&stack, nullptr);
    struct sigaction lost {};
    lost.sa_handler = on_php_thread_lost;
    lost.sa_flags = SA_ONSTACK;
    const int signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, request_timeout_signal()};
    sigemptyset(&lost.sa_mask);  // SIGALRM stays deliverable: the backstop
    for (int signal : signals) sigaddset(&lost.sa_mask, signal);
    for (int signal : signals) ::sigaction(signal, &lost, nullptr);
}

BroadcastSettings broadcast_settings(const config::ServeOptions& options) {
    return {.max_channel_length = options.broadcast_max_channel_length,
            .max_channels = options.broadcast_max_channels,
            .max_subscribers = options.broadcast_max_subscribers,
            .buffer = static_cast<std::size_t>(options.broadcast_buffer),
            .heartbeat = options.broadcast_heartbeat,
            .retry_ms = options.broadcast_retry_ms};
}

http::CompressionSettings compression_settings(const config::ServeOptions& options) {
    http::CompressionSettings settings;
    settings.enabled = options.compression;
    settings.gzip_level = static_cast<int>(options.compression_gzip_level);
    settings.br_level = static_cast<int>(options.compression_br_level);
    settings.zstd_level = static_cast<int>(options.compression_zstd_level);
    settings.min_size = options.compression_min_size;
    settings.static_max_size = options.compression_static_max;
    settings.static_memory = options.compression_static_memory;
    settings.types = options.compression_types;
    return settings;
}

// Staggered recycling: each worker retires after max_requests plus up to 10% more, so
// that workers started together do not all recycle together.
std::uint64_t staggered_limit(std::uint64_t max_requests) {
    if (max_requests == 0) return 0;
    std::random_device seed;
    std::uniform_int_distribution<std::uint64_t> grace(0, max_requests / 10);
    return max_requests + grace(seed);
}

// The I/O thread's side of a worker: accepting (with the load-following accept policy),
// the handler chain, signals, timeouts, draining.
class IoSide final : public http::ConnectionEvents, public PhpLoad {
  public:
    IoSide(const config::ServeOptions& options, const WorkerIdentity& identity,
           asio::io_context& io, PhpQueue& php, Completions& completions)
        : options_(options),
          context_(io),
          php_queue_(php),
          identity_(identity),
          request_limit_(staggered_limit(identity.max_requests)),
          signals_(io, SIGTERM, SIGINT),
          stop_requests_(io),
          moved_in_(io),
          php_lost_(io),
          sweeper_(io),
          recheck_(io),
          shutdown_timer_(io),
          telemetry_(options, identity.metrics, identity.supervisor),
          router_{options.root, options.index, options.symlinks, options.worker_script},
          php_handler_(io, php, completions, *this, &telemetry_, router_,
                       options.response_spool_max),
          chain_(router_, php_handler_, options.sendfile_roots, compression_settings(options)) {
        context_.observer = &telemetry_;
        context_.limits.max_body_bytes = options.max_body_size;
        context_.limits.max_header_bytes = options.max_header_size;
        context_.limits.max_target_bytes = options.max_uri_size;
        context_.limits.max_header_count = options.max_header_count;
        context_.limits.h2_max_streams = options.h2_max_streams;
        context_.timeouts.header = options.header_timeout;
        context_.timeouts.keepalive = options.keepalive_timeout;
        context_.timeouts.body = options.body_timeout;
        context_.timeouts.write = options.write_timeout;
        context_.timeouts.min_send_rate = options.min_send_rate;
        context_.timeouts.tls_handshake = options.tls_handshake_timeout;
        for (const auto& text : options.trusted_proxies) {
            std::string error;  // checked when the configuration was read
            if (text == "unix") {
                trusted_proxies_.add_unix_peers();
            } else if (const auto range = core::parse_address_range(text, error)) {
                trusted_proxies_.add(*range);
            }
        }
        health_paths_ = {options.health_path, options.ready_path};
        context_.events = this;
        context_.tls = identity.tls ? identity.tls->native_handle() : nullptr;
        context_.owner = this;
        context_.on_last_connection_closed = [](http::Context& c) {
            auto* self = static_cast<IoSide*>(c.owner);
            asio::post(c.io, [self] { self->finish(); });
        };
    }

    // The stages every request meets before `chain`: the health probes answered, then
    // trusted proxies' headers applied.
    http::Handler& front(http::Handler& chain, std::optional<http::TrustedProxyStage>& proxied,
                         std::optional<HealthStage>& probes) {
        http::Handler* first = &chain;
        if (!trusted_proxies_.empty()) first = &proxied.emplace(chain, trusted_proxies_);
        if (health_paths_.any())
            first = &probes.emplace(*first, health_paths_, context_, identity_.slot);
        return *first;
    }

    void start(std::vector<core::ListenSocket>& sockets) {
        std::vector<AcceptSocket> accept_sockets;
        std::uint16_t https_port = 0;
        for (auto& s : sockets) {
            if (!s.redirect_to_https && context_.tls && https_port == 0) https_port = s.port;
        }
        redirect_.emplace(chain_, router_, https_port);
        http::Handler* events = &chain_;
        if (identity_.broadcast) {
            broadcast_.emplace(chain_, context_.io, *identity_.broadcast, identity_.slot_index,
                               broadcast_settings(options_));
            broadcast_->start();
            events = &*broadcast_;
        }
        http::Handler& main = front(*events, proxied_chain_, probed_chain_);
        http::Handler& redirect = front(*redirect_, proxied_redirect_, probed_redirect_);
        plain_ = {&main, false, true};
        for (auto& s : sockets) {
            accept_sockets.push_back({s.fd.get(), s.redirect_to_https || !context_.tls});
            http::h1::Service service =
                s.redirect_to_https ? http::h1::Service{&redirect, false, false}
                : context_.tls      ? http::h1::Service{&main, true, false}
                                    : plain_;
            if (s.proxy_protocol) {
                // A moved connection is rebuilt from its socket alone (worker/handoff.hpp),
                // which would lose the addresses its PROXY header gave: these stay put.
                service.proxy_protocol = true;
                service.movable = false;
                service.proxy_peers = &trusted_proxies_;
            }
            listeners_.push_back(
                {s.host.find(':') != std::string::npos ? tcp::v6() : tcp::v4(), service});
        }
        accept_sockets_ = std::move(accept_sockets);
        if (options_.worker_script.empty()) {
            start_accepting();
        } else {
            asio::co_spawn(context_.io, accept_when_ready(), core::log_coroutine_exception);
        }
        signals_.async_wait(
            [this](boost::system::error_code ec, int signal) { on_signal(ec, signal); });
        if (identity_.stop_fd >= 0) {
            stop_requests_.assign(::dup(identity_.stop_fd));
            asio::co_spawn(context_.io, stop_request_loop(), core::log_coroutine_exception);
        }
        if (identity_.handoff_receive >= 0) {
            moved_in_.assign(::dup(identity_.handoff_receive));
            asio::co_spawn(context_.io, moved_in_loop(), core::log_coroutine_exception);
        }
        asio::co_spawn(context_.io, sweep_loop(), core::log_coroutine_exception);
    }

    /// The eventfd the PHP thread's crash and timeout handlers write to.
    int watch_php_thread() {
        php_lost_.assign(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        asio::co_spawn(context_.io, php_lost_loop(), core::log_coroutine_exception);
        return php_lost_.native_handle();
    }

    // What the accept policy (accept_policy.hpp) reads about this worker. Outstanding
    // requests are counted here, on the I/O thread, so that submit and release are seen
    // in order.
    void php_submitted() override {
        ++php_outstanding_;
        if (identity_.slot)
            identity_.slot->php_outstanding.store(php_outstanding_, std::memory_order_relaxed);
        if (php_outstanding_ >= 2) watch_waiting();
    }

    void php_finished() override {
        --php_outstanding_;
        if (identity_.slot)
            identity_.slot->php_outstanding.store(php_outstanding_, std::memory_order_relaxed);
    }

    void connection_closed() override {
        if (!identity_.slot) return;
        // Never below zero: a miscount must not wrap into a worker that looks full.
        auto& open = identity_.slot->connections;
        std::uint32_t now = open.load(std::memory_order_relaxed);
        while (now > 0 && !open.compare_exchange_weak(now, now - 1, std::memory_order_relaxed)) {
        }
    }

    // Moving a connection whose request would wait here for PHP to an idle peer
    // (handoff.hpp). The common case costs one comparison: PHP is free, the request runs here.
    int move_target(const http::Request& request) override {
        if (php_outstanding_ == 0 || !can_move()) return -1;
        const int peer = idle_peer_for(static_cast<std::uint32_t>(php_outstanding_));
        if (peer < 0 || chain_.routes().resolve(request.path(), request.query())->kind !=
                            http::Route::Kind::php) {
            return -1;
        }
        return peer;
    }

    bool move_connection(int peer, int socket_fd, std::string_view unread) override {
        const auto index = static_cast<std::size_t>(peer);
        if (!identity_.handoff || index >= identity_.handoff->size()) return false;
        if (!send_connection((*identity_.handoff)[index].send.get(), socket_fd, unread))
            return false;
        if (identity_.slot)
            identity_.slot->connections_moved.fetch_add(1, std::memory_order_relaxed);
        return true;
    }

    /// From another thread: drain as the master's stop request would.
    void request_drain() {
        asio::post(context_.io, [this] { begin_drain(); });
    }

    void request_started() override {
        ++requests_;
        if (identity_.slot) identity_.slot->requests.store(requests_, std::memory_order_relaxed);
        if (request_limit_ != 0 && requests_ >= request_limit_ && !context_.draining) {
            spdlog::info("worker {}: {} requests served (--max-requests); recycling", ::getpid(),
                         requests_);
            begin_drain();
        }
    }

    void request_moved_away() override {
        if (requests_ > 0) --requests_;  // counted by request_started(), served by the peer
        if (identity_.slot) identity_.slot->requests.store(requests_, std::memory_order_relaxed);
    }

  private:
    void start_accepting() {
        AcceptPeers peers{identity_.scoreboard, identity_.slot, identity_.kick_fds,
                          identity_.kick_fd,
                          identity_.metrics ? &identity_.metrics->connections_shed : nullptr};
        accept_thread_.emplace(
            accept_sockets_, options_.max_connections, peers, [this](int fd, std::size_t listener) {
                asio::post(context_.io, [this, fd, listener] { on_accepted(fd, listener); });
            });
    }

    // Worker mode: a worker takes connections once its script can serve (it reached
    // askr_handle_request()), so that a new generation whose script is broken or still
    // booting never answers for the one that serves (docs/reload.md). When no other worker
    // serves (the first start, or every other one is gone), it takes them at once: the
    // clients then wait for the boot, or get a 503 from a script that cannot start,
    // instead of waiting unanswered in the listen queue.
    asio::awaitable<void> accept_when_ready() {
        asio::steady_timer poll(context_.io);
        while (!context_.draining) {
            if (!identity_.slot || !identity_.scoreboard || can_serve(*identity_.slot) ||
                !another_worker_serves()) {
                start_accepting();
                co_return;
            }
            poll.expires_after(std::chrono::milliseconds(20));
            co_await poll.async_wait(as_tuple(use_awaitable));
        }
    }

    static bool can_serve(const shm::WorkerSlot& slot) {
        const auto state = slot.state.load(std::memory_order_acquire);
        return state == shm::WorkerState::idle || state == shm::WorkerState::busy;
    }

    bool another_worker_serves() const {
        for (std::size_t i = 0; i < identity_.scoreboard->size(); ++i) {
            const shm::WorkerSlot& other = identity_.scoreboard->slot(i);
            if (&other != identity_.slot && can_serve(other)) return true;
        }
        return false;
    }

    // On the I/O thread: a connection the accept thread took. One accepted as the drain
    // began is still served (with Connection: close): dropping it would fail a request
    // the client already sent.
    void on_accepted(int fd, std::size_t listener) {
        boost::system::error_code ec;
        tcp::socket socket(context_.io);
        socket.assign(listeners_[listener].protocol, fd, ec);
        if (ec) {
            ::close(fd);
            connection_closed();
            return;
        }
        if (!http::h1::start_connection(context_, std::move(socket),
                                        listeners_[listener].service)) {
            connection_closed();  // counted by the accept thread, closed again at once
        }
    }

    // Connections a peer moved here, each with a request to answer at once. Served even
    // while draining (with Connection: close): the client already sent the request.
    asio::awaitable<void> moved_in_loop() {
        for (;;) {
            auto [ec] = co_await moved_in_.async_wait(asio::posix::descriptor_base::wait_read,
                                                      as_tuple(use_awaitable));
            if (ec) co_return;
            while (auto message = receive_message(moved_in_.native_handle())) {
                if (message->kind == HandoffMessage::Kind::steal) {
                    on_steal_request(message->idle_slot);
                } else {
                    on_moved_in(std::move(message->socket), message->unread);
                }
            }
        }
    }

    void on_moved_in(core::UniqueFd moved, std::string_view unread) {
        if (identity_.slot) identity_.slot->connections.fetch_add(1, std::memory_order_relaxed);
        sockaddr_storage local{};
        socklen_t length = sizeof local;
        boost::system::error_code ec;
        tcp::socket socket(context_.io);
        if (::getsockname(moved.get(), reinterpret_cast<sockaddr*>(&local), &length) == 0) {
            socket.assign(local.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), moved.get(), ec);
            if (!ec) moved.release();
        }
        if (!socket.is_open() ||
            !http::h1::start_connection(context_, std::move(socket), plain_, unread)) {
            connection_closed();
        }
    }

    // A peer's PHP thread went idle while requests wait here: the first movable one is
    // taken back from the PHP queue, and its connection moves to that peer (the
    // connection's coroutine does the sending, h1/connection.cpp).
    void on_steal_request(std::uint32_t idle_slot) {
        if (idle_slot == identity_.slot_index || context_.draining) return;
        Exchange* waiting = php_queue_.withdraw_movable();
        if (!waiting) return;
        php_finished();
        waiting->withdrawn_to = static_cast<int>(idle_slot);
        waiting->wake();
    }

    // While a request waits here for PHP, every 10 ms: if it would now wait at least
    // --move-after-us (the running script turned out slow) and a peer is idle, it moves
    // there, as if that peer had asked. A peer asks by itself when it goes idle; this
    // covers the peer that was idle all along, without idle workers polling.
    void watch_waiting() {
        if (watching_ || !can_move()) return;
        watching_ = true;
        recheck_.expires_after(std::chrono::milliseconds(10));
        recheck_.async_wait([this](boost::system::error_code ec) {
            watching_ = false;
            if (ec || php_outstanding_ < 2 || context_.draining) return;
            if (const int peer = idle_peer_for(1); peer >= 0)
                on_steal_request(static_cast<std::uint32_t>(peer));
            watch_waiting();
        });
    }

    // Moving is on, and this worker has the worker table and the peers' sockets.
    bool can_move() const {
        return options_.move_after_us != 0 && identity_.handoff && identity_.slot &&
               identity_.scoreboard;
    }

    // Where a request with `ahead` requests before it here (the running one included)
    // goes: an idle peer when it would wait at least --move-after-us, else -1 (it waits).
    int idle_peer_for(std::uint32_t ahead) const {
        if (expected_wait_us(*identity_.slot, ahead, shm::now_ms()) < options_.move_after_us)
            return -1;
        return idle_peer(*identity_.scoreboard, *identity_.slot, options_.max_connections);
    }

    // The master asks for a drain through the slot's eventfd (see master.cpp).
    asio::awaitable<void> stop_request_loop() {
        std::uint64_t count;
        auto [ec, n] = co_await asio::async_read(stop_requests_, asio::buffer(&count, sizeof count),
                                                 as_tuple(use_awaitable));
        if (!ec) begin_drain();
    }

    asio::awaitable<void> php_lost_loop() {
        std::uint64_t code = 0;
        auto [ec, n] = co_await asio::async_read(php_lost_, asio::buffer(&code, sizeof code),
                                                 as_tuple(use_awaitable));
        if (!ec) on_php_lost(static_cast<int>(code >> 16), static_cast<int>(code & 0xffff));
    }

    // The PHP thread crashed or hung (see guard_php_thread): answer what can be answered,
    // say which request it was, and exit.
    void on_php_lost(int status, int signal) {
        lost_ = true;
        std::vector<Exchange*> waiting;
        Exchange* running = php_queue_.abandon(waiting);
        const std::string what =
            status == 504 ? "ran past --request-timeout"
                          : std::string("crashed (SIG") + (sigabbrev_np(signal) ?: "?") + ")";
        if (const http::Request* r = running ? running->script.request : nullptr) {
            spdlog::error(
                "worker {}: PHP {} while running {} {}; answered {} if its response "
                "had not started; the worker exits and is replaced",
                ::getpid(), what, r->method, r->target, status);
        } else {
            spdlog::error("worker {}: PHP {} between requests; the worker exits and is replaced",
                          ::getpid(), what);
        }
        if (running) running->abandon(status);
        for (Exchange* e : waiting) e->abandon(503);
        if (!waiting.empty())
            spdlog::warn("worker {}: {} request(s) waiting for PHP answered 503", ::getpid(),
                         waiting.size());
        begin_drain();
        // Connections with a response under way get a moment to finish it, not more.
        shutdown_timer_.expires_after(std::chrono::seconds(2));
        shutdown_timer_.async_wait([](boost::system::error_code ec) {
            if (!ec) std::_Exit(lost_exit_status);
        });
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
            const auto now = http::Connection::Clock::now();
            for (auto* c = context_.connections; c; c = c->next) {
                if (c->deadline() < now) c->on_deadline();
            }
            if (identity_.slot)
                identity_.slot->rss_bytes.store(shm::current_rss_bytes(),
                                                std::memory_order_relaxed);
            telemetry_.tick();  // access log flush, CPU split, log reopen (SIGUSR1)
        }
    }

    void begin_drain() {
        if (context_.draining) return;
        context_.draining = true;
        if (identity_.slot)
            identity_.slot->state.store(shm::WorkerState::draining, std::memory_order_relaxed);
        if (accept_thread_) accept_thread_->stop();
        for (auto* c = context_.connections; c; c = c->next) c->expire_if_idle();
        if (broadcast_) broadcast_->close_all();  // subscriber streams end; clients reconnect
        // The accept thread is joined: a connection it took just before is queued for
        // on_accepted() ahead of this check, so it is counted (and served) by then.
        asio::post(context_.io, [this] {
            if (context_.connection_count == 0) finish();
        });
        shutdown_timer_.expires_after(options_.shutdown_timeout);
        shutdown_timer_.async_wait([this](boost::system::error_code ec) {
            if (ec) return;
            spdlog::warn("worker {}: shutdown timeout, {} connection(s) still busy; exiting",
                         ::getpid(), context_.connection_count);
            std::_Exit(0);
        });
    }

    void finish() {
        if (lost_) {
            telemetry_.tick();             // the access log's last lines
            std::_Exit(lost_exit_status);  // the PHP thread cannot be joined
        }
        php_queue_.stop();
        context_.io.stop();
    }

    const config::ServeOptions& options_;
    http::Context context_;
    PhpQueue& php_queue_;
    WorkerIdentity identity_;
    std::uint64_t request_limit_;
    std::uint64_t requests_ = 0;
    struct Listener {
        tcp protocol;
        http::h1::Service service;
    };
    std::vector<Listener> listeners_;  // by listening socket, as the accept thread numbers them
    std::vector<AcceptSocket> accept_sockets_;
    std::optional<AcceptThread> accept_thread_;
    asio::signal_set signals_;
    asio::posix::stream_descriptor stop_requests_;
    asio::posix::stream_descriptor moved_in_;  // connections peers hand to this worker
    asio::posix::stream_descriptor php_lost_;  // written by the PHP thread's crash handler
    asio::steady_timer sweeper_;
    asio::steady_timer recheck_;  // watch_waiting()
    bool watching_ = false;
    asio::steady_timer shutdown_timer_;
    bool lost_ = false;                // the PHP thread is lost: exit once the connections are done
    std::size_t php_outstanding_ = 0;  // submitted to PHP and not yet released
    Telemetry telemetry_;
    http::RouterConfig router_;
    PhpHandler php_handler_;
    Chain chain_;
    std::optional<RedirectToHttps> redirect_;  // the chain of --listen-http sockets
    std::optional<BroadcastStage> broadcast_;  // GET /askr/events, in front of chain_
    core::AddressRanges trusted_proxies_;
    std::optional<http::TrustedProxyStage> proxied_chain_, proxied_redirect_;
    HealthPaths health_paths_;
    std::optional<HealthStage> probed_chain_, probed_redirect_;
    http::h1::Service plain_;                  // clear-text listeners (and connections moved in)
};

// The PHP thread's side of the queue: the next request, and the worker table kept up to
// date (busy while a request runs, idle while waiting).
class RequestFeed final : public php::RequestSource {
  public:
    RequestFeed(PhpQueue& queue, const WorkerIdentity& identity, std::uint32_t move_after_us)
        : queue_(queue),
          identity_(identity),
          slot_(identity_.slot),
          move_after_us_(move_after_us) {}
    php::ScriptRequest* next() override { return next_for(std::chrono::milliseconds::max()); }

    php::ScriptRequest* next_for(std::chrono::milliseconds timeout) override {
        set_state(shm::WorkerState::busy, shm::WorkerState::idle);
        record_php_time();
        if (slot_) slot_->request_started_ms.store(0, std::memory_order_relaxed);
        // Going idle: ask a busy peer for a waiting request once. Later, a busy peer
        // moves one here by itself (IoSide::watch_waiting); an idle worker sleeps.
        if (queue_.empty()) ask_for_work();
        Exchange* exchange = queue_.take(timeout);
        if (!exchange) return nullptr;
        if (slot_) slot_->request_started_ms.store(shm::now_ms(), std::memory_order_relaxed);
        started_ = std::chrono::steady_clock::now();
        set_state(shm::WorkerState::idle, shm::WorkerState::busy);
        return &exchange->script;
    }

    bool stopping() override { return queue_.stopped(); }

    void script_ready() override {
        if (!slot_) return;
        if (slot_->ready_ms.load(std::memory_order_relaxed) == 0)
            slot_->ready_ms.store(shm::now_ms(), std::memory_order_relaxed);
        set_state(shm::WorkerState::starting, shm::WorkerState::idle);
        set_state(shm::WorkerState::failing, shm::WorkerState::idle);
    }

    void script_failed() override {
        set_state(shm::WorkerState::starting, shm::WorkerState::failing);
        set_state(shm::WorkerState::idle, shm::WorkerState::failing);
    }

  private:
    void set_state(shm::WorkerState from, shm::WorkerState to) {
        if (slot_) slot_->state.compare_exchange_strong(from, to, std::memory_order_relaxed);
    }

    // The request just finished: fold its PHP time into the worker's moving average (1/8
    // weight), which tells how long a request queued here waits (handoff.hpp).
    void record_php_time() {
        if (!slot_ || started_ == std::chrono::steady_clock::time_point{}) return;
        const auto took = std::chrono::duration_cast<std::chrono::microseconds>(
            std::chrono::steady_clock::now() - started_);
        started_ = {};
        const auto sample =
            static_cast<std::uint64_t>(std::min<std::int64_t>(took.count(), UINT32_MAX));
        average_us_ = average_us_ == 0 ? sample : (average_us_ * 7 + sample) / 8;
        slot_->php_average_us.store(static_cast<std::uint32_t>(average_us_),
                                    std::memory_order_relaxed);
    }

    // Nothing to do here: the peer whose waiting requests would wait longest (at least
    // --move-after-us) is asked to move one here (handoff.hpp). Late binding, as one
    // queue shared by all workers would give, without a shared queue.
    void ask_for_work() {
        if (move_after_us_ == 0 || !identity_.handoff || !identity_.scoreboard || !slot_) return;
        // A draining worker (stop, reload, --max-requests) takes no new work.
        if (slot_->state.load(std::memory_order_relaxed) == shm::WorkerState::draining) return;
        const int busiest =
            busiest_peer(*identity_.scoreboard, *slot_, shm::now_ms(), move_after_us_);
        if (busiest >= 0 && static_cast<std::size_t>(busiest) < identity_.handoff->size()) {
            send_steal_request((*identity_.handoff)[static_cast<std::size_t>(busiest)].send.get(),
                               identity_.slot_index);
        }
    }

    PhpQueue& queue_;
    WorkerIdentity identity_;
    shm::WorkerSlot* const slot_;  // identity_.slot (may be null in tests)
    std::uint64_t move_after_us_;
    std::chrono::steady_clock::time_point started_{};  // of the running request
    std::uint64_t average_us_ = 0;
};

}  // namespace

int request_timeout_signal() {
    return SIGRTMIN + 1;
}

struct Runtime::Parts {
    Parts(const config::ServeOptions& options, const WorkerIdentity& identity)
        : completions(io),
          io_side(options, identity, io, php_queue, completions),
          feed(php_queue, identity, options.move_after_us) {}
    asio::io_context io;  // created after fork(): an epoll instance is not to be shared
    PhpQueue php_queue;
    Completions completions;
    IoSide io_side;
    RequestFeed
        feed;  // idle <-> busy by compare-exchange: a `draining` set by the I/O thread stays
    std::thread io_thread;
};

Runtime::Runtime(const config::ServeOptions& options, std::vector<core::ListenSocket>& sockets,
                 const WorkerIdentity& identity) {
    ::prctl(PR_SET_NAME, "askr: worker");
    php::bind_php_thread();  // the zygote's timer did not survive the fork
    // SIGQUIT is the fast stop: exit in the handler itself (async-signal-safe), before the
    // interrupted script can finish anything.
    struct sigaction quit {};
    quit.sa_handler = [](int) { ::_exit(0); };
    sigemptyset(&quit.sa_mask);
    ::sigaction(SIGQUIT, &quit, nullptr);
    parts_ = std::make_unique<Parts>(options, identity);
    parts_->io_side.start(sockets);
    guard_php_thread(parts_->io_side.watch_php_thread());

    // The I/O thread blocks every signal: PHP's timers (SIGPROF) and the stop signals
    // reach the PHP thread only (ZEND_SIGNALS: PHP defers signals in its critical
    // sections, which only works on the thread that runs PHP).
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    parts_->io_thread = std::thread([io = &parts_->io] { io->run(); });
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    // Classic mode serves from here on; a worker script says so itself (script_ready()).
    if (identity.slot && options.worker_script.empty()) {
        identity.slot->ready_ms.store(shm::now_ms(), std::memory_order_relaxed);
        identity.slot->state.store(shm::WorkerState::idle, std::memory_order_release);
    }
}

Runtime::~Runtime() {
    join();
}

php::RequestSource& Runtime::requests() {
    return parts_->feed;
}

void Runtime::drain() {
    parts_->io_side.request_drain();
}

void Runtime::join() {
    if (parts_->io_thread.joinable()) parts_->io_thread.join();
}

int run_worker(const config::ServeOptions& options, std::vector<core::ListenSocket>& sockets,
               const WorkerIdentity& identity) {
    Runtime runtime(options, sockets, identity);
    php::RequestSource& feed = runtime.requests();
    if (options.worker_script.empty()) {
        while (php::ScriptRequest* script = feed.next()) php::run_script(*script);
    } else {
        php::WorkerScript worker{options.worker_script, options.root, options.frankenphp_compat,
                                 options.paranoid};
        php::run_worker_script(worker, feed);  // worker mode: the script loops on the feed
    }
    runtime.join();
    return 0;
}

}  // namespace askr::worker
