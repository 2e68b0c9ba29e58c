// Broadcasting across nodes ([broadcast] redis; docs/broadcast.md, "Several nodes
// (Redis)"): two real servers sharing one real redis-server on loopback, subscribers over
// raw HTTP/1.1 sockets.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "broadcast_support.hpp"
#include "harness.hpp"
#include "redis_support.hpp"

namespace askr::test {
namespace {

using namespace broadcast;

std::vector<std::string> node_args(const RedisServer& redis) {
    return broadcast_args({"--workers", "1", "--broadcast-redis", redis.url()});
}

// A node of the cluster: its app root holds the publishing script.
struct Node {
    TempDir root;
    std::unique_ptr<Server> server;
    explicit Node(const RedisServer& redis) {
        root.write("pub.php", publish_script);
        server = std::make_unique<Server>(root.path(), node_args(redis));
        server->allow_worker_fds(1);  // the worker's connection to Redis once it publishes
    }
};

// The relay reads the stream (it logs so once it copied what the stream held).
bool relay_reads(const Server& server) {
    return server.wait_for_log("copied into the ring", 10s);
}

TEST(BroadcastRedis, APublishOnOneServerReachesSubscribersOfBothOnceInOrderWithTheSameId) {
    RedisServer redis;
    Node a(redis), b(redis);
    ASSERT_TRUE(relay_reads(*a.server)) << a.server->log();
    ASSERT_TRUE(relay_reads(*b.server)) << b.server->log();
    Subscriber on_a(a.server->port(), "?channel=news");
    Subscriber on_b(b.server->port(), "?channel=news");
    ASSERT_EQ(on_a.status(), 200);
    ASSERT_EQ(on_b.status(), 200);
    ASSERT_TRUE(wait_for_subscribers(*a.server, 1));
    ASSERT_TRUE(wait_for_subscribers(*b.server, 1));

    const auto ids = split_ids(publish(*a.server, "c=news&n=5&d=from-a"));
    ASSERT_EQ(ids.size(), 5u) << ids[0];
    for (std::size_t i = 1; i < ids.size(); ++i)
        EXPECT_LT(std::stoull(ids[i - 1]), std::stoull(ids[i]));
    // A last event from B closes the sequence: had anything come twice, it would show
    // before this one.
    const auto last = split_ids(publish(*b.server, "c=news&d=from-b"));
    ASSERT_EQ(last.size(), 1u);
    for (Subscriber* s : {&on_a, &on_b}) {
        for (const auto& id : ids) {
            const auto e = s->next_event();
            ASSERT_TRUE(e) << a.server->log() << b.server->log();
            EXPECT_EQ(e->id, id);
            EXPECT_EQ(e->data, "from-a");
        }
        const auto e = s->next_event();
        ASSERT_TRUE(e);
        EXPECT_EQ(e->id, last[0]);
        EXPECT_EQ(e->data, "from-b");
    }
    EXPECT_EQ(a.server->stop(), 0);
    EXPECT_EQ(b.server->stop(), 0);
}

TEST(BroadcastRedis, ABrowserThatReconnectsToAnotherServerResumesRightAfterItsLastEventId) {
    RedisServer redis;
    Node a(redis);
    ASSERT_TRUE(relay_reads(*a.server)) << a.server->log();
    Subscriber on_a(a.server->port(), "?channel=orders");
    ASSERT_EQ(on_a.status(), 200);
    ASSERT_TRUE(wait_for_subscribers(*a.server, 1));
    std::vector<std::string> ids;
    for (int i = 0; i < 5; ++i) {
        const auto id = publish(*a.server, "c=orders&d=order-" + std::to_string(i));
        ids.push_back(id);
        publish(*a.server, "c=other&d=not-for-this-subscriber");
    }
    std::string seen;
    for (int i = 0; i < 2; ++i) {
        const auto e = on_a.next_event();
        ASSERT_TRUE(e) << a.server->log();
        EXPECT_EQ(e->id, ids[i]);
        seen = e->id;
    }
    // B starts after those events were published: its relay fills its ring from the stream.
    Node b(redis);
    ASSERT_TRUE(relay_reads(*b.server)) << b.server->log();
    Subscriber on_b(b.server->port(), "?channel=orders", {"Last-Event-ID: " + seen});
    ASSERT_EQ(on_b.status(), 200);
    for (int i = 2; i < 5; ++i) {
        const auto e = on_b.next_event();
        ASSERT_TRUE(e) << b.server->log();
        EXPECT_EQ(e->id, ids[i]);
        EXPECT_EQ(e->data, "order-" + std::to_string(i));
        EXPECT_NE(e->name, "askr-reset");
    }
    // An id from before what the stream held when B started cannot be resumed there.
    Subscriber too_old(b.server->port(), "?channel=orders", {"Last-Event-ID: 5"});
    ASSERT_EQ(too_old.status(), 200);
    const auto reset = too_old.next_event();
    ASSERT_TRUE(reset);
    EXPECT_EQ(reset->name, "askr-reset");
    EXPECT_EQ(a.server->stop(), 0);
    EXPECT_EQ(b.server->stop(), 0);
}

TEST(BroadcastRedis, WithRedisDownLocalDeliveryGoesOnAndTheRelayReconnectsByItself) {
    RedisServer redis;
    Node a(redis), b(redis);
    for (Node* n : {&a, &b}) {
        n->server->allow_error("Redis");
        ASSERT_TRUE(relay_reads(*n->server)) << n->server->log();
    }
    Subscriber on_a(a.server->port(), "?channel=news");
    Subscriber on_b(b.server->port(), "?channel=news");
    ASSERT_EQ(on_a.status(), 200);
    ASSERT_EQ(on_b.status(), 200);
    ASSERT_TRUE(wait_for_subscribers(*a.server, 1));
    ASSERT_TRUE(wait_for_subscribers(*b.server, 1));

    redis.stop();
    const auto during = split_ids(publish(*a.server, "c=news&n=3&d=while-away"));
    ASSERT_EQ(during.size(), 3u) << during[0];
    for (const auto& id : during) {
        const auto e = on_a.next_event();
        ASSERT_TRUE(e) << a.server->log();
        EXPECT_EQ(e->id, id);
        EXPECT_EQ(e->data, "while-away");
    }

    redis.start();
    ASSERT_TRUE(a.server->wait_for_log("again, after id", 20s)) << a.server->log();
    ASSERT_TRUE(b.server->wait_for_log("again, after id", 20s)) << b.server->log();
    EXPECT_TRUE(a.server->wait_for_log("is not on Redis", 1s)) << a.server->log();
    // The worker's own connection may still be in its backoff for a publish or two: those
    // stay on A. Publish until one reaches B, then check it came with A's id.
    std::optional<Event> crossed;
    std::string crossed_id;
    for (int attempt = 0; attempt < 30 && !crossed; ++attempt) {
        const std::string data = "after-" + std::to_string(attempt);
        const std::string id = publish(*a.server, "c=news&d=" + data);
        const auto on_a_event = on_a.next_event();
        ASSERT_TRUE(on_a_event) << a.server->log();
        EXPECT_EQ(on_a_event->id, id);
        if (auto e = on_b.next_event(1s)) {
            EXPECT_EQ(e->data, data);
            crossed = e;
            crossed_id = id;
        }
    }
    ASSERT_TRUE(crossed) << a.server->log() << b.server->log();
    EXPECT_EQ(crossed->id, crossed_id);
    EXPECT_TRUE(a.server->wait_for_log("reached only this node's subscribers", 5s))
        << a.server->log();
    EXPECT_EQ(a.server->stop(), 0);
    EXPECT_EQ(b.server->stop(), 0);
}

// The ring id of a stream id "MS-SEQ", as docs/broadcast.md gives it.
std::string ring_id_of(const std::string& stream_id) {
    const auto dash = stream_id.find('-');
    return std::to_string(std::stoull(stream_id.substr(0, dash)) * 1048576 +
                          std::stoull(stream_id.substr(dash + 1)));
}

TEST(BroadcastRedis, EntriesOthersWroteToTheStreamAreCheckedAsLocalPublishesAre) {
    RedisServer redis;
    TempDir root;
    Server server(root.path(), broadcast_args({"--workers", "1", "--broadcast-redis", redis.url(),
                                               "--broadcast-max-data", "16"}));
    server.allow_error("broadcast relay: entry");
    ASSERT_TRUE(relay_reads(server)) << server.log();
    Subscriber subscriber(server.port(), "?channel=news");
    ASSERT_EQ(subscriber.status(), 200);
    ASSERT_TRUE(wait_for_subscribers(server, 1));
    const std::string long_name = "c news n " + std::string(65, 'n') + " d x";
    for (const std::string& bad :
         {std::string("c bad/channel d x"), std::string("c news d 01234567890123456789"),
          std::string("d no-channel"), long_name})
        redis.cli("XADD askr:broadcast '*' " + bad);
    std::string good = redis.cli("XADD askr:broadcast '*' c news n status d ok");
    while (!good.empty() && (good.back() == '\n' || good.back() == '\r')) good.pop_back();
    const auto e = subscriber.next_event();
    ASSERT_TRUE(e) << server.log();
    EXPECT_EQ(e->id, ring_id_of(good));
    EXPECT_EQ(e->name, "status");
    EXPECT_EQ(e->data, "ok");
    EXPECT_TRUE(server.wait_for_log("skipped", 1s)) << server.log();
    EXPECT_EQ(server.stop(), 0);
}

}  // namespace
}  // namespace askr::test
