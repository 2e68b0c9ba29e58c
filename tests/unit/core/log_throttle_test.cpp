// LogThrottle: one message a period, and the count of those held back in between.
#include <gtest/gtest.h>

#include <thread>

#include "core/log.hpp"

namespace askr::core {
namespace {

TEST(LogThrottle, LetsOneThroughAPeriod) {
    LogThrottle throttle(std::chrono::hours(1));
    std::uint64_t held_back = 99;
    EXPECT_TRUE(throttle.allow(held_back));
    EXPECT_EQ(held_back, 0u);
    for (int i = 0; i < 5; ++i) EXPECT_FALSE(throttle.allow(held_back));
}

TEST(LogThrottle, SaysHowManyWereHeldBack) {
    LogThrottle throttle(std::chrono::milliseconds(100));
    std::uint64_t held_back = 0;
    ASSERT_TRUE(throttle.allow(held_back));
    std::uint64_t refused = 0;
    for (int i = 0; i < 5; ++i) refused += throttle.allow(held_back) ? 0 : 1;
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    // However many of the five fell inside the period, the next one after it reports them.
    ASSERT_TRUE(throttle.allow(held_back));
    if (refused == 5) {
        EXPECT_EQ(held_back, 5u);
    }
    EXPECT_LE(held_back, refused);
}

}  // namespace
}  // namespace askr::core
