#include "worker/exchange.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "http/handler.hpp"

namespace askr::worker {

namespace asio = boost::asio;

Exchange::Exchange(asio::io_context& io, Completions& completions, std::uint64_t spool_limit)
    : completions_(completions), wake_timer_(io), socket_fd_(-1), spool_limit_(spool_limit) {
    script.writer = this;
}

Exchange::~Exchange() {
    completions_.forget(*this);
}

namespace {

// An anonymous file in the temporary directory: nothing to clean up, even after a crash.
core::UniqueFd open_spool_file() {
    const char* dir = std::getenv("TMPDIR");
    return core::UniqueFd(::open(dir && *dir ? dir : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
}

bool pwrite_all(int fd, const char* data, std::size_t length, std::uint64_t offset) {
    while (length > 0) {
        const ssize_t n = ::pwrite(fd, data, length, static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data += n;
        length -= static_cast<std::size_t>(n);
        offset += static_cast<std::uint64_t>(n);
    }
    return true;
}

}  // namespace

// PHP thread, with mutex_ held through `lock`. Memory first; once a slow client leaves
// max_buffered bytes unsent, the rest of the response goes to the spool file (in order:
// the I/O thread sends what is in memory, then the file), so the script runs on. The
// file is written without the lock (only this thread writes it, past spool_end_).
void Exchange::append_output(std::unique_lock<std::mutex>& lock, std::string& body) {
    if (client_gone_.load(std::memory_order_relaxed) || body.empty()) {
        body.clear();
        return;
    }
    if (!spooling_ && spool_limit_ > 0 &&
        output_.size() + in_flight_ + body.size() > max_buffered) {
        if (!spool_) spool_ = open_spool_file();
        spooling_ = static_cast<bool>(spool_);
        if (!spooling_)
            spdlog::warn(
                "cannot open a temporary file to hold a response for a slow client "
                "(TMPDIR): {}; PHP waits for the client",
                std::strerror(errno));
    }
    if (!spooling_) {
        if (output_.empty()) {
            output_.swap(body);
        } else {
            output_.append(body);
            body.clear();
        }
        return;
    }
    while (!client_gone_.load(std::memory_order_relaxed) && spool_end_ > spool_read_ &&
           spool_end_ - spool_read_ + body.size() > spool_limit_) {
        php_waiting_ = true;  // the spool is full too: PHP waits for the client after all
        space_.wait(lock);
        php_waiting_ = false;
    }
    const std::uint64_t offset = spool_end_;
    lock.unlock();
    const bool written = pwrite_all(spool_.get(), body.data(), body.size(), offset);
    const int error = errno;
    lock.lock();
    if (written) {
        spool_end_ += body.size();
    } else if (!client_gone_.load(std::memory_order_relaxed)) {
        // Its bytes cannot be sent in order any more: the response ends incomplete.
        spdlog::warn("cannot write a response to its temporary file: {}; the response is cut",
                     std::strerror(error));
        client_gone_.store(true, std::memory_order_relaxed);
        output_.clear();
        spool_read_ = spool_end_;
    }
    body.clear();
}

bool Exchange::push(php::ResponseHead* head, std::string& body, bool last) {
    std::unique_lock lock(mutex_);
    if (head) {
        std::swap(head_, *head);
        head_ready_ = true;
    }
    append_output(lock, body);
    if (last) complete_ = true;
    lock.unlock();
    completions_.notify(*this);
    // Bounded buffering: a slow client holds PHP only once this much is unwritten (and,
    // with the spool, only once the spool is full: append_output()).
    lock.lock();
    while (!spooling_ && !client_gone_.load(std::memory_order_relaxed) &&
           output_.size() + in_flight_ > max_buffered) {
        php_waiting_ = true;
        space_.wait(lock);
        php_waiting_ = false;
    }
    return !client_gone_.load(std::memory_order_relaxed);
}

void Exchange::end(php::ResponseHead* head, std::string& body) {
    {
        std::unique_lock lock(mutex_);
        if (head) {
            std::swap(head_, *head);
            head_ready_ = true;
        }
        if (!complete_) append_output(lock, body);
        body.clear();
        complete_ = true;
        released_ = true;
    }
    completions_.notify(*this);
}

bool Exchange::client_gone() {
    if (client_gone_.load(std::memory_order_relaxed)) return true;
    // A peer that hung up shows as POLLRDHUP/POLLHUP; asked only on flush(), as php-fpm
    // learns about an abort only when it writes.
    pollfd pfd{socket_fd_.load(std::memory_order_relaxed), POLLRDHUP, 0};
    if (::poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
        client_gone_.store(true, std::memory_order_relaxed);
    }
    return client_gone_.load(std::memory_order_relaxed);
}

bool Exchange::interim(int status, const http::Fields& fields) {
    {
        std::lock_guard lock(mutex_);
        // After the head, an interim response would be read as part of the final one.
        if (head_ready_ || client_gone_.load(std::memory_order_relaxed)) return false;
        interims_.push_back({status, fields});
    }
    completions_.notify(*this);
    return true;
}

void Exchange::begin(const http::Request& request, int socket_fd) {
    script.request = &request;
    socket_fd_.store(socket_fd, std::memory_order_relaxed);
    movable = request.movable;
    withdrawn_to = -1;
    wake_pending_ = false;
    std::lock_guard lock(mutex_);
    head_ready_ = head_taken_ = complete_ = released_ = false;
    output_.clear();
    interims_.clear();
    taken_interims.clear();
    in_flight_ = 0;
    spool_.reset();  // a response that ended incomplete may have left one
    spooling_ = false;
    spool_end_ = spool_read_ = 0;
    client_gone_.store(false, std::memory_order_relaxed);
}

void Exchange::drop_spool() {
    std::lock_guard lock(mutex_);
    spool_.reset();
    spooling_ = false;
    spool_end_ = spool_read_ = 0;
}

void Exchange::abandon(int status) {
    {
        std::lock_guard lock(mutex_);
        if (!head_taken_) {
            head_.clear();
            output_.clear();
            http::status_page(status, {}, true, head_, output_);
            head_ready_ = true;
            complete_ = true;
        }
        released_ = true;
    }
    wake();
}

Exchange::Progress Exchange::take(php::ResponseHead& head, std::string& body) {
    std::lock_guard lock(mutex_);
    Progress progress;
    // Taken together with the head, under one lock: an interim response pushed just
    // before the head cannot be found after it.
    taken_interims.clear();
    if (!interims_.empty()) {
        taken_interims.swap(interims_);
        progress.interims = true;
    }
    if (head_ready_ && !head_taken_) {
        std::swap(head, head_);  // both keep buffers: no allocation per request
        head_taken_ = true;
        progress.head = true;
    }
    if (head_taken_) {
        if (!output_.empty()) {
            body.swap(output_);
            in_flight_ += body.size();
        } else if (spool_read_ < spool_end_) {
            // The spool, a chunk at a time (page cache: no wait worth a thread).
            const auto length = static_cast<std::size_t>(
                std::min<std::uint64_t>(spool_end_ - spool_read_, spool_chunk));
            body.resize(length);
            const ssize_t n =
                ::pread(spool_.get(), body.data(), length, static_cast<off_t>(spool_read_));
            body.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
            if (n > 0) {
                spool_read_ += static_cast<std::uint64_t>(n);
            } else {
                spool_read_ = spool_end_;  // unreadable: the response ends incomplete
                complete_ = false;
                client_gone_.store(true, std::memory_order_relaxed);
            }
            if (php_waiting_) space_.notify_one();
        }
        progress.complete = complete_ && output_.empty() && spool_read_ == spool_end_;
        if (progress.complete && spool_) spool_.reset();  // a file per spooled response
        progress.more = spool_read_ < spool_end_;
    }
    progress.released = released_;
    return progress;
}

void Exchange::written(std::size_t bytes) {
    std::lock_guard lock(mutex_);
    in_flight_ -= std::min(bytes, in_flight_);
    if (php_waiting_) space_.notify_one();
}

void Exchange::mark_client_gone() {
    std::lock_guard lock(mutex_);
    client_gone_.store(true, std::memory_order_relaxed);
    output_.clear();
    in_flight_ = 0;
    spool_read_ = spool_end_;
    if (php_waiting_) space_.notify_one();
}

// A wake-up that arrives while the connection is not waiting (it is writing) must not be
// lost: wake() records it, and wait() returns at once if one is pending. Both run on the
// I/O thread only.
asio::awaitable<void> Exchange::wait() {
    if (!wake_pending_) {
        wake_timer_.expires_at(asio::steady_timer::time_point::max());
        co_await wake_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    wake_pending_ = false;
}

void Exchange::wake() {
    wake_pending_ = true;
    wake_timer_.cancel();
}

void Completions::notify(Exchange& exchange) {
    std::unique_lock lock(mutex_);
    if (!exchange.queued_) {
        exchange.queued_ = true;
        ready_.push_back(&exchange);
    }
    if (posted_) return;
    posted_ = true;
    lock.unlock();
    asio::post(io_, [this] { drain(); });
}

void Completions::forget(Exchange& exchange) {
    std::lock_guard lock(mutex_);
    if (!exchange.queued_) return;
    exchange.queued_ = false;
    ready_.erase(std::remove(ready_.begin(), ready_.end(), &exchange), ready_.end());
}

void Completions::drain() {
    {
        std::lock_guard lock(mutex_);
        draining_.swap(ready_);
        posted_ = false;
        for (Exchange* e : draining_) e->queued_ = false;
    }
    // Waking may run other handlers only after this returns (cancel posts completions),
    // so no exchange in draining_ can be destroyed while this loop runs.
    for (Exchange* e : draining_) e->wake();
    draining_.clear();
}

void PhpQueue::submit(Exchange& exchange) {
    std::unique_lock lock(mutex_);
    items_.push_back(&exchange);
    const bool wake = sleeping_;
    lock.unlock();
    if (wake) ready_.notify_one();
}

Exchange* PhpQueue::take(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    running_ = nullptr;  // the PHP thread is done with the previous one
    const bool forever = timeout == std::chrono::milliseconds::max();
    const auto until = forever ? std::chrono::steady_clock::time_point::max()
                               : std::chrono::steady_clock::now() + timeout;
    while (head_ == items_.size() && !stopped_) {
        sleeping_ = true;
        if (forever) {
            ready_.wait(lock);
        } else if (ready_.wait_until(lock, until) == std::cv_status::timeout) {
            sleeping_ = false;
            return nullptr;
        }
        sleeping_ = false;
    }
    if (head_ == items_.size()) return nullptr;
    Exchange* e = items_[head_++];
    reset_if_drained();
    running_ = e;
    return e;
}

// Under the lock: once every item has been taken, the vector starts over (no growth).
void PhpQueue::reset_if_drained() {
    if (head_ == items_.size()) {
        items_.clear();
        head_ = 0;
    }
}

Exchange* PhpQueue::withdraw_movable() {
    std::lock_guard lock(mutex_);
    for (std::size_t i = head_; i < items_.size(); ++i) {
        if (!items_[i]->movable) continue;
        Exchange* e = items_[i];
        items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(i));
        reset_if_drained();
        return e;
    }
    return nullptr;
}

bool PhpQueue::empty() {
    std::lock_guard lock(mutex_);
    return head_ == items_.size();
}

bool PhpQueue::stopped() {
    std::lock_guard lock(mutex_);
    return stopped_;
}

Exchange* PhpQueue::abandon(std::vector<Exchange*>& waiting) {
    std::lock_guard lock(mutex_);
    stopped_ = true;
    waiting.assign(items_.begin() + static_cast<std::ptrdiff_t>(head_), items_.end());
    items_.clear();
    head_ = 0;
    return std::exchange(running_, nullptr);
}

void PhpQueue::stop() {
    std::lock_guard lock(mutex_);
    stopped_ = true;
    ready_.notify_all();
}

}  // namespace askr::worker
