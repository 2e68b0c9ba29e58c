#include "static/http_date.hpp"

#include <gtest/gtest.h>

#include <string>

namespace askr::static_files {
namespace {

constexpr std::time_t rfc_example = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT

std::string format(std::time_t t) {
    char out[http_date_length];
    format_http_date(t, out);
    return std::string(out, sizeof out);
}

TEST(HttpDate, FormatsImfFixdate) {
    EXPECT_EQ(format(rfc_example), "Sun, 06 Nov 1994 08:49:37 GMT");
    EXPECT_EQ(format(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    EXPECT_EQ(format(951782400), "Tue, 29 Feb 2000 00:00:00 GMT");  // leap day of a /400 year
    EXPECT_EQ(format(4107542399), "Sun, 28 Feb 2100 23:59:59 GMT");
    EXPECT_EQ(format(4107542400), "Mon, 01 Mar 2100 00:00:00 GMT");  // 2100 is no leap year
    EXPECT_EQ(format(-1), "Wed, 31 Dec 1969 23:59:59 GMT");
}

TEST(HttpDate, FormatClampsToFourDigitYears) {
    EXPECT_EQ(format(253402300799), "Fri, 31 Dec 9999 23:59:59 GMT");
    EXPECT_EQ(format(static_cast<std::time_t>(1) << 60), "Fri, 31 Dec 9999 23:59:59 GMT");
    EXPECT_EQ(format(-(static_cast<std::time_t>(1) << 60)), "Sat, 01 Jan 0000 00:00:00 GMT");
}

TEST(HttpDate, ParsesAllThreeFormats) {
    EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), rfc_example);
    EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), rfc_example);
    EXPECT_EQ(parse_http_date("Sun Nov  6 08:49:37 1994"), rfc_example);
    EXPECT_EQ(parse_http_date("Sun Nov 16 08:49:37 1994"), rfc_example + 10 * 86400);
}

TEST(HttpDate, RoundTrips) {
    for (std::time_t t :
         {std::time_t{0}, rfc_example, std::time_t{951782400}, std::time_t{1700000000},
          std::time_t{2147483647}, std::time_t{4107542400}, std::time_t{253402300799}}) {
        EXPECT_EQ(parse_http_date(format(t)), t) << format(t);
    }
}

TEST(HttpDate, Rfc850TwoDigitYearsAreRecentPast) {
    // RFC 9110 §5.6.7: more than 50 years ahead means the previous century.
    const std::optional<std::time_t> date = parse_http_date("Thursday, 01-Jan-70 00:00:00 GMT");
    ASSERT_TRUE(date);
    EXPECT_TRUE(*date == 0 || *date == 3155760000) << *date;  // 1970 or 2070, by today's date
    EXPECT_EQ(parse_http_date("Saturday, 01-Jan-00 00:00:00 GMT"), 946684800);  // 2000
}

TEST(HttpDate, ToleratesSurroundingWhitespace) {
    EXPECT_EQ(parse_http_date("  Sun, 06 Nov 1994 08:49:37 GMT\t "), rfc_example);
    EXPECT_EQ(parse_http_date("\tSun Nov  6 08:49:37 1994 "), rfc_example);
}

TEST(HttpDate, AcceptsLeapSecond) {
    EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:60 GMT"), rfc_example + 23);
}

TEST(HttpDate, RejectsGarbage) {
    for (std::string_view bad : {
             "",
             " ",
             "\t",
             "garbage",
             "0",
             "784111777",
             "Sun, 06 Nov 1994 08:49:37",       // no zone
             "Sun, 06 Nov 1994 08:49:37 UTC",   // only GMT
             "Sun, 06 Nov 1994 08:49:37 GMTx",  // trailing junk
             "Sun, 6 Nov 1994 08:49:37 GMT",    // day needs two digits
             "Sun,  06 Nov 1994 08:49:37 GMT",  // double space
             "sun, 06 nov 1994 08:49:37 gmt",   // names are case-sensitive
             "Sun, 06 Nov 94 08:49:37 GMT",     // IMF-fixdate has four-digit years
             "Sun, 32 Nov 1994 08:49:37 GMT",   // no such day
             "Sun, 31 Nov 1994 08:49:37 GMT",   // November has 30
             "Tue, 29 Feb 2100 00:00:00 GMT",   // not a leap year
             "Sun, 00 Nov 1994 08:49:37 GMT",
             "Sun, 06 Nov 1994 24:00:00 GMT",
             "Sun, 06 Nov 1994 08:60:00 GMT",
             "Sun, 06 Nov 1994 08:49:61 GMT",
             "Sun, 06 Nov 1994 8:49:37 GMT",
             "Sun, 06 Xyz 1994 08:49:37 GMT",
             "Xyz, 06 Nov 1994 08:49:37 GMT",
             "Sun, 06 Nov 1994 08:49:37 GMT GMT",
             "Sunday, 06-Nov-1994 08:49:37 GMT",  // RFC 850 has two-digit years
             "Sun, 06-Nov-94 08:49:37 GMT",       // RFC 850 needs the long day name
             "Sun Nov 6 08:49:37 1994",           // asctime pads the day with a space
             "Sun Nov   6 08:49:37 1994",
             "Sun Nov  6 08:49:37 94",
             "Sun Nov  6 08:49:37 1994 GMT",
             "Sun, 06 Nov 1994 08:49:37 GMT\r\n",
             "Sun, 06 Nov 1994\0 08:49:37 GMT",
         }) {
        EXPECT_FALSE(parse_http_date(bad)) << '"' << bad << '"';
    }
    EXPECT_FALSE(parse_http_date(std::string_view("Sun, 06 Nov 1994 08:49:37 GMT", 28)));
}

}  // namespace
}  // namespace askr::static_files
