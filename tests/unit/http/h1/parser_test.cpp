// The HTTP/1 parser, fed whole and in every slice size down to one byte: a request may
// arrive split anywhere.
#include "http/h1/parser.hpp"

#include <gtest/gtest.h>

#include <string>

namespace askr::http::h1 {
namespace {

struct Outcome {
    Parser::Status status;
    int error = 0;
    std::size_t consumed = 0;
};

// Feeds `input` in slices of `slice` bytes, answering 100-continue as a server would.
Outcome parse(const std::string& input, Request& request, std::size_t slice,
              const Limits& limits = {}) {
    Parser parser(limits);
    parser.start(request);
    std::size_t offset = 0;
    while (offset < input.size()) {
        std::size_t length = std::min(slice, input.size() - offset);
        auto result = parser.feed(input.data() + offset, length);
        offset += result.consumed;
        if (result.status == Parser::Status::expect_continue) {
            parser.continue_after_expect();
            continue;
        }
        if (result.status == Parser::Status::complete) return {result.status, 0, offset};
        if (result.status == Parser::Status::error)
            return {result.status, parser.error_status(), offset};
    }
    return {Parser::Status::need_more, 0, offset};
}

class EverySlice : public ::testing::TestWithParam<std::size_t> {};

TEST_P(EverySlice, ParsesAGetWithHeaders) {
    Request r;
    auto out = parse(
        "GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: t\r\n"
        "X-Mixed-Case: Value  \r\n\r\n",
        r, GetParam());
    ASSERT_EQ(out.status, Parser::Status::complete);
    EXPECT_EQ(r.method, "GET");
    EXPECT_EQ(r.target, "/a/b?x=1&y=2");
    EXPECT_EQ(r.path(), "/a/b");
    EXPECT_EQ(r.query(), "x=1&y=2");
    EXPECT_EQ(r.header("host"), "example.com:8080");
    EXPECT_EQ(r.header("x-mixed-case"), "Value");
    EXPECT_EQ(r.header_count(), 3u);
    EXPECT_TRUE(r.keep_alive);
    EXPECT_EQ(r.protocol(), "HTTP/1.1");
}

TEST_P(EverySlice, ParsesAChunkedBody) {
    Request r;
    auto out = parse(
        "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nTrailer: x\r\n\r\n",
        r, GetParam());
    ASSERT_EQ(out.status, Parser::Status::complete);
    EXPECT_EQ(r.body, "hello, world");
}

TEST_P(EverySlice, ParsesAContentLengthBodyAndStopsAtTheNextRequest) {
    Request r;
    const std::string first = "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nabcde";
    auto out = parse(first + "GET /next HTTP/1.1\r\nHost: h\r\n\r\n", r, GetParam());
    ASSERT_EQ(out.status, Parser::Status::complete);
    EXPECT_EQ(r.body, "abcde");
    EXPECT_EQ(out.consumed, first.size());  // the pipelined request is left for later
}

TEST_P(EverySlice, RejectsOversizedChunkedBody) {
    Request r;
    Limits limits;
    limits.max_body_bytes = 8;
    auto out = parse(
        "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n",
        r, GetParam(), limits);
    EXPECT_EQ(out.status, Parser::Status::error);
    EXPECT_EQ(out.error, 413);
}

INSTANTIATE_TEST_SUITE_P(Slices, EverySlice, ::testing::Values(1, 2, 3, 7, 64, 100000));

struct BadCase {
    const char* name;
    std::string input;
    int status;
};

class BadRequests : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadRequests, AnswerWithTheRightStatus) {
    for (std::size_t slice : {std::size_t{1}, std::size_t{100000}}) {
        Request r;
        Limits limits;
        limits.max_body_bytes = 100;
        limits.max_target_bytes = 64;
        limits.max_header_bytes = 256;
        limits.max_header_count = 5;
        auto out = parse(GetParam().input, r, slice, limits);
        EXPECT_EQ(out.status, Parser::Status::error) << GetParam().name << " slice " << slice;
        EXPECT_EQ(out.error, GetParam().status) << GetParam().name << " slice " << slice;
    }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadRequests,
    ::testing::Values(
        BadCase{"unknown_upper_case_method", "HELLO / HTTP/1.1\r\nHost: a\r\n\r\n", 501},
        BadCase{"unknown_lower_case_method", "hello / HTTP/1.1\r\nHost: a\r\n\r\n", 501},
        BadCase{"method_alone", "HELLO\r\n\r\n", 400},
        BadCase{"method_not_a_token", "G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        BadCase{"connect", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 501},
        BadCase{"absolute_form_with_userinfo", "GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        BadCase{"host_port_too_large", "GET / HTTP/1.1\r\nHost: a:65536\r\n\r\n", 400},
        BadCase{"no_host_11", "GET / HTTP/1.1\r\n\r\n", 400},
        BadCase{"two_hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
        BadCase{"bad_host", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
        BadCase{
            "cl_and_te",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            400},
        BadCase{"te_gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
        BadCase{"te_gzip_chunked",
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
        BadCase{"two_cl",
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
                400},
        BadCase{"cl_too_big", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n", 413},
        BadCase{"target_too_long", "GET /" + std::string(100, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n",
                414},
        BadCase{"headers_too_large",
                "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(300, 'v') + "\r\n\r\n", 431},
        BadCase{"too_many_headers",
                "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\n\r\n", 431},
        BadCase{"control_char", std::string("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01") + "b\r\n\r\n",
                400},
        BadCase{"bad_header_name", "GET / HTTP/1.1\r\nHost: a\r\nX Y: 1\r\n\r\n", 400},
        BadCase{"bad_chunk_size",
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
        BadCase{
            "no_crlf_after_chunk_data",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
            400},
        BadCase{"bare_cr_after_chunk_size",
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
                "chunked\r\n\r\n5\rXhello\r\n0\r\n\r\n",
                400},
        BadCase{
            "chunk_size_overflow",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n11111111111111111\r\n",
            400},
        BadCase{"lowercase_garbage", "this is not http\r\n\r\n", 400},
        BadCase{"tls_on_plain_port", std::string("\x16\x03\x01\x02\x00\x01", 6), 400},
        BadCase{"unknown_method", "FOO / HTTP/1.1\r\nHost: a\r\n\r\n", 501}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(H1Parser, Http10ClosesUnlessKeepAliveAsked) {
    Request r;
    ASSERT_EQ(parse("GET / HTTP/1.0\r\n\r\n", r, 1000).status, Parser::Status::complete);
    EXPECT_FALSE(r.keep_alive);
    EXPECT_EQ(r.protocol(), "HTTP/1.0");
    ASSERT_EQ(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", r, 1000).status,
              Parser::Status::complete);
    EXPECT_TRUE(r.keep_alive);
}

TEST(H1Parser, ConnectionCloseEndsKeepAlive) {
    Request r;
    ASSERT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", r, 1000).status,
              Parser::Status::complete);
    EXPECT_FALSE(r.keep_alive);
}

TEST(H1Parser, AbsoluteFormKeepsThePath) {
    Request r;
    ASSERT_EQ(
        parse("GET http://example.com/x?y=1 HTTP/1.1\r\nHost: example.com\r\n\r\n", r, 1000).status,
        Parser::Status::complete);
    EXPECT_EQ(r.target, "/x?y=1");
}

TEST(H1Parser, AsksForContinueBeforeTheBody) {
    Request r;
    Parser parser(Limits{});
    parser.start(r);
    std::string head =
        "PUT /u HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n";
    std::string input = head + "abc";
    auto result = parser.feed(input.data(), head.size());
    EXPECT_EQ(result.status, Parser::Status::expect_continue);
    // The parser may stop before the last byte of the head: the rest is fed again.
    std::size_t offset = result.consumed;
    parser.continue_after_expect();
    result = parser.feed(input.data() + offset, input.size() - offset);
    EXPECT_EQ(result.status, Parser::Status::complete);
    EXPECT_EQ(r.body, "abc");
}

TEST(H1Parser, EofInTheMiddleIsAnError) {
    Request r;
    Parser parser(Limits{});
    parser.start(r);
    std::string partial = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc";
    parser.feed(partial.data(), partial.size());
    EXPECT_EQ(parser.finish().status, Parser::Status::error);
}

}  // namespace
}  // namespace askr::http::h1
