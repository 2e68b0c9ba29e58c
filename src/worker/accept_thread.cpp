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
        throw std::runtime_error(std::string("cannot watch a listening socket (epoll_ctl): ") + std::strerror(errno));
    }
}

void drain_eventfd(int fd) {
    std::uint64_t count;
    while (::read(fd, &count, sizeof count) > 0) {
    }
}

}  // namespace

AcceptThread::AcceptThread(const std::vector<int>& listen_fds, const AcceptPeers& peers, Handoff handoff)
    : listen_fds_(listen_fds),
      peers_(peers),
      handoff_(std::move(handoff)),
      epoll_(::epoll_create1(EPOLL_CLOEXEC)),
      stop_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (!epoll_ || !stop_fd_) throw std::runtime_error("cannot create the accept thread's epoll or eventfd");
    // Edge-triggered: a connection this worker leaves for a peer must not wake it again
    // and again. The price is the edge-triggered rule: after a wake-up, accept until
    // EAGAIN or hand the rest on (accept_from).
    for (std::size_t i = 0; i < listen_fds_.size(); ++i) add(epoll_.get(), listen_fds_[i], EPOLLIN | EPOLLEXCLUSIVE | EPOLLET, i);
    add(epoll_.get(), stop_fd_.get(), EPOLLIN, stop_tag);
    if (peers_.own_kick_fd >= 0) add(epoll_.get(), peers_.own_kick_fd, EPOLLIN, kick_tag);
    // Every signal stays blocked on this thread: they are for the PHP thread (DESIGN.md
    // section 3). The thread inherits the mask it is created with.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    thread_ = std::thread([this] { run(); });
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

AcceptThread::~AcceptThread() { stop(); }

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
            } else if (tag < listen_fds_.size()) {
                if (peers_.self) peers_.self->accept_wakeups.fetch_add(1, std::memory_order_relaxed);
                accept_from(tag, false);
            }
        }
        // A peer that may not take a pending connection passed it here: take one from
        // each listening socket, whatever the policy says now (so a kick is never bounced).
        if (kicked) {
            for (std::size_t i = 0; i < listen_fds_.size(); ++i) accept_from(i, true);
        }
    }
    // A kick that arrived as this worker stopped would strand its connection.
    std::uint64_t pending = 0;
    if (peers_.own_kick_fd >= 0 && ::read(peers_.own_kick_fd, &pending, sizeof pending) > 0) kick_peer();
}

void AcceptThread::accept_from(std::size_t listener, bool take_one) {
    const int listen_fd = listen_fds_[listener];
    bool accepted_any = false;
    for (;;) {
        const bool allowed = take_one || !peers_.board || !peers_.self || may_accept(*peers_.board, *peers_.self);
        if (!allowed) {
            kick_peer();  // it accepts what is left, edge-triggered or not
            return;
        }
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
        if (peers_.self) peers_.self->connections.fetch_add(1, std::memory_order_relaxed);
        handoff_(fd, listener);
    }
}

void AcceptThread::kick_peer() {
    if (!peers_.board || !peers_.self || !peers_.kick_fds) return;
    const int peer = least_loaded_peer(*peers_.board, *peers_.self);
    if (peer < 0 || static_cast<std::size_t>(peer) >= peers_.kick_fds->size()) return;
    const std::uint64_t one = 1;
    [[maybe_unused]] auto written = ::write((*peers_.kick_fds)[static_cast<std::size_t>(peer)].get(), &one, sizeof one);
}

}  // namespace askr::worker
