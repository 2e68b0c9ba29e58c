#include "broadcast/redis_stream.hpp"

#include <gtest/gtest.h>

#include <string>

namespace askr::broadcast {
namespace {

TEST(RedisStream, RingIdsSortAsStreamIdsAndMapBack) {
    const auto first = ring_id("1796660690231-0");
    const auto second = ring_id("1796660690231-1");
    const auto third = ring_id("1796660690232-0");
    ASSERT_TRUE(first && second && third);
    EXPECT_LT(*first, *second);
    EXPECT_LT(*second, *third);
    EXPECT_EQ(stream_id(*first), "1796660690231-0");
    EXPECT_EQ(stream_id(*second), "1796660690231-1");
    EXPECT_EQ(*ring_id("0-1"), 1u);
    EXPECT_EQ(stream_id(*ring_id("17592186044415-1048575")), "17592186044415-1048575");
}

TEST(RedisStream, TextThatIsNoStreamIdOrDoesNotFitHasNoRingId) {
    for (const char* text : {"", "-", "12", "12-", "-3", "a-1", "1-b", "1-2-3", " 1-2", "1-+2",
                             "1-1048576", "17592186044416-0", "99999999999999999999-0"})
        EXPECT_FALSE(ring_id(text)) << text;
}

TEST(RedisStream, EventsReadBackAreCheckedAsLocalPublishesAre) {
    const EventLimits limits{.max_channel_length = 8, .max_data = 4};
    EXPECT_EQ(event_error("news", "", "data", limits), "");
    EXPECT_EQ(event_error("news", "status", "", limits), "");
    EXPECT_NE(event_error("", "", "", limits), "");
    EXPECT_NE(event_error("a channel", "", "", limits), "");
    EXPECT_NE(event_error("toolongname", "", "", limits), "");
    EXPECT_NE(event_error("news", "a\nb", "", limits), "");
    EXPECT_NE(event_error("news", std::string("a\0b", 3), "", limits), "");
    EXPECT_NE(event_error("news", "toolongname", "", limits), "");
    EXPECT_NE(event_error("news", "", "12345", limits), "");
}

}  // namespace
}  // namespace askr::broadcast
