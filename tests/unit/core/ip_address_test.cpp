#include "core/ip_address.hpp"

#include <gtest/gtest.h>

namespace askr::core {
namespace {

IpAddress ip(const char* text) {
    auto address = parse_ip_address(text);
    EXPECT_TRUE(address) << text;
    return address.value_or(IpAddress{});
}

AddressRange range(const char* text) {
    std::string error;
    auto parsed = parse_address_range(text, error);
    EXPECT_TRUE(parsed) << text << ": " << error;
    return parsed.value_or(AddressRange{});
}

TEST(IpAddress, ParsesStrictlyAndPrintsCanonically) {
    EXPECT_EQ(ip("192.0.2.1").text(), "192.0.2.1");
    EXPECT_TRUE(ip("192.0.2.1").is_v4());
    EXPECT_EQ(ip("2001:DB8:0:0:0:0:0:1").text(), "2001:db8::1");
    EXPECT_FALSE(ip("2001:db8::1").is_v4());
    EXPECT_EQ(ip("::ffff:10.1.2.3").text(), "10.1.2.3");  // mapped: the same as IPv4
    for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "01.2.3.4", "256.1.1.1", "1.2.3.4 ", "[::1]", "::1%lo",
                            "fe80::1::2", "example.com", "1.2.3.4:80", "0x7f.0.0.1"}) {
        EXPECT_FALSE(parse_ip_address(bad)) << bad;
    }
}

TEST(AddressRange, MatchesItsPrefixOnly) {
    const auto ten = range("10.0.0.0/8");
    EXPECT_TRUE(ten.contains(ip("10.255.1.2")));
    EXPECT_FALSE(ten.contains(ip("11.0.0.1")));
    EXPECT_TRUE(ten.contains(ip("::ffff:10.0.0.1")));
    EXPECT_FALSE(ten.contains(ip("::a00:1")));  // IPv4-compatible is not IPv4
    const auto odd = range("192.168.4.0/22");
    EXPECT_TRUE(odd.contains(ip("192.168.7.255")));
    EXPECT_FALSE(odd.contains(ip("192.168.8.0")));
    const auto one = range("127.0.0.1");
    EXPECT_TRUE(one.contains(ip("127.0.0.1")));
    EXPECT_FALSE(one.contains(ip("127.0.0.2")));
    const auto v6 = range("fd00::/8");
    EXPECT_TRUE(v6.contains(ip("fdab::1")));
    EXPECT_FALSE(v6.contains(ip("fe80::1")));
    EXPECT_FALSE(v6.contains(ip("10.0.0.1")));
    EXPECT_TRUE(range("0.0.0.0/0").contains(ip("203.0.113.9")));
    EXPECT_FALSE(range("0.0.0.0/0").contains(ip("2001:db8::1")));
    EXPECT_TRUE(range("::/0").contains(ip("2001:db8::1")));
}

TEST(AddressRange, RefusesWhatItCannotMean) {
    std::string error;
    for (const char* bad : {"10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/08", "::/129", "10.0.0.0/8/8",
                            "example.com/8", "", "/8", "10.0.0.0/ 8"}) {
        error.clear();
        EXPECT_FALSE(parse_address_range(bad, error)) << bad;
        EXPECT_FALSE(error.empty()) << bad;
    }
    EXPECT_FALSE(parse_address_range("10.0.0.1/8", error));
    EXPECT_NE(error.find("10.0.0.0/8"), std::string::npos) << error;  // says what was meant
}

TEST(AddressRanges, AnyRangeMatches) {
    AddressRanges ranges;
    EXPECT_TRUE(ranges.empty());
    ranges.add(range("10.0.0.0/8"));
    ranges.add(range("::1"));
    EXPECT_TRUE(ranges.contains(ip("10.1.1.1")));
    EXPECT_TRUE(ranges.contains(ip("::1")));
    EXPECT_FALSE(ranges.contains(ip("127.0.0.1")));
}

}  // namespace
}  // namespace askr::core
