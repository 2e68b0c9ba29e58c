// End-to-end static file serving of `askr serve`: Content-Type from
// /etc/mime.types, ETag/Last-Modified and conditional GET (RFC 9110 section 13), single
// ranges (RFC 9110 section 14), HEAD, 405 for other methods, Cache-Control for hashed build
// assets, and byte-identical downloads on both paths (small files inline, large ones with
// sendfile).
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "harness.hpp"

namespace askr::test {
namespace {

/// The media type /etc/mime.types gives `extension`, "" when it lists none.
std::string system_mime_type(const std::string& extension) {
    std::ifstream in("/etc/mime.types");
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream words(line);
        std::string type, ext;
        words >> type;
        while (words >> ext) {
            if (ext == extension) return type;
        }
    }
    return {};
}

/// The media type of a Content-Type value, without parameters.
std::string media_type(const std::string& content_type) {
    return content_type.substr(0, content_type.find(';'));
}

/// `size` bytes of deterministic binary content (every byte value, NUL included).
std::string binary_content(std::size_t size, unsigned seed) {
    std::mt19937 random(seed);
    std::string content(size, '\0');
    for (auto& c : content) c = static_cast<char>(random() & 0xff);
    return content;
}

/// Raw response split into status, head and everything after it.
struct Raw {
    int status = 0;
    std::string head;
    std::string body;
    bool has_field(const std::string& name_colon) const {
        return head.find("\r\n" + name_colon) != std::string::npos;
    }
};

/// One request with exactly these bytes (the server closes after it): shows whether a
/// body follows a 304 or a HEAD response, which libcurl would hide.
Raw raw_request(const Server& server, const std::string& method, const std::string& target,
                const std::string& extra_headers = "") {
    const std::string response =
        raw_exchange(server.port(), method + " " + target + " HTTP/1.1\r\nHost: localhost\r\n" +
                                        extra_headers + "Connection: close\r\n\r\n");
    Raw raw;
    raw.status = raw_status(response);
    const auto end = response.find("\r\n\r\n");
    raw.head = response.substr(0, end);
    if (end != std::string::npos) raw.body = response.substr(end + 4);
    return raw;
}

RequestOptions with_header(const std::string& header) {
    RequestOptions options;
    options.headers.push_back(header);
    return options;
}

TEST(Static, ContentTypeComesFromMimeTypes) {
    TempDir root;
    root.write("style.css", "body{}");
    root.write("app.js", "console.log(1)");
    root.write("logo.png", std::string("\x89PNG\r\n\x1a\n", 8) + binary_content(100, 1));
    root.write("data.json", "{}");
    root.write("page.html", "<p>");
    root.write("font.woff2", "wOF2");
    Server server(root.path());
    for (const std::string extension : {"css", "js", "png", "json", "html", "woff2"}) {
        const std::string expected = system_mime_type(extension);
        ASSERT_NE(expected, "") << "/etc/mime.types has no ." << extension;
        const std::string name = extension == "css"    ? "style.css"
                                 : extension == "js"   ? "app.js"
                                 : extension == "png"  ? "logo.png"
                                 : extension == "json" ? "data.json"
                                 : extension == "html" ? "page.html"
                                                       : "font.woff2";
        auto response = get(server.url("/" + name));
        EXPECT_EQ(response.status, 200) << name;
        EXPECT_EQ(media_type(response.header("content-type")), expected) << name;
    }
    // The brief's examples, spelled out.
    EXPECT_EQ(media_type(get(server.url("/style.css")).header("content-type")), "text/css");
    EXPECT_EQ(media_type(get(server.url("/logo.png")).header("content-type")), "image/png");
}

TEST(Static, UnknownExtensionIsOctetStream) {
    TempDir root;
    root.write("blob.unknownext", "?");
    root.write("LICENSE", "MIT");
    Server server(root.path());
    EXPECT_EQ(get(server.url("/blob.unknownext")).header("content-type"),
              "application/octet-stream");
    EXPECT_NE(get(server.url("/LICENSE")).header("content-type"), "");
}

TEST(Static, EtagAndLastModifiedArePresent) {
    TempDir root;
    root.write("a.txt", "version one");
    Server server(root.path());
    auto response = get(server.url("/a.txt"));
    EXPECT_EQ(response.status, 200);
    const std::string etag = response.header("etag");
    EXPECT_GE(etag.size(), 3u) << etag;
    EXPECT_EQ(etag.front(), '"') << "an entity-tag is quoted (RFC 9110 section 8.8.3): " << etag;
    EXPECT_EQ(etag.back(), '"') << etag;
    EXPECT_NE(response.header("last-modified"), "");
    EXPECT_EQ(response.header("last-modified").size(), 29u)
        << "IMF-fixdate: " << response.header("last-modified");
    // A changed file gets a different ETag: Askr revalidates what it knows about a static
    // file after one second (its open-file cache, like nginx's open_file_cache_valid).
    root.write("a.txt", "version two, longer");
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    auto changed = get(server.url("/a.txt"));
    EXPECT_EQ(changed.body, "version two, longer");
    EXPECT_NE(changed.header("etag"), etag);
}

TEST(Static, IfNoneMatchWithTheEtagGives304WithoutBody) {
    TempDir root;
    root.write("a.css", "body{color:red}");
    Server server(root.path());
    const std::string etag = get(server.url("/a.css")).header("etag");
    ASSERT_NE(etag, "");
    auto not_modified = raw_request(server, "GET", "/a.css", "If-None-Match: " + etag + "\r\n");
    EXPECT_EQ(not_modified.status, 304) << not_modified.head;
    EXPECT_EQ(not_modified.body, "") << "a 304 has no content (RFC 9110 section 15.4.5)";
    EXPECT_TRUE(not_modified.has_field("ETag: " + etag)) << not_modified.head;
    // A list containing it, and the weak form, match too (weak comparison, section 13.1.2).
    auto in_list = request(server.url("/a.css"), with_header("If-None-Match: \"other\", " + etag));
    EXPECT_EQ(in_list.status, 304);
    auto weak = request(server.url("/a.css"), with_header("If-None-Match: W/" + etag));
    EXPECT_EQ(weak.status, 304);
    auto star = request(server.url("/a.css"), with_header("If-None-Match: *"));
    EXPECT_EQ(star.status, 304);
    // Another ETag: the full file.
    auto other = request(server.url("/a.css"), with_header("If-None-Match: \"not-the-etag\""));
    EXPECT_EQ(other.status, 200);
    EXPECT_EQ(other.body, "body{color:red}");
}

TEST(Static, IfModifiedSinceLastModifiedGives304) {
    TempDir root;
    root.write("a.js", "let a = 1;");
    Server server(root.path());
    const std::string last_modified = get(server.url("/a.js")).header("last-modified");
    ASSERT_NE(last_modified, "");
    auto not_modified =
        raw_request(server, "GET", "/a.js", "If-Modified-Since: " + last_modified + "\r\n");
    EXPECT_EQ(not_modified.status, 304) << not_modified.head;
    EXPECT_EQ(not_modified.body, "");
    auto older = request(server.url("/a.js"),
                         with_header("If-Modified-Since: Thu, 01 Jan 1998 00:00:00 GMT"));
    EXPECT_EQ(older.status, 200);
    EXPECT_EQ(older.body, "let a = 1;");
    // If-None-Match takes precedence over If-Modified-Since (RFC 9110 section 13.2.2).
    RequestOptions both;
    both.headers = {"If-None-Match: \"not-the-etag\"", "If-Modified-Since: " + last_modified};
    EXPECT_EQ(request(server.url("/a.js"), both).status, 200);
}

TEST(Static, RangeOfTheFirstTenBytesGives206) {
    TempDir root;
    const std::string content = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    root.write("letters.txt", content);
    Server server(root.path());
    auto response = request(server.url("/letters.txt"), with_header("Range: bytes=0-9"));
    EXPECT_EQ(response.status, 206);
    EXPECT_EQ(response.header("content-range"), "bytes 0-9/36");
    EXPECT_EQ(response.header("content-length"), "10");
    EXPECT_EQ(response.body, "0123456789");
    auto middle = request(server.url("/letters.txt"), with_header("Range: bytes=10-15"));
    EXPECT_EQ(middle.status, 206);
    EXPECT_EQ(middle.body, "ABCDEF");
    auto open_ended = request(server.url("/letters.txt"), with_header("Range: bytes=30-"));
    EXPECT_EQ(open_ended.status, 206);
    EXPECT_EQ(open_ended.header("content-range"), "bytes 30-35/36");
    EXPECT_EQ(open_ended.body, "UVWXYZ");
}

TEST(Static, MultipleRangesGiveTheWholeFileOrAValidMultipart) {
    TempDir root;
    root.write("letters.txt", "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ");
    Server server(root.path());
    // Askr serves single ranges; a server may ignore the others and send
    // everything (RFC 9110 section 14.2), but must not answer with just one of them.
    auto response = request(server.url("/letters.txt"), with_header("Range: bytes=0-1,5-6"));
    if (response.status == 200) {
        EXPECT_EQ(response.body, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ");
    } else {
        EXPECT_EQ(response.status, 206);
        EXPECT_EQ(response.header("content-type").rfind("multipart/byteranges", 0), 0u)
            << response.header("content-type");
    }
}

TEST(Static, SuffixRangeGivesTheLastBytes) {
    TempDir root;
    root.write("letters.txt", "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ");
    Server server(root.path());
    auto response = request(server.url("/letters.txt"), with_header("Range: bytes=-5"));
    EXPECT_EQ(response.status, 206);
    EXPECT_EQ(response.header("content-range"), "bytes 31-35/36");
    EXPECT_EQ(response.body, "VWXYZ");
    // A suffix longer than the file is the whole file, as a 206 (RFC 9110 section 14.1.3).
    auto longer = request(server.url("/letters.txt"), with_header("Range: bytes=-100"));
    EXPECT_EQ(longer.status, 206);
    EXPECT_EQ(longer.header("content-range"), "bytes 0-35/36");
    EXPECT_EQ(longer.body.size(), 36u);
}

TEST(Static, UnsatisfiableRangeGives416) {
    TempDir root;
    root.write("small.txt", "twelve bytes");
    Server server(root.path());
    auto response = raw_request(server, "GET", "/small.txt", "Range: bytes=99999-\r\n");
    EXPECT_EQ(response.status, 416) << response.head;
    EXPECT_TRUE(response.has_field("Content-Range: bytes */12")) << response.head;
    EXPECT_EQ(response.body.find("twelve bytes"), std::string::npos)
        << "416 must not carry the file";
    // A syntactically invalid Range is ignored: the whole file (RFC 9110 section 14.2).
    auto invalid = request(server.url("/small.txt"), with_header("Range: bytes=abc"));
    EXPECT_EQ(invalid.status, 200);
    EXPECT_EQ(invalid.body, "twelve bytes");
}

TEST(Static, LargeFileDownloadsCompleteAndIdentical) {
    TempDir root;
    const std::string content = binary_content(5 * 1024 * 1024, 42);
    root.write("big.bin", content);
    Server server(root.path());
    RequestOptions options;
    options.timeout_ms = 30000;
    auto response = request(server.url("/big.bin"), options);
    EXPECT_EQ(response.status, 200) << response.error;
    EXPECT_EQ(response.header("content-length"), std::to_string(content.size()));
    EXPECT_EQ(response.body.size(), content.size());
    EXPECT_TRUE(response.body == content) << "the 5 MiB download differs from the file";
    // A range in the middle of a large file (sendfile from an offset).
    options.headers = {"Range: bytes=1000000-3999999"};
    auto part = request(server.url("/big.bin"), options);
    EXPECT_EQ(part.status, 206);
    EXPECT_EQ(part.body.size(), 3000000u);
    EXPECT_TRUE(part.body == content.substr(1000000, 3000000)) << "the range differs from the file";
}

TEST(Static, SmallFileDownloadsIdentical) {
    TempDir root;
    const std::string content = binary_content(1024, 7);
    root.write("small.bin", content);
    Server server(root.path());
    auto response = get(server.url("/small.bin"));
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.header("content-length"), "1024");
    EXPECT_TRUE(response.body == content) << "the 1 KiB download differs from the file";
    // An empty file is a 200 with Content-Length 0.
    root.write("empty.txt", "");
    auto empty = raw_request(server, "GET", "/empty.txt");
    EXPECT_EQ(empty.status, 200);
    EXPECT_TRUE(empty.has_field("Content-Length: 0")) << empty.head;
    EXPECT_EQ(empty.body, "");
}

TEST(Static, HeadHasContentLengthButNoBody) {
    TempDir root;
    root.write("small.txt", std::string(1024, 's'));
    root.write("big.bin", binary_content(5 * 1024 * 1024, 3));
    Server server(root.path());
    for (const auto& [path, length] :
         {std::pair<std::string, std::string>{"/small.txt", "1024"},
          std::pair<std::string, std::string>{"/big.bin", "5242880"}}) {
        auto response = raw_request(server, "HEAD", path);
        EXPECT_EQ(response.status, 200) << path;
        EXPECT_TRUE(response.has_field("Content-Length: " + length)) << path << "\n"
                                                                     << response.head;
        EXPECT_TRUE(response.has_field("ETag: ")) << path;
        EXPECT_TRUE(response.has_field("Last-Modified: ")) << path;
        EXPECT_EQ(response.body.size(), 0u) << path << ": HEAD response carried a body";
    }
}

TEST(Static, PostToStaticFileGives405) {
    TempDir root;
    root.write("index.php", "<?php echo 'front controller';");
    root.write("file.txt", "static");
    Server server(root.path());
    RequestOptions post;
    post.method = "POST";
    post.body = "a=1";
    auto response = request(server.url("/file.txt"), post);
    EXPECT_EQ(response.status, 405);
    EXPECT_EQ(response.body.find("static"), std::string::npos);
    const std::string allow = response.header("allow");
    EXPECT_NE(allow.find("GET"), std::string::npos)
        << "a 405 lists the allowed methods: '" << allow << "'";
    EXPECT_NE(allow.find("HEAD"), std::string::npos) << allow;
    RequestOptions del;
    del.method = "DELETE";
    EXPECT_EQ(request(server.url("/file.txt"), del).status, 405);
    EXPECT_EQ(get(server.url("/file.txt")).body, "static") << "the file is untouched";
}

TEST(Static, HashedBuildAssetsAreCachedImmutable) {
    TempDir root;
    root.write("build/assets/app-4f3a9c1b.js", "export{}");
    root.write("build/assets/app-4f3a9c1b.css", "a{}");
    root.write("app.js", "plain");
    Server server(root.path());
    for (const std::string path :
         {"/build/assets/app-4f3a9c1b.js", "/build/assets/app-4f3a9c1b.css"}) {
        auto response = get(server.url(path));
        EXPECT_EQ(response.status, 200) << path;
        const std::string cache_control = response.header("cache-control");
        EXPECT_NE(cache_control.find("immutable"), std::string::npos)
            << path << ": '" << cache_control << "'";
        EXPECT_NE(cache_control.find("max-age="), std::string::npos)
            << path << ": '" << cache_control << "'";
    }
    // A file whose name may be reused for new content must not be cached forever.
    auto plain = get(server.url("/app.js"));
    EXPECT_EQ(plain.status, 200);
    EXPECT_EQ(plain.header("cache-control").find("immutable"), std::string::npos)
        << plain.header("cache-control");
}

}  // namespace
}  // namespace askr::test
