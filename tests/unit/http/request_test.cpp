#include "http/request.hpp"

#include <gtest/gtest.h>

#include <string>

namespace askr::http {
namespace {

TEST(RequestBody, SmallBodiesStayInMemory) {
    Request r;
    ASSERT_TRUE(r.append_body("hello", 5, 16));
    ASSERT_TRUE(r.append_body(", world", 7, 16));
    EXPECT_FALSE(r.body_spooled());
    EXPECT_EQ(r.body_length(), 12u);
    char out[32] = {};
    EXPECT_EQ(r.read_body(7, out, sizeof out), 5u);
    EXPECT_EQ(std::string(out, 5), "world");
}

TEST(RequestBody, LargeBodiesMoveToATemporaryFileIntact) {
    Request r;
    std::string expected;
    for (int i = 0; i < 3000; ++i) {
        std::string piece = std::to_string(i) + ":" + std::string(1000, static_cast<char>('a' + i % 26)) + "\n";
        expected += piece;
        ASSERT_TRUE(r.append_body(piece.data(), piece.size(), 1 << 20));
    }
    EXPECT_TRUE(r.body_spooled());
    EXPECT_TRUE(r.body.empty()) << "the memory buffer is released once spooled";
    EXPECT_EQ(r.body_length(), expected.size());
    std::string read(expected.size(), '\0');
    std::uint64_t offset = 0;
    while (offset < expected.size()) {
        std::size_t n = r.read_body(offset, read.data() + offset, 65536);
        ASSERT_GT(n, 0u);
        offset += n;
    }
    EXPECT_EQ(read, expected);
    EXPECT_EQ(r.read_body(expected.size(), read.data(), 10), 0u);
    r.clear();
    EXPECT_FALSE(r.body_spooled());
    EXPECT_EQ(r.body_length(), 0u);
}

}  // namespace
}  // namespace askr::http
