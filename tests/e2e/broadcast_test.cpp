// Live broadcasting (docs/broadcast.md): askr_broadcast() in PHP scripts, subscribers on
// GET /askr/events over raw HTTP/1.1 sockets and libcurl over HTTP/2, with the real binary
// and more than one worker.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "broadcast_support.hpp"
#include "http2_support.hpp"

// Requests are described with designated initializers, the other fields left at their
// defaults on purpose (GCC 12's -Wextra flags every omission).
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace askr::test {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using namespace broadcast;

TEST(Broadcast, EveryEventReachesSubscribersOnBothWorkersOnceAndInOrder) {
    TempDir root;
    root.write("pub.php", publish_script);
    Server server(root.path(), broadcast_args({"--workers", "2"}));
    // Subscribers until both workers hold at least one (the accept policy spreads them).
    std::vector<std::unique_ptr<Subscriber>> subscribers;
    bool both = false;
    for (int i = 0; i < 8 && !both; ++i) {
        subscribers.push_back(std::make_unique<Subscriber>(server.port(), "?channel=news"));
        ASSERT_EQ(subscribers.back()->status(), 200);
        ASSERT_TRUE(wait_for_subscribers(server, subscribers.size()));
        const json status = json::parse(get(server.admin_url("/api/status")).body);
        int busy = 0;
        for (const auto& w : status["workers"]) busy += w["connections"].get<int>() > 0;
        both = busy == 2;
    }
    ASSERT_TRUE(both) << "every subscriber landed on one worker";
    const std::string& head = subscribers.front()->head();
    EXPECT_NE(head.find("Content-Type: text/event-stream"), std::string::npos) << head;
    EXPECT_NE(head.find("Cache-Control: no-store"), std::string::npos) << head;

    // Published from requests that either worker may serve, interleaved with another channel.
    std::vector<std::string> expected;
    for (int round = 0; round < 5; ++round) {
        for (const auto& id : split_ids(publish(server, "n=4&d=round" + std::to_string(round))))
            expected.push_back(id);
        publish(server, "c=other&d=not-for-you");
    }
    ASSERT_EQ(expected.size(), 20u);
    for (auto& s : subscribers) {
        auto first = s->next();
        ASSERT_TRUE(first);
        EXPECT_EQ(first->retry, "3000");
        for (const auto& id : expected) {
            auto e = s->next_event();
            ASSERT_TRUE(e) << "waiting for id " << id;
            EXPECT_EQ(e->id, id);
            EXPECT_NE(e->data, "not-for-you");
        }
    }
    const json m = metrics(server)["broadcast"];
    EXPECT_EQ(m["published"].get<std::uint64_t>(), 25u);
    EXPECT_EQ(m["deliveries"].get<std::uint64_t>(), 20u * subscribers.size());
    EXPECT_EQ(m["subscribers"].get<std::uint64_t>(), subscribers.size());
    const std::string text = get(server.admin_url("/metrics")).body;
    EXPECT_NE(text.find("askr_broadcast_published_total 25"), std::string::npos);
    EXPECT_NE(text.find("askr_broadcast_subscribers " + std::to_string(subscribers.size())),
              std::string::npos);
}

// The subscribers of one channel, all workers (the admin JSON); 0 when it is not listed.
std::uint64_t channel_subscribers(const json& broadcast, const std::string& channel) {
    for (const auto& c : broadcast["channels"]) {
        if (c["channel"] == channel) return c["subscribers"].get<std::uint64_t>();
    }
    return 0;
}

// Waits until the per-channel counts read `expected` (they follow subscribers within a
// fraction of a second); the last metrics seen.
json wait_for_channels(const Server& server, const std::vector<std::pair<std::string, int>>& expected,
                       std::uint64_t other) {
    json b;
    for (int i = 0; i < 200; ++i) {
        b = metrics(server)["broadcast"];
        bool all = b["other_channels"]["subscribers"].get<std::uint64_t>() == other &&
                   b["channels"].size() == expected.size();
        for (const auto& [channel, count] : expected)
            all = all && channel_subscribers(b, channel) == static_cast<std::uint64_t>(count);
        if (all) return b;
        std::this_thread::sleep_for(25ms);
    }
    return b;
}

// Subscribers per channel in /api/metrics and /metrics, summed over both workers, bounded
// by [broadcast] metrics_channels (the rest counted as "(other)"), and gone once they leave.
TEST(Broadcast, CountsSubscribersPerChannelAcrossWorkers) {
    TempDir root;
    Server server(root.path(), broadcast_args({"--workers", "2", "--broadcast-metrics-channels", "2"}));
    // Every subscriber takes news, every second one chat too, until both workers hold some:
    // news then counts subscribers of both workers.
    std::vector<std::unique_ptr<Subscriber>> subscribers;
    int chat = 0;
    bool both = false;
    for (int i = 0; i < 12 && (!both || i < 4); ++i) {
        subscribers.push_back(std::make_unique<Subscriber>(
            server.port(), i % 2 ? "?channel=news&channel=chat" : "?channel=news"));
        chat += i % 2;
        ASSERT_EQ(subscribers.back()->status(), 200);
        ASSERT_TRUE(wait_for_subscribers(server, subscribers.size()));
        const json status = json::parse(get(server.admin_url("/api/status")).body);
        int busy = 0;
        for (const auto& w : status["workers"]) busy += w["connections"].get<int>() > 0;
        both = busy == 2;
    }
    ASSERT_TRUE(both) << "every subscriber landed on one worker";
    // A third channel past the bound of two: counted with the others.
    subscribers.push_back(std::make_unique<Subscriber>(server.port(), "?channel=zz-rare"));
    ASSERT_EQ(subscribers.back()->status(), 200);
    const int news = static_cast<int>(subscribers.size()) - 1;

    json b = wait_for_channels(server, {{"news", news}, {"chat", chat}}, 1);
    EXPECT_EQ(channel_subscribers(b, "news"), static_cast<std::uint64_t>(news)) << b.dump();
    EXPECT_EQ(channel_subscribers(b, "chat"), static_cast<std::uint64_t>(chat)) << b.dump();
    ASSERT_EQ(b["channels"].size(), 2u) << b.dump();
    EXPECT_EQ(b["channels"][0]["channel"], "news") << "busiest first";
    EXPECT_EQ(b["other_channels"]["subscribers"], 1) << b.dump();
    std::string text = get(server.admin_url("/metrics")).body;
    EXPECT_NE(text.find("askr_broadcast_channel_subscribers{channel=\"news\"} " +
                        std::to_string(news) + "\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("askr_broadcast_channel_subscribers{channel=\"chat\"} " +
                        std::to_string(chat) + "\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("askr_broadcast_channel_subscribers{channel=\"(other)\"} 1\n"),
              std::string::npos)
        << text;
    EXPECT_EQ(text.find("zz-rare"), std::string::npos) << "a channel past the bound is listed";

    subscribers.clear();
    ASSERT_TRUE(wait_for_subscribers(server, 0));
    b = wait_for_channels(server, {}, 0);
    EXPECT_TRUE(b["channels"].empty()) << b.dump();
    EXPECT_EQ(b["other_channels"]["subscribers"], 0);
    text = get(server.admin_url("/metrics")).body;
    EXPECT_EQ(text.find("askr_broadcast_channel_subscribers{channel=\"news\"}"), std::string::npos)
        << text;
    EXPECT_NE(text.find("askr_broadcast_channel_subscribers{channel=\"(other)\"} 0\n"),
              std::string::npos);
}

TEST(Broadcast, OnlySubscribedChannelsWithNamesAndMultiLineData) {
    TempDir root;
    root.write("pub.php", publish_script);
    Server server(root.path(), broadcast_args());
    Subscriber s(server.port(), "?channel=a&channel=b&channel=a");
    ASSERT_EQ(s.status(), 200);
    ASSERT_TRUE(wait_for_subscribers(server, 1));
    const std::string c = publish(server, "c=c&d=skip");
    const std::string a = publish(server, "c=a&d=line1%0Aline2%0D%0Aline3&e=update");
    const std::string b = publish(server, "c=b&d=%20leading");
    EXPECT_EQ(std::stoull(c) + 1, std::stoull(a));
    auto first = s.next_event();
    ASSERT_TRUE(first);
    EXPECT_EQ(first->id, a);
    EXPECT_EQ(first->name, "update");
    EXPECT_EQ(first->data, "line1\nline2\nline3");
    auto second = s.next_event();
    ASSERT_TRUE(second);
    EXPECT_EQ(second->id, b);
    EXPECT_EQ(second->name, "");
    EXPECT_EQ(second->data, " leading");
}

TEST(Broadcast, ResumesAfterLastEventIdAndResetsWhenTheRingNoLongerHasIt) {
    TempDir root;
    root.write("pub.php", publish_script);
    Server server(root.path(),
                  broadcast_args({"--broadcast-ring", "64K", "--broadcast-max-data", "8K"}));
    const auto ids = split_ids(publish(server, "n=5"));
    ASSERT_EQ(ids.size(), 5u);
    {
        Subscriber s(server.port(), "?channel=news", {"Last-Event-ID: " + ids[1]});
        ASSERT_EQ(s.status(), 200);
        for (int i = 2; i < 5; ++i) {
            auto e = s.next_event();
            ASSERT_TRUE(e);
            EXPECT_EQ(e->id, ids[i]);
        }
    }
    {
        Subscriber s(server.port(), "?channel=news&lastEventId=" + ids[3]);
        ASSERT_EQ(s.status(), 200);
        auto e = s.next_event();
        ASSERT_TRUE(e);
        EXPECT_EQ(e->id, ids[4]);
    }
    // 100 events of 4 KB overflow a 64 KB ring: the first ids are gone.
    const auto later = split_ids(publish(server, "n=100&size=4000"));
    ASSERT_EQ(later.size(), 100u);
    Subscriber s(server.port(), "?channel=news", {"Last-Event-ID: " + ids[1]});
    ASSERT_EQ(s.status(), 200);
    auto reset = s.next_event();
    ASSERT_TRUE(reset);
    EXPECT_EQ(reset->name, "askr-reset");
    EXPECT_EQ(reset->id, later.back());  // where the stream goes on from
    ASSERT_TRUE(wait_for_subscribers(server, 1));
    const std::string live = publish(server, "d=live");
    auto next = s.next_event();
    ASSERT_TRUE(next);
    EXPECT_EQ(next->id, live);
    EXPECT_EQ(next->data, "live");
    // An id this server never gave (a client of an earlier run) is reset too.
    Subscriber future(server.port(), "?channel=news", {"Last-Event-ID: 999999"});
    auto e = future.next_event();
    ASSERT_TRUE(e);
    EXPECT_EQ(e->name, "askr-reset");
    EXPECT_GE(metrics(server)["broadcast"]["resets"].get<int>(), 2);
}

TEST(Broadcast, AnIdleStreamGetsHeartbeats) {
    TempDir root;
    Server server(root.path(), broadcast_args());
    Subscriber s(server.port(), "?channel=quiet");
    ASSERT_EQ(s.status(), 200);
    int heartbeats = 0;
    for (int i = 0; i < 4 && heartbeats < 2; ++i) {
        auto block = s.next(5s);
        ASSERT_TRUE(block);
        heartbeats += block->comment;
    }
    EXPECT_EQ(heartbeats, 2);
}

// Two subscriptions as two streams of one HTTP/2 connection, with hand-written frames
// (libcurl 7.88 starts a second transfer on a connection only once the first has ended).
TEST(Broadcast, TwoSubscriptionsOnOneHttp2ConnectionAndAGracefulStopEndsThem) {
    using namespace askr::test::h2;
    TempDir root;
    root.write("pub.php", publish_script);
    Server server(root.path(), broadcast_args());
    RawH2 client(server.port());
    ASSERT_TRUE(client.handshake());
    client.send(frame(HEADERS, END_HEADERS | END_STREAM, 1,
                      request_block("GET", "/askr/events?channel=left")));
    client.send(frame(HEADERS, END_HEADERS | END_STREAM, 3,
                      request_block("GET", "/askr/events?channel=right")));
    ASSERT_TRUE(client.until(HEADERS, 5s, 1u));
    ASSERT_TRUE(client.until(HEADERS, 5s, 3u));
    ASSERT_TRUE(wait_for_subscribers(server, 2));
    const std::string left = publish(server, "c=left&d=to-left");
    const std::string right = publish(server, "c=right&d=to-right");
    std::string bodies[2];
    bool ended[2] = {false, false};
    auto take = [&](const Frame& f) {
        if (f.type != DATA || (f.stream != 1 && f.stream != 3)) return;
        bodies[f.stream / 2] += f.payload;
        if (f.flags & END_STREAM) ended[f.stream / 2] = true;
    };
    for (int i = 0; i < 100; ++i) {
        if (bodies[0].find("data: to-left") != std::string::npos &&
            bodies[1].find("data: to-right") != std::string::npos)
            break;
        auto f = client.next(5s);
        ASSERT_TRUE(f);
        take(*f);
    }
    EXPECT_NE(bodies[0].find("id: " + left + "\ndata: to-left\n\n"), std::string::npos)
        << bodies[0];
    EXPECT_NE(bodies[1].find("id: " + right + "\ndata: to-right\n\n"), std::string::npos)
        << bodies[1];
    EXPECT_EQ(bodies[0].find("to-right"), std::string::npos);
    EXPECT_EQ(bodies[1].find("to-left"), std::string::npos);

    // A graceful stop ends both streams as complete responses (END_STREAM), not resets.
    ::kill(server.pid(), SIGTERM);
    for (int i = 0; i < 100 && !(ended[0] && ended[1]); ++i) {
        auto f = client.next(5s);
        if (!f) break;
        EXPECT_NE(f->type, RST_STREAM);
        take(*f);
    }
    EXPECT_TRUE(ended[0] && ended[1]);
    EXPECT_TRUE(client.wait_closed(10s));
    EXPECT_EQ(server.stop(), 0);
}

// Over HTTP/2 a subscriber that does not read is a stream whose window the client never
// opens: that stream is reset (RST_STREAM CANCEL) when its buffer is full, and the other
// stream of the same connection gets the whole burst.
TEST(Broadcast, AStalledHttp2StreamIsResetAndItsNeighbourGetsEverything) {
    using namespace askr::test::h2;
    TempDir root;
    root.write("pub.php", publish_script);
    Server server(root.path(),
                  broadcast_args({"--workers", "1", "--broadcast-buffer", "64K",
                                  "--broadcast-max-data", "8K", "--broadcast-ring", "16M"}));
    RawH2 client(server.port());
    ASSERT_TRUE(client.handshake({{0x4, 4096}}));  // SETTINGS_INITIAL_WINDOW_SIZE: 4 KB a stream
    client.send(frame(HEADERS, END_HEADERS | END_STREAM, 1,
                      request_block("GET", "/askr/events?channel=news")));
    client.send(frame(HEADERS, END_HEADERS | END_STREAM, 3,
                      request_block("GET", "/askr/events?channel=news")));
    auto grant = [](std::size_t n) {
        const auto v = static_cast<std::uint32_t>(n);
        return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                           static_cast<char>(v >> 8), static_cast<char>(v)};
    };
    // Stream 3 and the connection get room for the whole burst, so that stream 3's pace is
    // the client's reading and not one round trip per 4 KB (on a loaded machine that pace
    // fell behind what the stalled neighbour lets through, and stream 3 was cut as well).
    client.send(frame(WINDOW_UPDATE, 0, 0, grant(16 << 20)) +
                frame(WINDOW_UPDATE, 0, 3, grant(16 << 20)));
    ASSERT_TRUE(client.until(HEADERS, 5s, 1u));
    ASSERT_TRUE(client.until(HEADERS, 5s, 3u));
    ASSERT_TRUE(wait_for_subscribers(server, 2));
    std::thread publisher([&] { publish(server, "n=300&size=4000"); });
    std::string body;  // stream 3's
    bool reset = false;
    for (int i = 0; i < 20000; ++i) {
        if (reset && body.find("id: 300\n") != std::string::npos) break;
        auto f = client.next(10s);
        if (!f) break;
        if (f->type == RST_STREAM && f->stream == 1) {
            EXPECT_EQ(f->error_code(), 0x8u);  // CANCEL
            reset = true;
        }
        if (f->type != DATA || f->payload.empty()) continue;
        // The connection's window always reopens; only stream 3's does.
        std::string updates = frame(WINDOW_UPDATE, 0, 0, grant(f->payload.size()));
        if (f->stream == 3) {
            body += f->payload;
            updates += frame(WINDOW_UPDATE, 0, 3, grant(f->payload.size()));
        }
        client.send(updates);
    }
    publisher.join();
    EXPECT_TRUE(reset) << "the stalled stream was not reset";
    std::size_t events = 0;
    for (std::size_t at = body.find("\nid: "); at != std::string::npos;
         at = body.find("\nid: ", at + 1))
        ++events;
    EXPECT_EQ(events, 300u);  // every event after the retry line
    EXPECT_NE(body.find("id: 300\n"), std::string::npos);
    EXPECT_EQ(metrics(server)["broadcast"]["drops"].get<int>(), 1);
}

TEST(Broadcast, ASubscriberThatDoesNotReadIsCutOffWhileAnotherGetsTheWholeBurst) {
    TempDir root;
    root.write("pub.php", publish_script);
    Server server(root.path(), broadcast_args({"--broadcast-ring", "64M", "--broadcast-buffer",
                                               "256K", "--workers", "1"}));
    Subscriber stalled(server.port(), "?channel=news", {}, 4096);
    ASSERT_EQ(stalled.status(), 200);  // then never reads again
    Subscriber reader(server.port(), "?channel=news");
    ASSERT_EQ(reader.status(), 200);
    ASSERT_TRUE(wait_for_subscribers(server, 2));
    std::atomic<int> received{0};
    std::atomic<bool> in_order{true};
    std::thread reading([&] {
        std::uint64_t previous = 0;
        for (int i = 0; i < 3000; ++i) {
            auto e = reader.next_event(30s);
            if (!e) break;
            const std::uint64_t id = std::stoull(e->id);
            if (id != previous + 1 && previous != 0) in_order = false;
            previous = id;
            if (e->data.size() != 4000) in_order = false;
            ++received;
        }
    });
    // 3,000 events of 4 KB (12 MB): far more than the stalled client's socket buffers and
    // its 256 KB allowance hold.
    const auto ids = split_ids(get(server.url("/pub.php?n=3000&size=4000")).body);
    EXPECT_EQ(ids.size(), 3000u);
    reading.join();
    EXPECT_EQ(received.load(), 3000);
    EXPECT_TRUE(in_order.load());
    EXPECT_FALSE(stalled.ends_cleanly(20s));  // cut off: closed (reset), no last chunk
    EXPECT_TRUE(stalled.closed());
    const json m = metrics(server)["broadcast"];
    EXPECT_EQ(m["drops"].get<int>(), 1);
    EXPECT_TRUE(wait_for_subscribers(server, 1));
}

// The pump writes an event straight to each idle subscriber's socket; one whose socket is
// full part-way through an event gets the rest of it, and everything after, from its own
// write, whole and in order, and then the straight path again.
TEST(Broadcast, ASubscriberWhoseSocketFillsMidEventGetsEveryEventWholeAndInOrder) {
    TempDir root;
    root.write("pub.php", publish_script);
    Server server(root.path(), broadcast_args({"--workers", "1", "--broadcast-buffer", "16M"}));
    Subscriber slow(server.port(), "?channel=news", {}, 4096);
    ASSERT_EQ(slow.status(), 200);
    ASSERT_TRUE(wait_for_subscribers(server, 1));
    // 150 events of 60 KB (9 MB) while it does not read: more than the kernel's send
    // buffer can ever hold (net.ipv4.tcp_wmem's maximum, 4 MB), so most of it waits in
    // Askr, within [broadcast] buffer.
    constexpr std::size_t big = 150;
    std::vector<std::string> ids = split_ids(publish(server, "n=150&size=60000"));
    ASSERT_EQ(ids.size(), big);
    std::this_thread::sleep_for(300ms);
    for (const auto& id : split_ids(publish(server, "n=3&d=after")))
        ids.push_back(id);
    for (std::size_t i = 0; i < ids.size(); ++i) {
        auto e = slow.next_event();
        ASSERT_TRUE(e) << "waiting for id " << ids[i];
        EXPECT_EQ(e->id, ids[i]);
        ASSERT_TRUE(e->data == (i < big ? std::string(60000, 'x') : "after"))
            << "event " << i << " has " << e->data.size() << " bytes of data";
    }
    // Caught up: the next one comes straight again.
    const std::string last = publish(server, "d=caught-up");
    auto e = slow.next_event();
    ASSERT_TRUE(e);
    EXPECT_EQ(e->id, last);
    EXPECT_EQ(e->data, "caught-up");
    const json m = metrics(server)["broadcast"];
    EXPECT_EQ(m["drops"].get<int>(), 0);
    EXPECT_EQ(m["deliveries"].get<std::uint64_t>(), big + 4);
}

// Many subscribers of one worker, some on a second channel too, all get each event once
// and in order; one that leaves half-way does not disturb the others (a subscriber leaves
// its lists by swapping places with the last one).
TEST(Broadcast, ManySubscribersOnOneWorkerAllGetEveryEvent) {
    TempDir root;
    root.write("pub.php", publish_script);
    Server server(root.path(), broadcast_args({"--workers", "1"}));
    constexpr int count = 200;
    std::vector<std::unique_ptr<Subscriber>> subscribers;
    for (int i = 0; i < count; ++i) {
        subscribers.push_back(std::make_unique<Subscriber>(
            server.port(), i % 3 == 0 ? "?channel=news&channel=sport" : "?channel=news"));
    }
    for (auto& s : subscribers) ASSERT_EQ(s->status(), 200);
    ASSERT_TRUE(wait_for_subscribers(server, count));
    std::vector<std::string> ids = split_ids(publish(server, "n=3&d=first"));
    // Every fifth one leaves; the rest go on.
    for (int i = 0; i < count; i += 5) subscribers[static_cast<std::size_t>(i)].reset();
    ASSERT_TRUE(wait_for_subscribers(server, count - count / 5));
    for (const auto& id : split_ids(publish(server, "n=3&d=second"))) ids.push_back(id);
    const std::string sport = publish(server, "c=sport&d=goal");
    for (int i = 0; i < count; ++i) {
        auto& s = subscribers[static_cast<std::size_t>(i)];
        if (!s) continue;
        for (std::size_t k = 0; k < ids.size(); ++k) {
            auto e = s->next_event();
            ASSERT_TRUE(e) << "subscriber " << i << " waiting for id " << ids[k];
            EXPECT_EQ(e->id, ids[k]);
            EXPECT_EQ(e->data, k < 3 ? "first" : "second");
        }
        if (i % 3 == 0) {
            auto e = s->next_event();
            ASSERT_TRUE(e) << "subscriber " << i << " waiting for the sport event";
            EXPECT_EQ(e->id, sport);
        }
    }
    const json m = metrics(server)["broadcast"];
    EXPECT_EQ(m["drops"].get<int>(), 0);
}

TEST(Broadcast, LimitsAndBadRequestsAreRefused) {
    TempDir root;
    root.write("pub.php", publish_script);
    Server server(root.path(),
                  broadcast_args({"--workers", "1", "--broadcast-max-subscribers", "2",
                                  "--broadcast-max-channels", "2", "--broadcast-max-channel-length",
                                  "10", "--broadcast-max-data", "1K"}));
    EXPECT_EQ(get(server.url("/askr/events")).status, 400);  // no channel
    EXPECT_EQ(get(server.url("/askr/events?channel=a&channel=b&channel=c")).status, 400);
    EXPECT_EQ(get(server.url("/askr/events?channel=has%20space")).status, 400);
    EXPECT_EQ(get(server.url("/askr/events?channel=elevenchars")).status, 400);
    EXPECT_EQ(request(server.url("/askr/events?channel=a"), {.method = "POST", .body = "x"}).status,
              405);
    Subscriber one(server.port(), "?channel=a");
    Subscriber two(server.port(), "?channel=b");
    ASSERT_EQ(one.status(), 200);
    ASSERT_EQ(two.status(), 200);
    ASSERT_TRUE(wait_for_subscribers(server, 2));
    Subscriber three(server.port(), "?channel=c");
    EXPECT_EQ(three.status(), 503);
    EXPECT_GE(metrics(server)["broadcast"]["refused"].get<int>(), 6);

    EXPECT_EQ(publish(server, "c=bad%20name"),
              "ValueError: askr_broadcast(): Argument #1 ($channel) may only hold letters, "
              "digits and _ - . : @ = (a channel is a name, not text)");
    EXPECT_EQ(publish(server, "c=elevenchars")
                  .rfind("ValueError: askr_broadcast(): Argument #1 "
                         "($channel) must be at most 10 bytes",
                         0),
              0u);
    EXPECT_EQ(
        publish(server, "size=1025")
            .rfind("ValueError: askr_broadcast(): Argument #2 ($data) must be at most 1024 bytes",
                   0),
        0u);
    EXPECT_EQ(
        publish(server, "e=a%0Ab").rfind("ValueError: askr_broadcast(): Argument #3 ($event)", 0),
        0u);
}

TEST(Broadcast, AGracefulStopEndsTheStreamCleanly) {
    TempDir root;
    Server server(root.path(), broadcast_args());
    Subscriber s(server.port(), "?channel=news");
    ASSERT_EQ(s.status(), 200);
    ASSERT_TRUE(wait_for_subscribers(server, 1));
    ::kill(server.pid(), SIGTERM);
    EXPECT_TRUE(s.ends_cleanly(10s));  // the last chunk, then the close
    EXPECT_EQ(server.stop(), 0);
}

// A reload retires the old workers: their streams end cleanly (EventSource reconnects), the
// ring is kept, and a reconnect resumes with the ids going on.
TEST(Broadcast, AReloadEndsStreamsAndKeepsTheRing) {
    TempDir root;
    root.write("pub.php", publish_script);
    Server server(root.path(), broadcast_args({"--workers", "1"}));
    Subscriber s(server.port(), "?channel=news");
    ASSERT_EQ(s.status(), 200);
    ASSERT_TRUE(wait_for_subscribers(server, 1));
    const std::string before = publish(server, "d=before");
    auto e = s.next_event();
    ASSERT_TRUE(e);
    EXPECT_EQ(e->id, before);
    ::kill(server.pid(), SIGHUP);
    EXPECT_TRUE(s.ends_cleanly(15s));
    ASSERT_TRUE(server.wait_for_log("reload finished: generation 2", 15s)) << server.log();
    const std::string after = publish(server, "d=after");
    EXPECT_EQ(std::stoull(after), std::stoull(before) + 1);
    Subscriber again(server.port(), "?channel=news", {"Last-Event-ID: " + before});
    ASSERT_EQ(again.status(), 200);
    auto resumed = again.next_event();
    ASSERT_TRUE(resumed);
    EXPECT_EQ(resumed->id, after);
    EXPECT_EQ(resumed->data, "after");
}

TEST(Broadcast, PrivateChannelsNeedATokenThatNamesThem) {
    TempDir root;
    root.write("pub.php", publish_script);
    root.write("token.php", R"PHP(<?php
try {
    echo askr_broadcast_token(explode(',', $_GET['c']), (int)($_GET['ttl'] ?? 60));
} catch (Throwable $e) {
    echo get_class($e), ': ', $e->getMessage();
}
)PHP");
    Server server(root.path(), broadcast_args());
    const std::string token = get(server.url("/token.php?c=private-a,public")).body;
    ASSERT_EQ(token.find(':'), std::string::npos) << token;
    EXPECT_EQ(get(server.url("/askr/events?channel=private-a")).status, 401);
    EXPECT_EQ(get(server.url("/askr/events?channel=private-a&token=x" + token)).status, 403);
    EXPECT_EQ(get(server.url("/askr/events?channel=private-b&token=" + token)).status, 403);
    const std::string other = get(server.url("/token.php?c=private-b")).body;
    EXPECT_EQ(get(server.url("/askr/events?channel=private-a&token=" + other)).status, 403);
    EXPECT_EQ(get(server.url("/token.php?c=private-a&ttl=0")).body,
              "ValueError: askr_broadcast_token(): Argument #2 ($ttl) must be a number of "
              "seconds from 1 to 31622400");

    Subscriber by_query(server.port(), "?channel=private-a&channel=news&token=" + token);
    ASSERT_EQ(by_query.status(), 200);
    Subscriber by_header(server.port(), "?channel=private-a", {"Authorization: Bearer " + token});
    ASSERT_EQ(by_header.status(), 200);
    ASSERT_TRUE(wait_for_subscribers(server, 2));
    const std::string id = publish(server, "c=private-a&d=secret");
    for (Subscriber* s : {&by_query, &by_header}) {
        auto e = s->next_event();
        ASSERT_TRUE(e);
        EXPECT_EQ(e->id, id);
        EXPECT_EQ(e->data, "secret");
    }
}

// Recycling (--max-requests) drains the worker as a stop does: the stream ends cleanly and
// a reconnect to the next worker resumes without a gap.
TEST(Broadcast, RecyclingEndsTheStreamAndAReconnectResumes) {
    TempDir root;
    root.write("pub.php", publish_script);
    Server server(root.path(), broadcast_args({"--workers", "1", "--max-requests", "5"}));
    Subscriber s(server.port(), "?channel=news");  // request 1
    ASSERT_EQ(s.status(), 200);
    ASSERT_TRUE(wait_for_subscribers(server, 1));
    std::vector<std::string> ids;
    for (int i = 0; i < 4; ++i) ids.push_back(publish(server, "d=e" + std::to_string(i)));
    // What reached the stream before the drain ended it (the 4th event was published once
    // the drain had begun: it may or may not be among them), then the end.
    std::vector<std::string> seen;
    while (auto e = s.next_event(15s)) seen.push_back(e->id);
    EXPECT_TRUE(s.ends_cleanly(1s));  // the last chunk came before the close
    ASSERT_FALSE(seen.empty());
    ASSERT_LE(seen.size(), ids.size());
    for (std::size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], ids[i]);
    const std::string last_seen = seen.back();
    EXPECT_TRUE(s.ends_cleanly(15s));
    std::unique_ptr<Subscriber> again;
    for (int attempt = 0; attempt < 100; ++attempt) {  // until the next worker serves
        again =
            std::make_unique<Subscriber>(server.port(), "?channel=news",
                                         std::vector<std::string>{"Last-Event-ID: " + last_seen});
        if (again->status() == 200) break;
        std::this_thread::sleep_for(50ms);
    }
    ASSERT_EQ(again->status(), 200);
    for (std::size_t i = seen.size(); i < ids.size(); ++i) {
        auto resumed = again->next_event();
        ASSERT_TRUE(resumed);
        EXPECT_EQ(resumed->id, ids[i]);
    }
    const std::string live = publish(server, "d=live");
    auto next = again->next_event();
    ASSERT_TRUE(next);
    EXPECT_EQ(next->id, live);
}

TEST(Broadcast, TheExampleChatRoundTrips) {
    Server server(std::string(ASKR_SOURCE_DIR) + "/examples/broadcast/public", broadcast_args());
    EXPECT_NE(get(server.url("/")).body.find("new EventSource('/askr/events?channel=chat')"),
              std::string::npos);
    Subscriber s(server.port(), "?channel=chat");
    ASSERT_EQ(s.status(), 200);
    ASSERT_TRUE(wait_for_subscribers(server, 1));
    const auto sent = request(server.url("/publish.php"), {.method = "POST", .body = "text=hi"});
    ASSERT_EQ(sent.status, 200);
    auto e = s.next_event();
    ASSERT_TRUE(e);
    EXPECT_EQ(e->id + "\n", sent.body);
    EXPECT_NE(e->data.find("\"text\":\"hi\""), std::string::npos) << e->data;
}

// Queue sidecars run PHP forked from the same zygote: they publish like the web workers.
TEST(Broadcast, AQueueSidecarPublishesToo) {
    TempDir root;
    const std::string script = root.write("queue.php", R"PHP(<?php
while (!askr_sidecar_should_stop()) {
    askr_broadcast('jobs', 'done by ' . getmypid());
    usleep(100000);
}
)PHP");
    Server server(root.path(),
                  broadcast_args({"--workers", "1", "--queue", "1", "--queue-script", script}));
    Subscriber s(server.port(), "?channel=jobs");
    ASSERT_EQ(s.status(), 200);
    auto e = s.next_event();
    ASSERT_TRUE(e);
    EXPECT_EQ(e->data.rfind("done by ", 0), 0u) << e->data;
}

TEST(Broadcast, OffByDefault) {
    TempDir root;
    root.write("pub.php", publish_script);
    Server server(root.path());
    EXPECT_EQ(publish(server, "c=news"),
              "Error: askr_broadcast(): broadcasting is off; turn it on with [broadcast] "
              "enabled = true or --broadcast");
    EXPECT_EQ(get(server.url("/askr/events?channel=news")).status, 404);  // the app's path
    EXPECT_TRUE(metrics(server)["broadcast"].is_null());
}

}  // namespace
}  // namespace askr::test
