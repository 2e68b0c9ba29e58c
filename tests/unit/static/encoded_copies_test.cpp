// EncodedCopies: one compression per file version and coding, a byte budget with the
// least recently used copies out, and "as it is" remembered for incompressible files.
#include "static/encoded_copies.hpp"

#include <gtest/gtest.h>

#include "static/file_cache.hpp"

namespace askr::static_files {
namespace {

using http::Coding;

CachedFile text_file(const std::string& path, std::size_t size, std::int64_t mtime_ns = 1) {
    CachedFile file;
    file.path = path;
    for (std::size_t i = 0; file.content.size() < size; ++i)
        file.content += "<li>line " + std::to_string(i % 97) + "</li>\n";
    file.content.resize(size);
    file.size = size;
    file.mtime_ns = mtime_ns;
    file.etag = "\"5-" + std::to_string(size) + "\"";
    file.inline_content = true;
    return file;
}

TEST(EncodedCopies, KeptPerVersionAndCoding) {
    EncodedCopies copies(1 << 20);
    const CachedFile file = text_file("/a.html", 20000);
    auto gzip = copies.get(file, Coding::gzip, 5);
    ASSERT_TRUE(gzip);
    EXPECT_LT(gzip->bytes.size(), file.size);
    EXPECT_EQ(gzip->etag, "W/\"5-20000-gzip\"");
    EXPECT_EQ(copies.get(file, Coding::gzip, 5), gzip) << "the same copy, not made again";
    auto zstd = copies.get(file, Coding::zstd, 3);
    ASSERT_TRUE(zstd);
    EXPECT_NE(zstd, gzip);
    EXPECT_EQ(zstd->etag, "W/\"5-20000-zstd\"");
    const CachedFile changed = text_file("/a.html", 20000, 2);  // same size, newer mtime
    auto remade = copies.get(changed, Coding::gzip, 5);
    ASSERT_TRUE(remade);
    EXPECT_NE(remade, gzip) << "a copy of the old version was reused";
}

TEST(EncodedCopies, BudgetEvictsTheLeastRecentlyUsed) {
    const CachedFile a = text_file("/a.html", 50000), b = text_file("/b.html", 50000),
                     c = text_file("/c.html", 50000);
    EncodedCopies probe(1 << 20);
    const auto one = probe.get(a, Coding::gzip, 5)->bytes.size() + 256 + a.path.size();
    EncodedCopies copies(2 * one + one / 2);  // room for two
    auto first = copies.get(a, Coding::gzip, 5);
    copies.get(b, Coding::gzip, 5);
    EXPECT_EQ(copies.get(a, Coding::gzip, 5), first);  // a is now the most recent
    copies.get(c, Coding::gzip, 5);                    // b goes
    EXPECT_LE(copies.used(), 2 * one + one / 2);
    EXPECT_EQ(copies.get(a, Coding::gzip, 5), first) << "the recently used copy went";
    EncodedCopies none(0);
    EXPECT_FALSE(none.get(a, Coding::gzip, 5));
    EncodedCopies tiny(100);
    EXPECT_FALSE(tiny.get(a, Coding::gzip, 5)) << "larger than the whole budget";
    EXPECT_EQ(tiny.used(), 0u);
}

TEST(EncodedCopies, IncompressibleFileGoesAsItIs) {
    CachedFile noise = text_file("/n.txt", 4096);
    std::uint32_t x = 12345;
    for (auto& c : noise.content) {
        x = x * 1103515245 + 12345;
        c = static_cast<char>(x >> 24);
    }
    EncodedCopies copies(1 << 20);
    EXPECT_FALSE(copies.get(noise, Coding::gzip, 5));
    EXPECT_GT(copies.used(), 0u) << "the decision is remembered";
    EXPECT_FALSE(copies.get(noise, Coding::gzip, 5));
}

}  // namespace
}  // namespace askr::static_files
