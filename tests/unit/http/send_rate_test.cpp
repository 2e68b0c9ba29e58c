#include "http/send_rate.hpp"

#include <gtest/gtest.h>

namespace askr::http {
namespace {

using namespace std::chrono_literals;
using Clock = SendRate::Clock;

// Drives a SendRate the way a connection does: one check a second while it waits on
// the client, `per_second` bytes taken in each of those seconds. The second at which
// it was judged too slow, or -1.
int seconds_until_too_slow(SendRate& rate, Clock::time_point& now, std::uint64_t& taken,
                           std::uint64_t per_second, int seconds, std::uint64_t min_rate) {
    for (int s = 1; s <= seconds; ++s) {
        now += 1s;
        taken += per_second;
        if (rate.too_slow(now, taken, min_rate)) return s;
    }
    return -1;
}

TEST(SendRate, AClientAboveTheMinimumIsNeverTooSlow) {
    SendRate rate;
    Clock::time_point now{};
    std::uint64_t taken = 0;
    rate.update(now, true, taken);
    EXPECT_EQ(seconds_until_too_slow(rate, now, taken, 2048, 120, 1024), -1);
}

TEST(SendRate, AClientBelowTheMinimumIsTooSlowOnceAWindowHasPassed) {
    SendRate rate;
    Clock::time_point now{};
    std::uint64_t taken = 0;
    rate.update(now, true, taken);
    const int cut = seconds_until_too_slow(rate, now, taken, 100, 120, 1024);
    EXPECT_GE(cut, SendRate::window.count()) << "judged before a whole window";
    EXPECT_LE(cut, SendRate::window.count() + 2);
}

TEST(SendRate, AFirstBurstIntoTheKernelBuffersDoesNotPayForTheNextMinute) {
    SendRate rate;
    Clock::time_point now{};
    std::uint64_t taken = 0;
    rate.update(now, true, taken);
    taken = 4 << 20;  // the first write filled the socket buffers at once
    const int cut = seconds_until_too_slow(rate, now, taken, 10, 120, 1024);
    EXPECT_GE(cut, SendRate::window.count());
    EXPECT_LE(cut, SendRate::window.count() + 2) << "the burst kept a slow reader alive";
}

TEST(SendRate, TimeTheServerSpendsProducingDoesNotCount) {
    SendRate rate;
    Clock::time_point now{};
    std::uint64_t taken = 0;
    // Ten seconds of waiting at a slow rate, then the server itself works for a minute
    // (PHP computing, nothing to send), then ten more seconds of waiting: never a whole
    // window of waiting below the rate... until the waiting adds up past it.
    rate.update(now, true, taken);
    EXPECT_EQ(seconds_until_too_slow(rate, now, taken, 100, 10, 1024), -1);
    rate.update(now, false, taken);
    now += 60s;
    EXPECT_FALSE(rate.too_slow(now, taken, 1024)) << "a minute not waiting was judged";
    rate.update(now, true, taken);
    const int cut = seconds_until_too_slow(rate, now, taken, 100, 30, 1024);
    EXPECT_GE(cut, 9);
    EXPECT_LE(cut, 12);
}

TEST(SendRate, ZeroTurnsTheCheckOff) {
    SendRate rate;
    Clock::time_point now{};
    std::uint64_t taken = 0;
    rate.update(now, true, taken);
    EXPECT_EQ(seconds_until_too_slow(rate, now, taken, 0, 120, 0), -1);
}

}  // namespace
}  // namespace askr::http
