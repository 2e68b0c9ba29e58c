#include "core/size.hpp"

#include <gtest/gtest.h>

namespace askr::core {
namespace {

TEST(Size, ParsesUnits) {
    EXPECT_EQ(parse_size("512"), 512u);
    EXPECT_EQ(parse_size("64K"), 64u * 1024);
    EXPECT_EQ(parse_size("10M"), 10u << 20);
    EXPECT_EQ(parse_size("10m"), 10u << 20);
    EXPECT_EQ(parse_size("1G"), 1ull << 30);
    EXPECT_EQ(parse_size("2GB"), 2ull << 30);
    EXPECT_EQ(parse_size(" 3k "), 3u * 1024);
}

TEST(Size, RejectsGarbageAndOverflow) {
    EXPECT_FALSE(parse_size(""));
    EXPECT_FALSE(parse_size("M"));
    EXPECT_FALSE(parse_size("-1"));
    EXPECT_FALSE(parse_size("1.5M"));
    EXPECT_FALSE(parse_size("10X"));
    EXPECT_FALSE(parse_size("99999999999999999999"));
    EXPECT_FALSE(parse_size("99999999999T"));
}

TEST(Size, FormatsBack) {
    EXPECT_EQ(format_size(10u << 20), "10M");
    EXPECT_EQ(format_size(1536), "1536");
    EXPECT_EQ(format_size(1536 * 1024), "1536K");
}

}  // namespace
}  // namespace askr::core
