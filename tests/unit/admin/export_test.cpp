#include "admin/export.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace askr::admin {
namespace {

struct Fixture {
    shm::Scoreboard scoreboard{2};
    shm::Metrics metrics{2};
    SupervisorStatus status;
    Fixture() {
        status.generation = 3;
        status.workers_configured = 1;
        auto& slot = scoreboard.slot(1);
        slot.pid.store(4242);
        slot.generation.store(3);
        slot.requests.store(7);
        slot.rss_bytes.store(1 << 20);
        slot.state.store(shm::WorkerState::idle);
        auto& m = metrics.slot(1);
        m.in_flight_started.add(7);
        m.finished.add(7);
        m.status_classes[1].add(6);
        m.status_classes[4].add(1);
        m.kinds[0].add(7);
        m.latency[shm::latency_bucket(100)].add(5);
        m.latency[shm::latency_bucket(3000)].add(1);
        m.latency[shm::latency_bucket(60'000'000)].add(1);  // past the last bound: +Inf
        m.latency_sum_us.add(60'003'500);
        metrics.supervisor().worker_starts.add(1);
    }
};

TEST(AdminExport, PrometheusHistogramIsCumulative) {
    Fixture f;
    const std::string text = prometheus_text(f.metrics.snapshot(), f.status, f.scoreboard);
    EXPECT_NE(text.find("# TYPE askr_request_duration_seconds histogram\n"), std::string::npos);
    EXPECT_NE(text.find("askr_request_duration_seconds_bucket{le=\"0.000125\"} 5\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("askr_request_duration_seconds_bucket{le=\"0.004\"} 6\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("askr_request_duration_seconds_bucket{le=\"8.192\"} 6\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("askr_request_duration_seconds_bucket{le=\"+Inf\"} 7\n"), std::string::npos)
        << text;
    EXPECT_NE(text.find("askr_request_duration_seconds_count 7\n"), std::string::npos);
    EXPECT_NE(text.find("askr_request_duration_seconds_sum 60.003500\n"), std::string::npos)
        << text;
    EXPECT_NE(text.find("askr_requests_total{class=\"2xx\"} 6\n"), std::string::npos);
    EXPECT_NE(text.find("askr_requests_total{class=\"5xx\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("askr_worker_rss_bytes{slot=\"1\",pid=\"4242\"} 1048576\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("askr_workers{state=\"idle\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("askr_generation 3\n"), std::string::npos);
    EXPECT_EQ(text.back(), '\n');
}

TEST(AdminExport, JsonStatusAndMetrics) {
    Fixture f;
    const auto status = status_json(f.status, f.scoreboard);
    EXPECT_EQ(status["generation"], 3);
    ASSERT_EQ(status["workers"].size(), 1u);
    EXPECT_EQ(status["workers"][0]["pid"], 4242);
    EXPECT_EQ(status["workers"][0]["slot"], 1);
    EXPECT_EQ(status["workers"][0]["state"], "idle");
    EXPECT_TRUE(status["workers"][0]["current_request_ms"].is_null());
    const auto metrics = metrics_json(f.metrics.snapshot(), f.status, f.scoreboard);
    EXPECT_EQ(metrics["requests"]["total"], 7);
    EXPECT_EQ(metrics["requests"]["by_status"]["4xx"], 0);
    EXPECT_EQ(metrics["requests"]["by_status"]["5xx"], 1);
    EXPECT_EQ(metrics["requests"]["by_kind"]["php"], 7);
    EXPECT_EQ(metrics["latency_seconds"]["buckets"].back()["count"], 7);
    EXPECT_EQ(metrics["workers"]["starts"], 1);
    EXPECT_EQ(metrics["workers"]["live"], 1);
}

TEST(AdminExport, CacheCountersWhenTheCacheIsOn) {
    Fixture f;
    shm::MetricsSnapshot snapshot = f.metrics.snapshot();
    EXPECT_TRUE(metrics_json(snapshot, f.status, f.scoreboard)["cache"].is_null());
    EXPECT_EQ(prometheus_text(snapshot, f.status, f.scoreboard).find("askr_cache_"),
              std::string::npos);

    shm::CacheTable cache({.slots = 16, .memory = 64 << 10, .max_value = 1024});
    cache.set(shm::CacheSpace::value, "k", shm::CacheType::string, "v", 0);
    shm::CacheType type{};
    std::string out;
    cache.get(shm::CacheSpace::value, "k", type, out);
    cache.get(shm::CacheSpace::value, "absent", type, out);
    snapshot.cache = cache.info();
    const auto metrics = metrics_json(snapshot, f.status, f.scoreboard);
    EXPECT_EQ(metrics["cache"]["hits"], 1);
    EXPECT_EQ(metrics["cache"]["misses"], 1);
    EXPECT_EQ(metrics["cache"]["entries"], 1);
    EXPECT_EQ(metrics["cache"]["memory_used_bytes"], shm::CacheTable::block_bytes);
    const std::string text = prometheus_text(snapshot, f.status, f.scoreboard);
    EXPECT_NE(text.find("askr_cache_requests_total{result=\"hit\"} 1\n"), std::string::npos)
        << text;
    EXPECT_NE(text.find("askr_cache_requests_total{result=\"miss\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("askr_cache_sets_total 1\n"), std::string::npos);
    EXPECT_NE(text.find("askr_cache_memory_bytes 65536\n"), std::string::npos);
}

TEST(AdminExport, BroadcastCountersWhenBroadcastingIsOn) {
    Fixture f;
    shm::MetricsSnapshot snapshot = f.metrics.snapshot();
    EXPECT_TRUE(metrics_json(snapshot, f.status, f.scoreboard)["broadcast"].is_null());
    EXPECT_EQ(prometheus_text(snapshot, f.status, f.scoreboard).find("askr_broadcast_"),
              std::string::npos);

    shm::BroadcastRing ring(64 << 10, 2);
    ring.publish("news", "", "a");
    ring.publish("news", "", "b");
    ring.slot(1).subscribers.store(3);
    ring.slot(1).deliveries.store(6);
    ring.slot(0).drops.store(1);
    snapshot.broadcast = ring.info();
    const auto metrics = metrics_json(snapshot, f.status, f.scoreboard);
    EXPECT_EQ(metrics["broadcast"]["published"], 2);
    EXPECT_EQ(metrics["broadcast"]["last_id"], 2);
    EXPECT_EQ(metrics["broadcast"]["subscribers"], 3);
    EXPECT_EQ(metrics["broadcast"]["deliveries"], 6);
    EXPECT_EQ(metrics["broadcast"]["drops"], 1);
    const std::string text = prometheus_text(snapshot, f.status, f.scoreboard);
    EXPECT_NE(text.find("askr_broadcast_published_total 2\n"), std::string::npos) << text;
    EXPECT_NE(text.find("askr_broadcast_subscribers 3\n"), std::string::npos);
    EXPECT_NE(text.find("askr_broadcast_deliveries_total 6\n"), std::string::npos);
    EXPECT_NE(text.find("askr_broadcast_drops_total 1\n"), std::string::npos);
}

// Per-channel subscribers: the busiest channels as labelled samples, the rest as "(other)";
// label values are escaped as the text format requires, whatever a name holds.
TEST(AdminExport, BroadcastSubscribersPerChannel) {
    Fixture f;
    shm::MetricsSnapshot snapshot = f.metrics.snapshot();
    shm::BroadcastInfo info;
    info.subscribers = 9;
    info.channels.limit = 2;
    info.channels.channels = {{"news", 5}, {"a\"b\\c\nd", 3}};
    info.channels.other_subscribers = 1;
    snapshot.broadcast = info;
    const auto metrics = metrics_json(snapshot, f.status, f.scoreboard);
    ASSERT_EQ(metrics["broadcast"]["channels"].size(), 2u);
    EXPECT_EQ(metrics["broadcast"]["channels"][0]["channel"], "news");
    EXPECT_EQ(metrics["broadcast"]["channels"][0]["subscribers"], 5);
    EXPECT_EQ(metrics["broadcast"]["other_channels"]["subscribers"], 1);
    const std::string text = prometheus_text(snapshot, f.status, f.scoreboard);
    EXPECT_NE(text.find("# TYPE askr_broadcast_channel_subscribers gauge\n"), std::string::npos);
    EXPECT_NE(text.find("askr_broadcast_channel_subscribers{channel=\"news\"} 5\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("askr_broadcast_channel_subscribers{channel=\"a\\\"b\\\\c\\nd\"} 3\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("askr_broadcast_channel_subscribers{channel=\"(other)\"} 1\n"),
              std::string::npos);
}

}  // namespace
}  // namespace askr::admin
