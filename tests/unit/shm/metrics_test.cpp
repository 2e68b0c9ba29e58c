#include "shm/metrics.hpp"

#include <gtest/gtest.h>

namespace askr::shm {
namespace {

TEST(Metrics, LatencyBucketsAreLogarithmic) {
    EXPECT_EQ(latency_bucket(0), 0u);
    EXPECT_EQ(latency_bucket(125), 0u);
    EXPECT_EQ(latency_bucket(126), 1u);
    EXPECT_EQ(latency_bucket(250), 1u);
    EXPECT_EQ(latency_bucket(251), 2u);
    EXPECT_EQ(latency_bucket(1000), 3u);
    EXPECT_EQ(latency_bucket(1001), 4u);
    // Every duration lands in the first bucket whose bound holds it.
    for (std::uint64_t us :
         {1ull, 124ull, 999ull, 4000ull, 65'000ull, 1'000'000ull, 8'192'000ull}) {
        const auto i = latency_bucket(us);
        EXPECT_LE(us, latency_bucket_bound_us(i)) << us;
        if (i > 0) {
            EXPECT_GT(us, latency_bucket_bound_us(i - 1)) << us;
        }
    }
    EXPECT_EQ(latency_bucket(8'192'001), latency_buckets - 1);  // +Inf
    EXPECT_EQ(latency_bucket(~0ull), latency_buckets - 1);
}

TEST(Metrics, SlotsArePaddedToCacheLines) {
    static_assert(alignof(WorkerMetrics) == 64 && sizeof(WorkerMetrics) % 64 == 0);
    Metrics metrics(4);
    EXPECT_TRUE(metrics.valid());
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(&metrics.slot(1)) % 64, 0u);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(&metrics.supervisor()) % 64, 0u);
}

TEST(Metrics, RetiredWorkersAreNotLost) {
    Metrics metrics(2);
    auto& a = metrics.slot(0);
    a.in_flight_started.add(5);
    a.finished.add(4);  // one request in flight when the worker dies
    a.status_classes[1].add(3);
    a.status_classes[4].add(1);
    a.latency[latency_bucket(300)].add(4);
    a.bytes_out.add(1000);
    auto& b = metrics.slot(1);
    b.in_flight_started.add(2);
    b.finished.add(2);
    b.status_classes[1].add(2);
    b.latency[0].add(2);
    auto snapshot = metrics.snapshot();
    EXPECT_EQ(snapshot.requests, 6u);
    EXPECT_EQ(snapshot.in_flight, 1u);

    metrics.retire_slot(0);
    EXPECT_EQ(metrics.slot(0).finished.get(), 0u);
    snapshot = metrics.snapshot();
    // The request the dead worker never answered is no longer in flight; nothing else moved.
    EXPECT_EQ(snapshot.in_flight, 0u);
    EXPECT_EQ(snapshot.status_classes[1], 5u);
    EXPECT_EQ(snapshot.status_classes[4], 1u);
    EXPECT_EQ(snapshot.latency[latency_bucket(300)], 4u);
    EXPECT_EQ(snapshot.latency[0], 2u);
    EXPECT_EQ(snapshot.bytes_out, 1000u);

    // A new worker in the same slot adds to the totals.
    metrics.slot(0).status_classes[1].add(1);
    EXPECT_EQ(metrics.snapshot().status_classes[1], 6u);
    metrics.supervisor().worker_crashes.add(1);
    EXPECT_EQ(metrics.snapshot().worker_crashes, 1u);
}

}  // namespace
}  // namespace askr::shm
