#include "worker/exchange.hpp"

#include <poll.h>

#include <algorithm>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "http/handler.hpp"

namespace askr::worker {

namespace asio = boost::asio;

Exchange::Exchange(asio::io_context& io, Completions& completions)
    : completions_(completions), wake_timer_(io), socket_fd_(-1) {
    script.writer = this;
}

Exchange::~Exchange() {
    completions_.forget(*this);
}

bool Exchange::push(php::ResponseHead* head, std::string& body, bool last) {
    std::unique_lock lock(mutex_);
    if (head) {
        std::swap(head_, *head);
        head_ready_ = true;
    }
    if (client_gone_.load(std::memory_order_relaxed)) {
        body.clear();
    } else if (output_.empty()) {
        output_.swap(body);
    } else {
        output_.append(body);
        body.clear();
    }
    if (last) complete_ = true;
    lock.unlock();
    completions_.notify(*this);
    // Bounded buffering: a slow client holds PHP only once this much is unwritten.
    lock.lock();
    while (!client_gone_.load(std::memory_order_relaxed) &&
           output_.size() + in_flight_ > max_buffered) {
        php_waiting_ = true;
        space_.wait(lock);
        php_waiting_ = false;
    }
    return !client_gone_.load(std::memory_order_relaxed);
}

void Exchange::end(php::ResponseHead* head, std::string& body) {
    {
        std::lock_guard lock(mutex_);
        if (head) {
            std::swap(head_, *head);
            head_ready_ = true;
        }
        if (!complete_ && !client_gone_.load(std::memory_order_relaxed)) {
            if (output_.empty()) {
                output_.swap(body);
            } else {
                output_.append(body);
            }
        }
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
    client_gone_.store(false, std::memory_order_relaxed);
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
        body.swap(output_);
        in_flight_ += body.size();
        progress.complete = complete_;
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
