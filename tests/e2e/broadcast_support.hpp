#pragma once
// What the broadcasting tests share (broadcast_test.cpp, broadcast_redis_test.cpp): a
// publishing script, a raw HTTP/1.1 subscriber that parses the event stream, and helpers.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace askr::test::broadcast {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Publishes ?n= events (default 1) on ?c= with ?d= as data (or ?size= bytes of 'x'),
// named ?e=; answers the ids, comma-separated, or the exception's class and message.
constexpr const char* publish_script = R"PHP(<?php
$n = (int)($_GET['n'] ?? 1);
$data = isset($_GET['size']) ? str_repeat('x', (int)$_GET['size']) : ($_GET['d'] ?? 'hello');
$ids = [];
try {
    for ($i = 0; $i < $n; $i++) $ids[] = askr_broadcast($_GET['c'] ?? 'news', $data, $_GET['e'] ?? null);
    echo implode(',', $ids);
} catch (Throwable $e) {
    echo get_class($e), ': ', $e->getMessage();
}
)PHP";

struct Event {
    std::string id, name, data, retry;
    bool comment = false;
};

// One subscriber over a raw HTTP/1.1 connection: the head, the chunked body decoded as
// it arrives, and the event-stream blocks parsed out of it. Every wait is bounded.
class Subscriber {
  public:
    Subscriber(std::uint16_t port, const std::string& query,
               const std::vector<std::string>& headers = {}, int receive_buffer = 0)
        : fd_(connect_loopback(port, receive_buffer)) {
        std::string request = "GET /askr/events" + query + " HTTP/1.1\r\nHost: localhost\r\n";
        for (const auto& h : headers) request += h + "\r\n";
        request += "\r\n";
        if (fd_ >= 0) ::send(fd_, request.data(), request.size(), MSG_NOSIGNAL);
    }
    ~Subscriber() {
        if (fd_ >= 0) ::close(fd_);
    }
    Subscriber(const Subscriber&) = delete;
    Subscriber& operator=(const Subscriber&) = delete;

    // The response's status (0 when no head came within the timeout).
    int status(std::chrono::milliseconds timeout = 5s) {
        const auto deadline = Clock::now() + timeout;
        while (!head_done_ && fill(deadline)) {
        }
        return raw_status(head_);
    }
    const std::string& head() {
        status();
        return head_;
    }

    // The next block of the stream: an event, a retry line or a heartbeat comment.
    std::optional<Event> next(std::chrono::milliseconds timeout = 10s) {
        const auto deadline = Clock::now() + timeout;
        for (;;) {
            const auto end = body_.find("\n\n");
            if (end != std::string::npos) {
                Event e;
                std::string block = body_.substr(0, end + 1);
                body_.erase(0, end + 2);
                std::size_t at = 0;
                bool first_data = true;
                while (at < block.size()) {
                    const auto eol = block.find('\n', at);
                    const std::string line = block.substr(at, eol - at);
                    at = eol + 1;
                    if (line.starts_with(":")) e.comment = true;
                    if (line.starts_with("id: ")) e.id = line.substr(4);
                    if (line.starts_with("event: ")) e.name = line.substr(7);
                    if (line.starts_with("retry: ")) e.retry = line.substr(7);
                    if (line.starts_with("data: ")) {
                        if (!first_data) e.data += '\n';
                        e.data += line.substr(6);
                        first_data = false;
                    }
                }
                return e;
            }
            if (!fill(deadline)) return std::nullopt;
        }
    }

    // The next event that is not a retry line or a heartbeat.
    std::optional<Event> next_event(std::chrono::milliseconds timeout = 10s) {
        const auto deadline = Clock::now() + timeout;
        for (;;) {
            auto e = next(std::chrono::duration_cast<std::chrono::milliseconds>(
                std::max(deadline - Clock::now(), Clock::duration(0))));
            if (!e) return e;
            if (!e->comment && e->retry.empty()) return e;
        }
    }

    // Reads until the server closes; true when the body ended with the last chunk first.
    bool ends_cleanly(std::chrono::milliseconds timeout = 10s) {
        const auto deadline = Clock::now() + timeout;
        while (fill(deadline)) {
        }
        return last_chunk_;
    }
    // True once the server closed the connection (or reset it).
    bool closed() const { return closed_; }

  private:
    // Reads once (waiting until `deadline`) and decodes; false on close or time-out.
    bool fill(Clock::time_point deadline) {
        if (fd_ < 0 || closed_) return false;
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) return false;
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
        char buffer[65536];
        const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
        if (n <= 0) {
            closed_ = true;
            return false;
        }
        raw_.append(buffer, static_cast<std::size_t>(n));
        decode();
        return true;
    }

    void decode() {
        if (!head_done_) {
            const auto end = raw_.find("\r\n\r\n");
            if (end == std::string::npos) return;
            head_ = raw_.substr(0, end + 4);
            raw_.erase(0, end + 4);
            head_done_ = true;
            chunked_ = head_.find("Transfer-Encoding: chunked") != std::string::npos;
        }
        if (!chunked_) {
            body_ += raw_;
            raw_.clear();
            return;
        }
        for (;;) {
            const auto eol = raw_.find("\r\n");
            if (eol == std::string::npos) return;
            const std::size_t size = std::stoul(raw_.substr(0, eol), nullptr, 16);
            if (size == 0) {
                last_chunk_ = true;
                return;
            }
            if (raw_.size() < eol + 2 + size + 2) return;
            body_.append(raw_, eol + 2, size);
            raw_.erase(0, eol + 2 + size + 2);
        }
    }

    int fd_;
    std::string raw_, head_, body_;
    bool head_done_ = false, chunked_ = false, last_chunk_ = false, closed_ = false;
};

inline std::vector<std::string> broadcast_args(std::vector<std::string> more = {}) {
    std::vector<std::string> args{"--broadcast", "--broadcast-heartbeat", "1"};
    args.insert(args.end(), more.begin(), more.end());
    return args;
}

inline std::string publish(const Server& server, const std::string& query) {
    return get(server.url("/pub.php?" + query)).body;
}

inline std::vector<std::string> split_ids(const std::string& text) {
    std::vector<std::string> ids;
    std::size_t at = 0;
    while (at <= text.size()) {
        const auto comma = text.find(',', at);
        ids.push_back(text.substr(at, comma - at));
        if (comma == std::string::npos) break;
        at = comma + 1;
    }
    return ids;
}

inline json metrics(const Server& server) {
    return json::parse(get(server.admin_url("/api/metrics")).body);
}

// Waits until the server counts `count` open subscriber streams (a subscription is
// registered a moment after its head has been read).
inline bool wait_for_subscribers(const Server& server, std::uint64_t count) {
    for (int i = 0; i < 200; ++i) {
        if (metrics(server)["broadcast"]["subscribers"].get<std::uint64_t>() == count) return true;
        std::this_thread::sleep_for(25ms);
    }
    return false;
}

}  // namespace askr::test::broadcast
