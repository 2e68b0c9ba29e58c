// Response compression with real clients and real decoders: curl asks over HTTP/1.1 and
// HTTP/2 (h2c) with an Accept-Encoding of its choice and keeps the encoded bytes; the
// zstd, brotli and gzip tools decode them, and the result must equal what the script or
// the file holds.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "harness.hpp"

namespace askr::test {
namespace {

// An HTML page of `size` bytes, varied enough that the codings differ.
std::string html_page(std::size_t size) {
    std::string out = "<!doctype html><html><head><title>Rows</title></head><body><table>\n";
    for (int i = 0; out.size() < size; ++i) {
        out += "<tr class=\"r" + std::to_string(i % 7) + "\"><td>" + std::to_string(i) +
               "</td><td>item " + std::to_string(i * 7919 % 10007) + "</td></tr>\n";
    }
    out.resize(size);
    return out;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// What curl received: status line and headers (names lower-cased) and the body's bytes
// as they came (curl does not decode them without --compressed).
class Compression : public ::testing::Test {
  protected:
    void SetUp() override {
        page = html_page(100 * 1024);
        root.write("page.html.src", page);
        // The page from PHP, whole (one send) and a script that sets its own coding.
        root.write("page.php", "<?php readfile(__DIR__ . '/page.html.src');");
        root.write("json.php",
                   "<?php header('Content-Type: application/json'); readfile(__DIR__ . "
                   "'/page.html.src');");
        root.write("png.php",
                   "<?php header('Content-Type: image/png'); readfile(__DIR__ . "
                   "'/page.html.src');");
        root.write("small.php", "<?php echo 'hello';");
        root.write("own.php", R"(<?php
            header('Content-Encoding: gzip');
            echo gzencode(file_get_contents(__DIR__ . '/page.html.src'));)");
        root.write("etag.php", R"(<?php
            header('ETag: "v7"');
            header('Vary: Cookie');
            readfile(__DIR__ . '/page.html.src');)");
    }

    // curl -sS with `args`; the head and the body go to files.
    Fetched fetch(const std::string& url, const std::string& args) {
        return curl_fetch(url, args, scratch.path() + "/fetch" + std::to_string(count++));
    }

    // The body decoded by the real tool for `coding` ("" when it fails).
    std::string decode(const std::string& coding, const std::string& path) {
        const std::string tool = coding == "zstd" ? "zstd -dc " : coding == "br" ? "brotli -dc " : "gzip -dc ";
        return command_output(tool + path + " 2>/dev/null");
    }

    TempDir root;
    TempDir scratch;
    std::string page;
    int count = 0;
};

constexpr const char* h2c = "--http2-prior-knowledge";

TEST_F(Compression, PhpPageIsEncodedInTheCodingAskedForOverBothProtocols) {
    Server server(root.path());
    for (const std::string protocol : {"--http1.1", h2c}) {
        for (const std::string coding : {"zstd", "br", "gzip"}) {
            SCOPED_TRACE(protocol + " " + coding);
            auto r = fetch(server.url("/page.php"),
                           protocol + " -H 'Accept-Encoding: " + coding + "'");
            ASSERT_EQ(r.status, 200);
            EXPECT_EQ(r.http_version, protocol == h2c ? "2" : "1.1");
            EXPECT_EQ(r.header("content-encoding"), coding);
            EXPECT_EQ(r.header("vary"), "Accept-Encoding");
            // Chunked (or DATA until END_STREAM) unless the whole body came in one piece.
            const auto length = r.header("content-length");
            EXPECT_TRUE(length.empty() || length == std::to_string(r.body.size()));
            EXPECT_LT(r.body.size(), page.size() / 3);
            EXPECT_TRUE(decode(coding, r.body_path) == page) << "decoded bytes differ";
        }
        // A browser's field: the server's preference among equal weights.
        auto browser = fetch(server.url("/page.php"), protocol + " -H 'Accept-Encoding: gzip, deflate, br, zstd'");
        EXPECT_EQ(browser.header("content-encoding"), "zstd");
        // curl's own decoders agree.
        auto decoded = fetch(server.url("/json.php"), protocol + " --compressed");
        EXPECT_FALSE(decoded.header("content-encoding").empty());
        EXPECT_TRUE(decoded.body == page);
    }
}

TEST_F(Compression, RefusalsAndIdentityAreHonoured) {
    Server server(root.path());
    for (const std::string protocol : {"--http1.1", h2c}) {
        SCOPED_TRACE(protocol);
        auto none = fetch(server.url("/page.php"), protocol);
        EXPECT_EQ(none.header("content-encoding"), "") << "no Accept-Encoding: no coding";
        EXPECT_TRUE(none.body == page);
        auto identity = fetch(server.url("/page.php"), protocol + " -H 'Accept-Encoding: identity'");
        EXPECT_EQ(identity.header("content-encoding"), "");
        EXPECT_EQ(identity.header("vary"), "Accept-Encoding");
        EXPECT_TRUE(identity.body == page);
        auto refused = fetch(server.url("/page.php"),
                             protocol + " -H 'Accept-Encoding: zstd;q=0, br;q=0, gzip;q=0.5'");
        EXPECT_EQ(refused.header("content-encoding"), "gzip");
        EXPECT_TRUE(decode("gzip", refused.body_path) == page);
        auto star = fetch(server.url("/page.php"), protocol + " -H 'Accept-Encoding: *;q=0, identity'");
        EXPECT_EQ(star.header("content-encoding"), "");
        EXPECT_TRUE(star.body == page);
        auto weighted = fetch(server.url("/page.php"),
                              protocol + " -H 'Accept-Encoding: zstd;q=0.2, br;q=0.9, gzip'");
        EXPECT_EQ(weighted.header("content-encoding"), "gzip");
    }
}

TEST_F(Compression, WhatMustNotBeCompressedIsNot) {
    Server server(root.path());
    const std::string all = " -H 'Accept-Encoding: zstd, br, gzip'";
    for (const std::string protocol : {"--http1.1", h2c}) {
        SCOPED_TRACE(protocol);
        auto image = fetch(server.url("/png.php"), protocol + all);
        EXPECT_EQ(image.header("content-encoding"), "");
        EXPECT_TRUE(image.body == page);
        auto small = fetch(server.url("/small.php"), protocol + all);
        EXPECT_EQ(small.header("content-encoding"), "");
        EXPECT_EQ(small.body, "hello");
        auto own = fetch(server.url("/own.php"), protocol + all);
        EXPECT_EQ(own.header("content-encoding"), "gzip") << "the script's own coding, once";
        EXPECT_TRUE(decode("gzip", own.body_path) == page);
        auto head = fetch(server.url("/page.php"), protocol + " -I" + all);
        EXPECT_EQ(head.status, 200);
        EXPECT_EQ(head.header("content-encoding"), "");
    }
}

TEST_F(Compression, EtagIsWeakenedAndVaryMerged) {
    Server server(root.path());
    auto r = fetch(server.url("/etag.php"), "-H 'Accept-Encoding: br'");
    EXPECT_EQ(r.header("content-encoding"), "br");
    EXPECT_EQ(r.header("etag"), "W/\"v7\"");
    EXPECT_EQ(r.header("vary"), "Cookie, Accept-Encoding");
    auto plain = fetch(server.url("/etag.php"), "");
    EXPECT_EQ(plain.header("etag"), "\"v7\"") << "unchanged when not encoded";
}

TEST_F(Compression, NoCompressionTurnsItOff) {
    Server server(root.path(), {"--no-compression"});
    auto r = fetch(server.url("/page.php"), "-H 'Accept-Encoding: gzip'");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("content-encoding"), "");
    EXPECT_EQ(r.header("vary"), "");
    EXPECT_TRUE(r.body == page);
}

// flush() pushes what is compressed so far: the client decodes the first part while the
// script still waits, and the script goes on only once the test has seen it. The zstd and
// gzip tools decode a stream cut short as far as it goes; the brotli tool prints nothing
// until its input ends, so for br curl decodes (--compressed, libbrotli) as it receives.
TEST_F(Compression, FlushedPartIsDecodableBeforeTheScriptEnds) {
    const std::string go = scratch.path() + "/go";
    root.write("stream.php", R"(<?php
        while (ob_get_level()) ob_end_flush();
        echo "<p>first part</p>\n";
        flush();
        for ($i = 0; $i < 200 && !file_exists(')" + go + R"('); ++$i) usleep(50000);
        echo file_exists(')" + go + R"(') ? "<p>second part</p>\n" : "<p>timed out</p>\n";)");
    Server server(root.path());
    for (const std::string protocol : {"--http1.1", h2c}) {
        for (const std::string coding : {"zstd", "br", "gzip"}) {
            SCOPED_TRACE(protocol + " " + coding);
            std::filesystem::remove(go);
            const std::string body = scratch.path() + "/stream-" + coding;
            std::filesystem::remove(body);
            const bool by_curl = coding == "br";
            std::thread client([&] {
                command_output("curl -sS -N --max-time 20 " + protocol + " -H 'Accept-Encoding: " +
                               coding + "' " + (by_curl ? "--compressed " : "") + "-D " + body +
                               ".head -o " + body + " '" + server.url("/stream.php") + "'");
            });
            auto decoded = [&] { return by_curl ? read_file(body) : decode(coding, body); };
            std::string first;
            for (int i = 0; i < 200 && first.empty(); ++i) {
                std::this_thread::sleep_for(std::chrono::milliseconds(25));
                first = decoded();
            }
            EXPECT_EQ(first, "<p>first part</p>\n") << "decodable while the script waits";
            std::ofstream(go) << "go";
            client.join();
            EXPECT_EQ(decoded(), "<p>first part</p>\n<p>second part</p>\n");
            std::string head = read_file(body + ".head");
            for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            EXPECT_NE(head.find("content-encoding: " + coding), std::string::npos) << head;
        }
    }
}

}  // namespace
}  // namespace askr::test
