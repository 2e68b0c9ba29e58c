// The hand-off between the I/O thread and the PHP thread (PhpQueue, Exchange, Completions)
// with two real threads: requests in order, output streamed back whole and in order, the
// bounded buffer holding PHP back until the I/O side has written, a client that goes away
// releasing a waiting PHP thread, and a withdrawn request the PHP thread never sees. Also
// built with ThreadSanitizer (tests/unit/CMakeLists.txt: unit.tsan.*).
#include "worker/exchange.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

namespace askr::worker {
namespace {

namespace asio = boost::asio;

class PhpHandoff : public ::testing::Test {
  protected:
    PhpHandoff() : work_(asio::make_work_guard(io_)) {
        io_thread_ = std::thread([this] { io_.run(); });
    }
    ~PhpHandoff() override {
        queue_.stop();
        work_.reset();
        io_thread_.join();
    }

    // The I/O side of one request: submits it, then takes and "writes" what PHP hands back,
    // `write_delay` per piece, until PHP releases it.
    asio::awaitable<void> io_side(Exchange& exchange, const http::Request& request,
                                  std::string& received, int& heads,
                                  std::chrono::microseconds write_delay, std::atomic<bool>& done) {
        exchange.begin(request, -1);
        queue_.submit(exchange);
        for (;;) {
            exchange.taken_body.clear();
            const auto progress = exchange.take(exchange.taken_head, exchange.taken_body);
            if (progress.head) ++heads;
            received += exchange.taken_body;
            if (!exchange.taken_body.empty() && write_delay.count() > 0)
                std::this_thread::sleep_for(write_delay);
            exchange.written(exchange.taken_body.size());
            if (progress.released) break;
            co_await exchange.wait();
        }
        done = true;
    }

    // Waits until the I/O thread has run everything posted so far (the wake-ups the PHP
    // side's last calls posted), so that exchanges may go.
    void settle() {
        std::atomic<bool> ran{false};
        asio::post(io_, [&] { ran = true; });
        for (int w = 0; w < 1000 && !ran; ++w)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }

    asio::io_context io_;
    asio::executor_work_guard<asio::io_context::executor_type> work_;
    std::thread io_thread_;
    PhpQueue queue_;
    Completions completions_{io_};
};

TEST_F(PhpHandoff, ManyRequestsStreamTheirOutputBackWholeAndInOrder) {
    constexpr int requests = 200;
    std::vector<std::unique_ptr<Exchange>> exchanges;
    std::vector<http::Request> request_objects(requests);
    std::vector<std::string> received(requests);
    std::vector<int> heads(requests, 0);
    std::vector<std::atomic<bool>> done(requests);
    for (int i = 0; i < requests; ++i) {
        exchanges.push_back(std::make_unique<Exchange>(io_, completions_));
        request_objects[i].target = "/" + std::to_string(i);
    }
    asio::post(io_, [&] {
        for (int i = 0; i < requests; ++i) {
            asio::co_spawn(
                io_, io_side(*exchanges[i], request_objects[i], received[i], heads[i], {}, done[i]),
                asio::detached);
        }
    });
    // The PHP thread: each script writes its target in several pushes.
    for (int i = 0; i < requests; ++i) {
        Exchange* e = queue_.take(std::chrono::seconds(5));
        ASSERT_NE(e, nullptr);
        ASSERT_EQ(e->script.request->target, "/" + std::to_string(i))
            << "requests are taken in arrival order";
        php::ResponseHead head;
        head.status = 200;
        head.fields.add("X-Index", std::to_string(i));
        std::string body = "a" + std::to_string(i);
        e->push(&head, body, false);
        for (int piece = 0; piece < 5; ++piece) {
            body = "-" + std::to_string(piece);
            e->push(nullptr, body, false);
        }
        body = "!";
        e->end(nullptr, body);
    }
    for (int i = 0; i < requests; ++i) {
        for (int w = 0; w < 500 && !done[i]; ++w)
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        ASSERT_TRUE(done[i]) << i;
        EXPECT_EQ(received[i], "a" + std::to_string(i) + "-0-1-2-3-4!") << i;
        EXPECT_EQ(heads[i], 1) << i;
    }
    settle();
}

TEST_F(PhpHandoff, PhpWaitsWhileMoreThanTheBoundIsUnwritten) {
    Exchange exchange(io_, completions_);
    http::Request request;
    std::string received;
    int heads = 0;
    std::atomic<bool> done{false};
    asio::co_spawn(io_,
                   io_side(exchange, request, received, heads, std::chrono::milliseconds(2), done),
                   asio::detached);
    Exchange* e = queue_.take(std::chrono::seconds(5));
    ASSERT_EQ(e, &exchange);
    php::ResponseHead head;
    std::size_t pushed = 0;
    const std::size_t piece = 256 * 1024;
    for (int i = 0; i < 40; ++i) {  // 10 MiB through a 1 MiB bound
        std::string body(piece, static_cast<char>('a' + i % 26));
        ASSERT_TRUE(e->push(i == 0 ? &head : nullptr, body, false));
        pushed += piece;
    }
    std::string last;
    e->end(nullptr, last);
    for (int w = 0; w < 2000 && !done; ++w)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    ASSERT_TRUE(done);
    ASSERT_EQ(received.size(), pushed);
    for (int i = 0; i < 40; ++i)
        EXPECT_EQ(received[i * piece], static_cast<char>('a' + i % 26)) << i;
    settle();
}

TEST_F(PhpHandoff, AClientThatGoesAwayReleasesAWaitingPhpThread) {
    Exchange exchange(io_, completions_);
    http::Request request;
    std::atomic<bool> submitted{false};
    asio::post(io_, [&] {
        exchange.begin(request, -1);
        queue_.submit(exchange);
        submitted = true;
    });
    Exchange* e = queue_.take(std::chrono::seconds(5));
    ASSERT_EQ(e, &exchange);
    std::atomic<bool> gone_seen{false};
    std::thread mark([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        asio::post(io_, [&] { exchange.mark_client_gone(); });
    });
    php::ResponseHead head;
    std::string body(2 << 20, 'x');  // over the bound, nothing taken: PHP waits...
    const bool delivered = e->push(&head, body, false);
    gone_seen = !delivered;  // ... until the client is gone
    mark.join();
    EXPECT_TRUE(gone_seen);
    EXPECT_TRUE(e->client_gone());
    std::string rest = "dropped";
    e->end(nullptr, rest);
    std::atomic<bool> released{false};
    for (int w = 0; w < 500 && !released; ++w) {
        asio::post(io_, [&] {
            std::string ignored;
            released = exchange.take(exchange.taken_head, ignored).released;
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    EXPECT_TRUE(released);
    settle();
}

TEST_F(PhpHandoff, AWithdrawnRequestIsNeverSeenByThePhpThread) {
    Exchange first(io_, completions_), movable(io_, completions_), last(io_, completions_);
    http::Request a, b, c;
    b.movable = true;
    std::atomic<bool> ready{false};
    Exchange* withdrawn = nullptr;
    asio::post(io_, [&] {
        first.begin(a, -1);
        movable.begin(b, -1);
        last.begin(c, -1);
        queue_.submit(first);
        queue_.submit(movable);
        queue_.submit(last);
        withdrawn = queue_.withdraw_movable();
        ready = true;
    });
    for (int w = 0; w < 500 && !ready; ++w)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    ASSERT_TRUE(ready);
    EXPECT_EQ(withdrawn, &movable);
    EXPECT_EQ(queue_.take(std::chrono::seconds(1)), &first);
    EXPECT_EQ(queue_.take(std::chrono::seconds(1)), &last);
    EXPECT_EQ(queue_.take(std::chrono::milliseconds(20)), nullptr);
    EXPECT_TRUE(queue_.empty());
}

TEST_F(PhpHandoff, TakeWakesForASubmitFromTheOtherThreadAndStopEndsIt) {
    Exchange exchange(io_, completions_);
    http::Request request;
    std::thread submitter([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
        asio::post(io_, [&] {
            exchange.begin(request, -1);
            queue_.submit(exchange);
        });
    });
    EXPECT_EQ(queue_.take(), &exchange) << "a sleeping PHP thread is woken";
    submitter.join();
    settle();
    std::thread stopper([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
        queue_.stop();
    });
    EXPECT_EQ(queue_.take(), nullptr);
    EXPECT_TRUE(queue_.stopped());
    stopper.join();
}

}  // namespace
}  // namespace askr::worker

namespace askr::worker {
namespace {

// 103 Early Hints cross with the head: handed over together (so none is found after the
// head went out), refused once the head is there, and not kept for the next take().
TEST(ExchangeInterims, TakenWithTheHeadAndRefusedAfterIt) {
    asio::io_context io;
    Completions completions(io);
    Exchange exchange(io, completions);
    http::Request request;
    exchange.begin(request, -1);
    http::Fields first;
    first.add("Link", "</a.css>; rel=preload; as=style");
    http::Fields second = first;
    second.add("Link", "</b.js>; rel=preload; as=script");
    EXPECT_TRUE(exchange.interim(103, first));
    EXPECT_TRUE(exchange.interim(103, second));
    php::ResponseHead head;
    std::string body = "page";
    EXPECT_TRUE(exchange.push(&head, body, false));
    EXPECT_FALSE(exchange.interim(103, first)) << "an interim response after the head";

    std::string taken;
    auto progress = exchange.take(exchange.taken_head, taken);
    EXPECT_TRUE(progress.interims);
    EXPECT_TRUE(progress.head);
    ASSERT_EQ(exchange.taken_interims.size(), 2u);
    EXPECT_EQ(exchange.taken_interims[0].status, 103);
    EXPECT_EQ(exchange.taken_interims[0].fields.size(), 1u);
    EXPECT_EQ(exchange.taken_interims[1].fields.size(), 2u);
    EXPECT_EQ(exchange.taken_interims[1].fields.value(1), "</b.js>; rel=preload; as=script");
    EXPECT_EQ(taken, "page");
    exchange.written(taken.size());

    std::string last;
    exchange.end(nullptr, last);
    taken.clear();
    progress = exchange.take(exchange.taken_head, taken);
    EXPECT_FALSE(progress.interims);
    EXPECT_TRUE(exchange.taken_interims.empty());
    EXPECT_TRUE(progress.released);
}

}  // namespace
}  // namespace askr::worker
