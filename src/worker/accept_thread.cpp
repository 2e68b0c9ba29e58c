#include "worker/accept_thread.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string_view>

#include <spdlog/spdlog.h>

#include "worker/accept_policy.hpp"

namespace askr::worker {

namespace {

// epoll_event.data.u64 of the two eventfds; listening sockets use their index.
constexpr std::uint64_t stop_tag = ~std::uint64_t{0};
constexpr std::uint64_t kick_tag = stop_tag - 1;

void add(int epoll, int fd, std::uint32_t events, std::uint64_t tag) {
    epoll_event event{};
    event.events = events;
    event.data.u64 = tag;
    if (::epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) != 0) {
        throw std::runtime_error(std::string("cannot watch a listening socket (epoll_ctl): ") +
                                 std::strerror(errno));
    }
}

void drain_eventfd(int fd) {
    std::uint64_t count;
    while (::read(fd, &count, sizeof count) > 0) {
    }
}

}  // namespace

AcceptThread::AcceptThread(const std::vector<AcceptSocket>& sockets, std::uint32_t max_connections,
                           const AcceptPeers& peers, Handoff handoff)
    : sockets_(sockets),
      max_connections_(max_connections),
      peers_(peers),
      handoff_(std::move(handoff)),
      epoll_(::epoll_create1(EPOLL_CLOEXEC)),
      stop_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (!epoll_ || !stop_fd_)
        throw std::runtime_error("cannot create the accept thread's epoll or eventfd");
    // Edge-triggered: a connection this worker leaves for a peer must not wake it again
    // and again. The price is the edge-triggered rule: after a wake-up, accept until
    // EAGAIN or hand the rest on (accept_from).
    for (std::size_t i = 0; i < sockets_.size(); ++i)
        add(epoll_.get(), sockets_[i].fd, EPOLLIN | EPOLLEXCLUSIVE | EPOLLET, i);
    add(epoll_.get(), stop_fd_.get(), EPOLLIN, stop_tag);
    if (peers_.own_kick_fd >= 0) add(epoll_.get(), peers_.own_kick_fd, EPOLLIN, kick_tag);
    // Every signal stays blocked on this thread: they are for the PHP thread, where PHP
    // defers them in its critical sections (docs/architecture.md, "Threads"). The thread
    // inherits the mask it is created with.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    thread_ = std::thread([this] { run(); });
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

AcceptThread::~AcceptThread() {
    stop();
}

void AcceptThread::stop() {
    if (!thread_.joinable()) return;
    stopping_.store(true, std::memory_order_release);
    const std::uint64_t one = 1;
    [[maybe_unused]] auto written = ::write(stop_fd_.get(), &one, sizeof one);
    thread_.join();
    epoll_.reset();
}

void AcceptThread::run() {
    epoll_event events[8];
    while (!stopping_.load(std::memory_order_acquire)) {
        const int n = ::epoll_wait(epoll_.get(), events, 8, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            spdlog::error("accept thread: epoll_wait: {}", std::strerror(errno));
            return;
        }
        if (stopping_.load(std::memory_order_acquire)) break;
        bool kicked = false;
        for (int i = 0; i < n; ++i) {
            const std::uint64_t tag = events[i].data.u64;
            if (tag == kick_tag) {
                drain_eventfd(peers_.own_kick_fd);
                kicked = true;
            } else if (tag < sockets_.size()) {
                if (peers_.self)
                    peers_.self->accept_wakeups.fetch_add(1, std::memory_order_relaxed);
                accept_from(tag, false);
            }
        }
        // A peer that may not take a pending connection passed it here: take one from
        // each listening socket, whatever the policy says now (so a kick is never bounced).
        if (kicked) {
            for (std::size_t i = 0; i < sockets_.size(); ++i) accept_from(i, true);
        }
    }
    // A kick that arrived as this worker stopped would strand its connection.
    std::uint64_t pending = 0;
    if (peers_.own_kick_fd >= 0 && ::read(peers_.own_kick_fd, &pending, sizeof pending) > 0)
        kick_peer();
}

void AcceptThread::accept_from(std::size_t listener, bool take_one) {
    const int listen_fd = sockets_[listener].fd;
    bool accepted_any = false;
    for (;;) {
        const bool allowed =
            take_one || !peers_.board || !peers_.self || may_accept(*peers_.board, *peers_.self);
        if (!allowed) {
            kick_peer();  // it accepts what is left, edge-triggered or not
            return;
        }
        // At --max-connections: a peer with room takes the connection; when there is
        // none, every worker is full and the connection is shed.
        const bool full = peers_.self && peers_.self->connections.load(std::memory_order_relaxed) >=
                                             max_connections_;
        if (full && kick_peer(max_connections_)) return;
        const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (!accepted_any && !take_one && peers_.self) {
                    peers_.self->accept_empty.fetch_add(1, std::memory_order_relaxed);
                }
                return;
            }
            // Out of descriptors (EMFILE/ENFILE) or memory: the connection stays in the
            // backlog; a peer may have room. Back off so that this thread does not spin.
            spdlog::warn("accept failed: {}; retrying in 100 ms", std::strerror(errno));
            kick_peer();
            ::usleep(100'000);
            if (stopping_.load(std::memory_order_acquire)) return;
            continue;
        }
        accepted_any = true;
        take_one = false;
        if (full) {
            shed(fd, listener);
            continue;
        }
        if (peers_.self) peers_.self->connections.fetch_add(1, std::memory_order_relaxed);
        handoff_(fd, listener);
    }
}

bool AcceptThread::kick_peer(std::uint32_t below_connections) {
    if (!peers_.board || !peers_.self || !peers_.kick_fds) return false;
    const int peer = least_loaded_peer(*peers_.board, *peers_.self);
    if (peer < 0 || static_cast<std::size_t>(peer) >= peers_.kick_fds->size()) return false;
    const auto index = static_cast<std::size_t>(peer);
    if (peers_.board->slot(index).connections.load(std::memory_order_relaxed) >= below_connections)
        return false;
    const std::uint64_t one = 1;
    return ::write((*peers_.kick_fds)[index].get(), &one, sizeof one) == sizeof one;
}

// Every worker is at --max-connections: the connection is refused cleanly rather than
// left in the backlog, where the client would wait with no answer. A plain-HTTP client
// is told 503 (RFC 9110 section 15.6.4) with Retry-After; a TLS client just sees the
// close (a handshake costs more CPU than the refusal is worth). Counted in the worker
// table; logged at most once a second.
void AcceptThread::shed(int fd, std::size_t listener) {
    if (sockets_[listener].plaintext) {
        static constexpr std::string_view busy =
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 40\r\n"
            "Retry-After: 1\r\nConnection: close\r\n\r\nThe server is at its connection limit.\r\n";
        [[maybe_unused]] auto sent =
            ::send(fd, busy.data(), busy.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        ::shutdown(fd, SHUT_WR);
        // Closing with unread request bytes would send a reset, which can destroy the 503
        // before the client reads it: read what already arrived first.
        char discard[4096];
        while (::recv(fd, discard, sizeof discard, MSG_DONTWAIT) > 0) {
        }
    }
    ::close(fd);
    if (peers_.self) peers_.self->connections_shed.fetch_add(1, std::memory_order_relaxed);
    if (peers_.shed_metric) peers_.shed_metric->add(1);
    ++shed_unlogged_;
    const std::int64_t now = shm::now_ms();
    if (now - shed_logged_ms_ >= 1000) {
        spdlog::warn("worker {}: {} connection(s) shed: every worker is at --max-connections ({})",
                     ::getpid(), shed_unlogged_, max_connections_);
        shed_unlogged_ = 0;
        shed_logged_ms_ = now;
    }
}

}  // namespace askr::worker
