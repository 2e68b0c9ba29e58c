#include "http/h2/response_fields.hpp"

#include <gtest/gtest.h>

#include "http/h2/connection.hpp"

namespace askr::http::h2 {
namespace {

TEST(H2ResponseFields, LowerCasesNamesAndDropsConnectionSpecificFields) {
    ResponseFields f;
    f.assign(
        "Content-Type: text/html; charset=UTF-8\r\nConnection: keep-alive\r\nSet-Cookie: a=1\r\n"
        "Set-Cookie: b=2\r\nTransfer-Encoding: chunked\r\nX-Odd:\tvalue \r\nKeep-Alive: "
        "5\r\nUpgrade: h2c\r\n");
    ASSERT_EQ(f.fields().size(), 4u);
    EXPECT_EQ(f.fields()[0].name, "content-type");
    EXPECT_EQ(f.fields()[0].value, "text/html; charset=UTF-8");
    EXPECT_EQ(f.fields()[1].name, "set-cookie");
    EXPECT_EQ(f.fields()[2].value, "b=2");
    EXPECT_EQ(f.fields()[3].name, "x-odd");
    EXPECT_EQ(f.fields()[3].value, "value");
}

TEST(H2ResponseFields, IgnoresLinesWithoutANameAndReuses) {
    ResponseFields f;
    f.assign(": no name\r\nnot a field\r\nLocation: /a/\r\n");
    ASSERT_EQ(f.fields().size(), 1u);
    EXPECT_EQ(f.fields()[0].name, "location");
    f.assign("");
    EXPECT_TRUE(f.fields().empty());
    f.assign("A: 1");  // no final CRLF
    ASSERT_EQ(f.fields().size(), 1u);
    EXPECT_EQ(f.fields()[0].value, "1");
}

TEST(H2Preface, RecognisedByteByByte) {
    const std::string preface(client_preface);
    for (std::size_t n = 0; n <= preface.size(); ++n)
        EXPECT_TRUE(may_be_preface(preface.substr(0, n))) << n;
    EXPECT_TRUE(may_be_preface(preface + std::string("\x00\x00\x06\x04", 4)));
    EXPECT_FALSE(may_be_preface("GET / HTTP/1.1\r\n"));
    EXPECT_FALSE(may_be_preface("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"));
    EXPECT_FALSE(may_be_preface(std::string_view("P\x00", 2)));
}

}  // namespace
}  // namespace askr::http::h2
