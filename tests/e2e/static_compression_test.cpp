// Static files encoded for clients that ask: precompressed siblings served as they are,
// copies compressed once and kept, and what must stay identity (Range, other types, off).
// curl asks over HTTP/1.1 and HTTP/2 (h2c) and keeps the bytes as they came; the gzip,
// brotli and zstd tools decode them, and the result must equal the file.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "harness.hpp"

namespace askr::test {
namespace {

// An HTML page of `size` bytes, varied enough that the codings differ.
std::string html_page(std::size_t size, const std::string& salt = "") {
    std::string out = "<!doctype html><html><head><title>Static " + salt + "</title></head><body>\n";
    for (int i = 0; out.size() < size; ++i) {
        out += "<p class=\"r" + std::to_string(i % 7) + "\">row " + std::to_string(i) + " item " +
               std::to_string(i * 7919 % 10007) + salt + "</p>\n";
    }
    out.resize(size);
    return out;
}

// What curl received: the last head (names lower-cased) and the body's bytes as they came.
constexpr const char* h1 = "--http1.1";
constexpr const char* h2c = "--http2-prior-knowledge";

class StaticCompression : public ::testing::Test {
  protected:
    void SetUp() override {
        page = html_page(100 * 1024);
        root.write("page.html", page);
    }

    // curl -sS with `args`; the head and the body go to files.
    Fetched fetch(const std::string& url, const std::string& args) {
        return curl_fetch(url, args, scratch.path() + "/fetch" + std::to_string(count++));
    }

    Fetched fetch(const std::string& url, const std::string& protocol, const std::string& coding,
                  const std::string& more = "") {
        return fetch(url, protocol + " -H 'Accept-Encoding: " + coding + "' " + more);
    }

    // The body decoded by the real tool for `coding` ("" when it fails).
    std::string decode(const std::string& coding, const std::string& path) {
        const std::string tool = coding == "zstd" ? "zstd -dc " : coding == "br" ? "brotli -dc " : "gzip -dc ";
        return command_output(tool + path + " 2>/dev/null");
    }

    // `file` compressed by a real tool into `file` + its suffix, at settings Askr never uses.
    void precompress(const std::string& file) {
        const std::string path = root.path() + "/" + file;
        command_output("gzip -1 -n -k -f " + path + " && brotli -q 11 -k -f " + path +
                       " && zstd -q -19 -k -f " + path + " 2>&1");
    }

    TempDir root;
    TempDir scratch;
    std::string page;
    int count = 0;
};

TEST_F(StaticCompression, CopiesDecodeToTheFileOverBothProtocols) {
    Server server(root.path());
    for (const std::string protocol : {h1, h2c}) {
        std::map<std::string, std::string> etags;
        for (const std::string coding : {"zstd", "br", "gzip"}) {
            SCOPED_TRACE(protocol + " " + coding);
            for (int again = 0; again < 2; ++again) {  // made, then kept
                auto r = fetch(server.url("/page.html"), protocol, coding);
                ASSERT_EQ(r.status, 200);
                EXPECT_EQ(r.http_version, protocol == h2c ? "2" : "1.1");
                EXPECT_EQ(r.header("content-encoding"), coding);
                EXPECT_EQ(r.header("content-type"), "text/html");
                EXPECT_EQ(r.header("vary"), "Accept-Encoding");
                EXPECT_EQ(r.header("content-length"), std::to_string(r.body.size()));
                EXPECT_FALSE(r.has("accept-ranges")) << "no range of the encoded bytes is served";
                EXPECT_LT(r.body.size(), page.size() / 3);
                EXPECT_TRUE(decode(coding, r.body_path) == page) << "decoded bytes differ";
                etags[coding] = r.header("etag");
            }
        }
        auto identity = fetch(server.url("/page.html"), protocol);
        EXPECT_EQ(identity.status, 200);
        EXPECT_FALSE(identity.has("content-encoding"));
        EXPECT_EQ(identity.header("vary"), "Accept-Encoding") << "the identity answer varies too";
        EXPECT_EQ(identity.header("accept-ranges"), "bytes");
        EXPECT_TRUE(identity.body == page);
        etags["identity"] = identity.header("etag");
        std::set<std::string> distinct;
        for (const auto& [coding, etag] : etags) distinct.insert(etag);
        EXPECT_EQ(distinct.size(), 4u) << "one ETag per coding and one for the file";
        // A browser's field: the server's preference among equal weights; curl decodes.
        auto browser = fetch(server.url("/page.html"), protocol, "gzip, deflate, br, zstd");
        EXPECT_EQ(browser.header("content-encoding"), "zstd");
        auto weighted = fetch(server.url("/page.html"), protocol, "zstd;q=0.5, br;q=0.9, gzip");
        EXPECT_EQ(weighted.header("content-encoding"), "gzip");
        auto decoded = fetch(server.url("/page.html"), protocol + " --compressed");
        EXPECT_FALSE(decoded.header("content-encoding").empty());
        EXPECT_TRUE(decoded.body == page);
    }
}

TEST_F(StaticCompression, PrecompressedSiblingIsServedAsItIs) {
    root.write("pre.html", page);
    precompress("pre.html");
    Server server(root.path());
    const std::map<std::string, std::string> suffix{{"gzip", ".gz"}, {"br", ".br"}, {"zstd", ".zst"}};
    for (const std::string protocol : {h1, h2c}) {
        std::set<std::string> etags;
        for (const auto& [coding, ext] : suffix) {
            SCOPED_TRACE(protocol + " " + coding);
            const std::string sibling = slurp(root.path() + "/pre.html" + ext);
            ASSERT_FALSE(sibling.empty());
            auto r = fetch(server.url("/pre.html"), protocol, coding);
            ASSERT_EQ(r.status, 200);
            EXPECT_EQ(r.header("content-encoding"), coding);
            EXPECT_EQ(r.header("content-type"), "text/html");
            EXPECT_EQ(r.header("vary"), "Accept-Encoding");
            EXPECT_EQ(r.header("content-length"), std::to_string(sibling.size()));
            EXPECT_TRUE(r.body == sibling) << "the sibling's bytes, as they are";
            // Askr's own copy at its own level would differ: the sibling really was used.
            auto copy = fetch(server.url("/page.html"), protocol, coding);
            EXPECT_FALSE(copy.body == sibling);
            EXPECT_TRUE(decode(coding, r.body_path) == page);
            EXPECT_EQ(r.header("etag").rfind("W/", 0), std::string::npos) << "strong: bytes on disk";
            etags.insert(r.header("etag"));
        }
        EXPECT_EQ(etags.size(), 3u);
        // Asked for by name, a sibling is a plain file of its own type.
        auto direct = fetch(server.url("/pre.html.gz"), protocol, "gzip");
        EXPECT_EQ(direct.status, 200);
        EXPECT_EQ(direct.header("content-type"), "application/gzip");
        EXPECT_FALSE(direct.has("content-encoding"));
        EXPECT_FALSE(direct.has("vary"));
        EXPECT_TRUE(direct.body == slurp(root.path() + "/pre.html.gz"));
    }
}

TEST_F(StaticCompression, LargeSiblingGoesBySendfileAndLargeFileWithoutOneAsItIs) {
    const std::string big = html_page(3 << 20, "big");  // above static_max_size (1 MiB)
    root.write("big.html", big);
    root.write("bare.html", big);
    command_output("gzip -1 -n -k " + root.path() + "/big.html");
    const std::string sibling = slurp(root.path() + "/big.html.gz");
    ASSERT_GT(sibling.size(), 64u * 1024) << "larger than what is kept in memory";
    Server server(root.path());
    for (const std::string protocol : {h1, h2c}) {
        SCOPED_TRACE(protocol);
        auto r = fetch(server.url("/big.html"), protocol, "gzip, br");
        EXPECT_EQ(r.header("content-encoding"), "gzip") << "the only sibling present";
        EXPECT_TRUE(r.body == sibling);
        auto bare = fetch(server.url("/bare.html"), protocol, "gzip, br");
        EXPECT_FALSE(bare.has("content-encoding"));
        EXPECT_EQ(bare.header("vary"), "Accept-Encoding");
        EXPECT_TRUE(bare.body == big);
    }
}

TEST_F(StaticCompression, StaleSiblingIsIgnored) {
    root.write("pre.html", page);
    precompress("pre.html");
    command_output("touch -d '2020-01-01' " + root.path() + "/pre.html.gz");
    Server server(root.path());
    auto r = fetch(server.url("/pre.html"), h1, "gzip");
    EXPECT_EQ(r.header("content-encoding"), "gzip");
    EXPECT_FALSE(r.body == slurp(root.path() + "/pre.html.gz")) << "an older sibling was served";
    EXPECT_TRUE(decode("gzip", r.body_path) == page);
    auto br = fetch(server.url("/pre.html"), h1, "br");
    EXPECT_TRUE(br.body == slurp(root.path() + "/pre.html.br")) << "the fresh ones still are";
    // With copies off, only a fresh sibling is offered.
    Server siblings_only(root.path(), {"--compression-static-max-size", "0"});
    auto none = fetch(siblings_only.url("/pre.html"), h1, "gzip");
    EXPECT_FALSE(none.has("content-encoding"));
    EXPECT_TRUE(none.body == page);
}

TEST_F(StaticCompression, RangeGetsTheIdentityFile) {
    Server server(root.path());
    for (const std::string protocol : {h1, h2c}) {
        SCOPED_TRACE(protocol);
        auto part = fetch(server.url("/page.html"), protocol, "gzip", "-H 'Range: bytes=100-199'");
        EXPECT_EQ(part.status, 206);
        EXPECT_FALSE(part.has("content-encoding"));
        EXPECT_EQ(part.header("content-range"), "bytes 100-199/" + std::to_string(page.size()));
        EXPECT_EQ(part.header("accept-ranges"), "bytes");
        EXPECT_EQ(part.header("vary"), "Accept-Encoding");
        EXPECT_EQ(part.body, page.substr(100, 100));
        auto beyond = fetch(server.url("/page.html"), protocol, "gzip", "-H 'Range: bytes=999999-'");
        EXPECT_EQ(beyond.status, 416);
        // If-Range naming the encoded variant does not match the file: the whole, encoded.
        auto encoded = fetch(server.url("/page.html"), protocol, "gzip");
        auto resumed = fetch(server.url("/page.html"), protocol, "gzip",
                             "-H 'Range: bytes=100-199' -H 'If-Range: " + encoded.header("etag") + "'");
        EXPECT_EQ(resumed.status, 200);
        EXPECT_EQ(resumed.header("content-encoding"), "gzip");
        EXPECT_TRUE(resumed.body == encoded.body);
    }
    Server plain(root.path(), {"--no-compression"});
    auto part = fetch(plain.url("/page.html"), h1, "gzip", "-H 'Range: bytes=0-9'");
    EXPECT_EQ(part.status, 206);
    EXPECT_EQ(part.body, page.substr(0, 10));
    EXPECT_FALSE(part.has("vary"));
}

TEST_F(StaticCompression, HeadDescribesTheEncodedAnswer) {
    root.write("pre.html", page);
    precompress("pre.html");
    Server server(root.path());
    for (const std::string protocol : {h1, h2c}) {
        for (const std::string file : {"/page.html", "/pre.html"}) {
            SCOPED_TRACE(protocol + " " + file);
            auto head = fetch(server.url(file), protocol + " -I", "br");
            auto get = fetch(server.url(file), protocol, "br");
            EXPECT_EQ(head.status, 200);
            EXPECT_EQ(head.header("content-encoding"), "br");
            EXPECT_EQ(head.header("content-length"), std::to_string(get.body.size()));
            EXPECT_EQ(head.header("etag"), get.header("etag"));
            EXPECT_EQ(head.header("vary"), "Accept-Encoding");
            // curl -I writes the head where the body would go: nothing may follow it.
            const auto end = head.body.find("\r\n\r\n");
            EXPECT_EQ(end + 4, head.body.size()) << "a body after the head";
        }
    }
}

TEST_F(StaticCompression, NotModifiedForTheEncodedEtag) {
    root.write("pre.html", page);
    precompress("pre.html");
    Server server(root.path());
    for (const std::string protocol : {h1, h2c}) {
        for (const std::string file : {"/page.html", "/pre.html"}) {
            SCOPED_TRACE(protocol + " " + file);
            auto first = fetch(server.url(file), protocol, "gzip");
            const std::string etag = first.header("etag");
            ASSERT_FALSE(etag.empty());
            auto again = fetch(server.url(file), protocol, "gzip", "-H 'If-None-Match: " + etag + "'");
            EXPECT_EQ(again.status, 304);
            EXPECT_EQ(again.header("etag"), etag);
            EXPECT_EQ(again.header("vary"), "Accept-Encoding");
            // Another coding, or none, is another representation: sent whole.
            auto other = fetch(server.url(file), protocol, "zstd", "-H 'If-None-Match: " + etag + "'");
            EXPECT_EQ(other.status, 200);
            EXPECT_EQ(other.header("content-encoding"), "zstd");
            auto plain = fetch(server.url(file), protocol + " -H 'If-None-Match: " + etag + "'");
            EXPECT_EQ(plain.status, 200);
            EXPECT_TRUE(plain.body == page);
        }
    }
}

TEST_F(StaticCompression, WhatMustNotBeCompressedIsNot) {
    root.write("image.png", page);     // a type not in the list
    root.write("small.css", "body { color: red }\n");  // below min_size
    root.write("pre.html", page);
    precompress("pre.html");
    Server server(root.path());
    const std::string all = "zstd, br, gzip";
    auto image = fetch(server.url("/image.png"), h1, all);
    EXPECT_FALSE(image.has("content-encoding"));
    EXPECT_FALSE(image.has("vary"));
    EXPECT_TRUE(image.body == page);
    auto small = fetch(server.url("/small.css"), h1, all);
    EXPECT_FALSE(small.has("content-encoding"));
    EXPECT_EQ(small.header("vary"), "Accept-Encoding");
    EXPECT_EQ(small.body, "body { color: red }\n");
    auto refused = fetch(server.url("/page.html"), h1, "gzip;q=0, identity");
    EXPECT_FALSE(refused.has("content-encoding"));
    EXPECT_TRUE(refused.body == page);

    Server off(root.path(), {"--no-compression"});
    for (const std::string file : {"/page.html", "/pre.html"}) {
        auto r = fetch(off.url(file), h1, all);
        EXPECT_FALSE(r.has("content-encoding")) << file;
        EXPECT_FALSE(r.has("vary")) << file;
        EXPECT_TRUE(r.body == page) << file;
    }
    Server no_memory(root.path(), {"--compression-static-memory", "0"});
    auto kept_nowhere = fetch(no_memory.url("/page.html"), h1, "gzip");
    EXPECT_FALSE(kept_nowhere.has("content-encoding"));
    EXPECT_TRUE(kept_nowhere.body == page);
}

TEST_F(StaticCompression, ChangedFileIsCompressedAgain) {
    root.write("pre.html", page);
    Server server(root.path());
    for (const std::string coding : {"gzip", "br"}) {
        auto before = fetch(server.url("/page.html"), h1, coding);
        EXPECT_TRUE(decode(coding, before.body_path) == page);
    }
    const std::string changed = html_page(90 * 1024, "changed");
    root.write("page.html", changed);
    // A sibling appears: used once the cache revalidates the file.
    command_output("gzip -1 -n -k " + root.path() + "/pre.html");
    std::this_thread::sleep_for(std::chrono::milliseconds(1300));  // the file cache's validity
    for (const std::string coding : {"gzip", "br"}) {
        auto after = fetch(server.url("/page.html"), h1, coding);
        EXPECT_EQ(after.header("content-encoding"), coding);
        EXPECT_TRUE(decode(coding, after.body_path) == changed) << "a stale copy was served";
    }
    auto sibling = fetch(server.url("/pre.html"), h1, "gzip");
    EXPECT_TRUE(sibling.body == slurp(root.path() + "/pre.html.gz"));
}

TEST_F(StaticCompression, SymlinkedSiblingOutsideTheRootIsNotServed) {
    TempDir outside;
    outside.write("secret.html", html_page(100 * 1024, "secret"));
    command_output("gzip -1 -n -k " + outside.path() + "/secret.html");
    command_output("ln -s " + outside.path() + "/secret.html.gz " + root.path() + "/page.html.gz");
    root.write("inside.html", page);
    command_output("gzip -1 -n -k " + root.path() + "/inside.html && mv " + root.path() +
                   "/inside.html.gz " + root.path() + "/real.gz && ln -s real.gz " + root.path() +
                   "/inside.html.gz");
    Server server(root.path(), {"--symlinks", "inside-root"});
    for (const std::string protocol : {h1, h2c}) {
        SCOPED_TRACE(protocol);
        auto r = fetch(server.url("/page.html"), protocol, "gzip");
        EXPECT_EQ(r.header("content-encoding"), "gzip");
        EXPECT_FALSE(r.body == slurp(outside.path() + "/secret.html.gz"));
        EXPECT_TRUE(decode("gzip", r.body_path) == page) << "the outside file was served";
        EXPECT_EQ(fetch(server.url("/page.html.gz"), protocol).status, 403);
        // A symlink that stays inside the root is fine.
        auto in = fetch(server.url("/inside.html"), protocol, "gzip");
        EXPECT_TRUE(in.body == slurp(root.path() + "/real.gz"));
    }
}

}  // namespace
}  // namespace askr::test
