#include "http/fields.hpp"

#include <gtest/gtest.h>

#include "http/h2/connection.hpp"

namespace askr::http {
namespace {

TEST(Fields, KeepOrderAndSpellingAndFindAnyCase) {
    Fields f;
    f.add("Content-Type", "text/html; charset=UTF-8");
    f.add("Set-Cookie", "a=1");
    f.add("Set-Cookie", "b=2");
    ASSERT_EQ(f.size(), 3u);
    EXPECT_EQ(f.name(0), "Content-Type");
    EXPECT_EQ(f.value(2), "b=2");
    EXPECT_EQ(f.get("content-type"), "text/html; charset=UTF-8");
    EXPECT_EQ(f.get("SET-COOKIE"), "a=1") << "the first of several";
    EXPECT_TRUE(f.has("set-cookie"));
    EXPECT_FALSE(f.has("location"));
    EXPECT_EQ(f.get("location"), "");
}

TEST(Fields, RemoveTakesEveryFieldOfThatNameAndKeepsTheOthers) {
    Fields f;
    f.add("A", "1");
    f.add("X-Sendfile", "/f");
    f.add("B", "2");
    f.add("x-sendfile", "/g");
    EXPECT_EQ(f.remove("X-SENDFILE"), 2u);
    ASSERT_EQ(f.size(), 2u);
    EXPECT_EQ(f.name(0), "A");
    EXPECT_EQ(f.value(1), "2");
    EXPECT_EQ(f.remove("nothing"), 0u);
}

TEST(Fields, ClearAndSwapReuseBuffers) {
    Fields a;
    Fields b;
    a.add("Location", "/a/");
    a.swap(b);
    EXPECT_TRUE(a.empty());
    ASSERT_EQ(b.size(), 1u);
    EXPECT_EQ(b.get("location"), "/a/");
    b.clear();
    EXPECT_TRUE(b.empty());
    b.add("A", "1");
    EXPECT_EQ(b.value(0), "1");
}

TEST(Fields, ProtocolOwnedFieldsAreTheConnectionSpecificOnesAndContentLength) {
    for (const char* name : {"Connection", "keep-alive", "Proxy-Connection", "TRANSFER-ENCODING",
                             "Upgrade", "Content-Length"}) {
        EXPECT_TRUE(is_protocol_owned(name)) << name;
    }
    for (const char* name : {"Content-Type", "Set-Cookie", "Location", "Connections",
                             "Upgrade-Insecure-Requests", "", "Te"}) {
        EXPECT_FALSE(is_protocol_owned(name)) << name;
    }
}

TEST(Fields, ValidHostIsAHostAndAnOptionalPort) {
    for (const char* good : {"example.com", "a-b.c_d", "127.0.0.1", "x:80", "x:65535", "x:",
                             "[::1]", "[::1]:8080", "[::ffff:10.0.0.1]"}) {
        EXPECT_TRUE(is_valid_host(good)) << good;
    }
    for (const char* bad : {"", "x:abc", "a.b.c:80:90", "x:99999", "x:123456", ":80", "[::1",
                            "[::1]x", "[]", "[g::1]", "u@x", "x/y", "x y", "x\r"}) {
        EXPECT_FALSE(is_valid_host(bad)) << bad;
    }
}

TEST(H2Preface, RecognisedByteByByte) {
    const std::string preface(h2::client_preface);
    for (std::size_t n = 0; n <= preface.size(); ++n)
        EXPECT_TRUE(h2::may_be_preface(preface.substr(0, n))) << n;
    EXPECT_TRUE(h2::may_be_preface(preface + std::string("\x00\x00\x06\x04", 4)));
    EXPECT_FALSE(h2::may_be_preface("GET / HTTP/1.1\r\n"));
    EXPECT_FALSE(h2::may_be_preface("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"));
    EXPECT_FALSE(h2::may_be_preface(std::string_view("P\x00", 2)));
}

}  // namespace
}  // namespace askr::http
