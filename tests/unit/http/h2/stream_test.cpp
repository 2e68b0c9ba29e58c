#include "http/h2/stream.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

namespace askr::http::h2 {
namespace {

struct H2Stream : ::testing::Test {
    boost::asio::io_context io;
    worker::Completions completions{io};
    Stream stream{1, std::make_unique<worker::Exchange>(io, completions, -1)};

    // Reads the whole body `chunk` bytes at a time, as nghttp2 asks for it.
    std::string drain(std::size_t chunk, bool& eof) {
        std::string out;
        char buffer[64];
        eof = false;
        while (!eof) {
            const long n = stream.read_body(buffer, std::min(chunk, sizeof buffer), eof);
            if (n <= 0 && !eof) break;
            out.append(buffer, static_cast<std::size_t>(n));
        }
        return out;
    }
};

TEST_F(H2Stream, InMemoryFileRangeIsSentFromItsStart) {
    // prepare_file_response() gives the range itself as inline_body, offset in the file.
    const std::string content = "0123456789abcdef";
    stream.kind = Stream::Kind::file;
    stream.file.inline_body = std::string_view(content).substr(6, 4);
    stream.file.offset = 6;
    stream.file.length = 4;
    stream.file_offset = 6;
    stream.file_remaining = 4;
    stream.sending = true;
    for (std::size_t chunk : {std::size_t{1}, std::size_t{3}, std::size_t{64}}) {
        stream.file_offset = 6;
        stream.file_remaining = 4;
        bool eof = false;
        EXPECT_EQ(drain(chunk, eof), "6789") << chunk;
        EXPECT_TRUE(eof);
        EXPECT_EQ(stream.pending_bytes(), 0u);
    }
}

TEST_F(H2Stream, PhpOutputEndsOnlyWhenThePhpResponseIsComplete) {
    stream.kind = Stream::Kind::php;
    stream.sending = true;
    std::string taken = "hello ";
    stream.append_output(taken, *stream.exchange);
    EXPECT_TRUE(taken.empty());
    EXPECT_EQ(stream.pending_bytes(), 6u);
    bool eof = true;
    EXPECT_EQ(drain(4, eof), "hello ");
    EXPECT_FALSE(eof) << "more output may come";
    char buffer[8];
    EXPECT_EQ(stream.read_body(buffer, sizeof buffer, eof), 0)
        << "nothing ready: the caller defers";
    EXPECT_FALSE(eof);
    taken = "world";
    stream.append_output(taken, *stream.exchange);
    stream.php_complete = true;
    EXPECT_EQ(drain(2, eof), "world");
    EXPECT_TRUE(eof);
}

TEST_F(H2Stream, DiscardedBodiesAreNotKept) {
    stream.kind = Stream::Kind::php;
    stream.discard_body = true;  // HEAD, 204, 304
    std::string taken(1000, 'x');
    stream.append_output(taken, *stream.exchange);
    EXPECT_TRUE(taken.empty());
    EXPECT_TRUE(stream.body.empty());
}

TEST_F(H2Stream, SimpleBodyNamesTheStatus) {
    stream.set_simple_body(431);
    EXPECT_NE(stream.body.find("431 Request Header Fields Too Large"), std::string::npos)
        << stream.body;
}

}  // namespace
}  // namespace askr::http::h2
