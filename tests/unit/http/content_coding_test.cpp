#include "http/content_coding.hpp"

#include <gtest/gtest.h>

namespace askr::http {
namespace {

Coding pick(std::string_view field, CodingSet offered = all_codings) {
    return negotiate_coding(field, true, offered);
}

TEST(ContentCoding, NoFieldOrEmptyFieldIsIdentity) {
    EXPECT_EQ(negotiate_coding("", false, all_codings), Coding::identity);
    EXPECT_EQ(pick(""), Coding::identity);
    EXPECT_EQ(pick("   "), Coding::identity);
}

TEST(ContentCoding, EqualWeightsGoToZstdThenBrThenGzip) {
    EXPECT_EQ(pick("gzip, deflate, br, zstd"), Coding::zstd);
    EXPECT_EQ(pick("gzip, deflate, br"), Coding::br);
    EXPECT_EQ(pick("gzip"), Coding::gzip);
    EXPECT_EQ(pick("x-gzip"), Coding::gzip);
    EXPECT_EQ(pick("GZIP, BR"), Coding::br) << "codings are case-insensitive";
    EXPECT_EQ(pick("gzip, br, zstd", coding_bit(Coding::gzip) | coding_bit(Coding::br)), Coding::br)
        << "only what is offered";
    EXPECT_EQ(pick("deflate, compress"), Coding::identity);
}

TEST(ContentCoding, HigherWeightWins) {
    EXPECT_EQ(pick("zstd;q=0.5, gzip"), Coding::gzip);
    EXPECT_EQ(pick("zstd;q=0.5, br;q=0.9, gzip;q=0.8"), Coding::br);
    EXPECT_EQ(pick("zstd ; q=0.001, gzip;Q=0.002"), Coding::gzip);
    EXPECT_EQ(pick("gzip;q=1.000, br;q=0.999"), Coding::gzip);
}

TEST(ContentCoding, ZeroRefuses) {
    EXPECT_EQ(pick("gzip;q=0"), Coding::identity);
    EXPECT_EQ(pick("zstd;q=0, br;q=0.0, gzip"), Coding::gzip);
    EXPECT_EQ(pick("zstd;q=0, br;q=0, gzip;q=0.000"), Coding::identity);
    EXPECT_EQ(pick("zstd;q=0, zstd"), Coding::identity) << "a repetition does not undo a refusal";
}

TEST(ContentCoding, StarWeighsWhatIsNotNamed) {
    EXPECT_EQ(pick("*"), Coding::zstd);
    EXPECT_EQ(pick("zstd;q=0, *"), Coding::br);
    EXPECT_EQ(pick("*;q=0"), Coding::identity);
    EXPECT_EQ(pick("gzip, *;q=0"), Coding::gzip);
    EXPECT_EQ(pick("br;q=0.5, *;q=0.1"), Coding::br);
}

TEST(ContentCoding, IdentityPreferredOnlyWhenWeighedHigher) {
    EXPECT_EQ(pick("identity"), Coding::identity);
    EXPECT_EQ(pick("identity, gzip"), Coding::gzip) << "equal weights: the server's choice";
    EXPECT_EQ(pick("identity;q=1, gzip;q=0.5"), Coding::identity);
    EXPECT_EQ(pick("gzip;q=0.5"), Coding::gzip) << "identity's implicit weight is the lowest";
    EXPECT_EQ(pick("identity;q=0"), Coding::identity) << "nothing else acceptable: no coding";
    EXPECT_EQ(pick("*;q=0.5, gzip;q=0.4"), Coding::zstd);
}

TEST(ContentCoding, MalformedElementsAreIgnored) {
    EXPECT_EQ(pick("zstd;q=2, gzip"), Coding::gzip);
    EXPECT_EQ(pick("zstd;q=1.5, gzip"), Coding::gzip);
    EXPECT_EQ(pick("zstd;q=0.1234, gzip;q=0.1"), Coding::gzip);
    EXPECT_EQ(pick("zstd;q=, gzip"), Coding::gzip);
    EXPECT_EQ(pick("zstd;level=3, gzip"), Coding::gzip);
    EXPECT_EQ(pick("zstd;q=.5, gzip"), Coding::gzip);
    EXPECT_EQ(pick("z std, gzip"), Coding::gzip);
    EXPECT_EQ(pick("zstd;q=0 5"), Coding::identity);
    EXPECT_EQ(pick(",,gzip,,"), Coding::gzip) << "empty list elements are allowed";
    EXPECT_EQ(pick(";;;,=,;q=1"), Coding::identity);
    EXPECT_EQ(pick(std::string(10000, ',') + "br"), Coding::br);
}

TEST(ContentCoding, NamesAndSuffixes) {
    EXPECT_EQ(coding_name(Coding::zstd), "zstd");
    EXPECT_EQ(coding_name(Coding::br), "br");
    EXPECT_EQ(coding_name(Coding::gzip), "gzip");
    EXPECT_EQ(coding_suffix(Coding::zstd), ".zst");
    EXPECT_EQ(coding_suffix(Coding::br), ".br");
    EXPECT_EQ(coding_suffix(Coding::gzip), ".gz");
}

}  // namespace
}  // namespace askr::http
