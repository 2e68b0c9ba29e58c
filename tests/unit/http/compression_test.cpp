// The compression stage with an in-memory sink: which responses it compresses, what it
// does to their heads, and that each send() reaches the sink decodable.
#include "http/compression.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

namespace askr::http {
namespace {

namespace asio = boost::asio;

class Recorder final : public ResponseSink {
  public:
    asio::awaitable<bool> interim(int, const Fields&) override { co_return true; }
    asio::awaitable<bool> send(const ResponseHead* h, std::string_view bytes, bool last) override {
        if (h) head = *h;
        chunks.emplace_back(bytes);
        ended = last;
        co_return true;
    }
    asio::awaitable<bool> send_file(const ResponseHead* h, FileBody) override {
        if (h) head = *h;
        ended = true;
        co_return true;
    }
    bool send_now(const ResponseHead& h, std::string_view bytes) override {
        head = h;
        chunks.emplace_back(bytes);
        ended = true;
        return true;
    }
    bool head_sent() const override { return !chunks.empty(); }
    RequestOutcome& outcome() override { return outcome_; }
    std::unique_ptr<Request> release_request() override { return nullptr; }
    int socket_fd() const override { return -1; }

    ResponseHead head;
    std::vector<std::string> chunks;
    bool ended = false;

  private:
    RequestOutcome outcome_;
};

// What gunzip makes of `data` (a stream that may not have ended).
std::string gunzip(const std::string& data) {
    z_stream z{};
    inflateInit2(&z, 15 + 16);
    std::string out(1 << 20, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    inflate(&z, Z_SYNC_FLUSH);
    out.resize(z.total_out);
    inflateEnd(&z);
    return out;
}

CompressionSettings settings() {
    CompressionSettings s;
    s.types = {"text/*", "application/json", "+xml"};
    return s;
}

struct Step {
    std::string body;
    bool last;
};

// Sends `head` then `steps` through a CompressFilter for `request` into a Recorder.
Recorder run(Request& request, const ResponseHead& head, std::vector<Step> steps,
             const CompressionSettings& config = settings()) {
    Recorder sink;
    EncoderPool pool(config);
    asio::io_context io;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            CompressFilter filter(sink, request, config, pool);
            bool first = true;
            for (const auto& step : steps) {
                co_await filter.send(first ? &head : nullptr, step.body, step.last);
                first = false;
            }
        },
        asio::detached);
    io.run();
    return sink;
}

Request gzip_request(std::string_view method = "GET") {
    Request r;
    r.method = method;
    r.add_header("accept-encoding", "gzip");
    return r;
}

ResponseHead html_head() {
    ResponseHead head;
    head.fields.add("Content-Type", "text/html; charset=UTF-8");
    return head;
}

const std::string big(4000, 'x');

TEST(CompressFilter, WholeBodyIsCompressedWithHeadChanged) {
    auto request = gzip_request();
    auto head = html_head();
    head.fields.add("ETag", "\"v1\"");
    head.fields.add("Vary", "Cookie");
    head.fields.add("Accept-Ranges", "bytes");
    auto sink = run(request, head, {{big, true}});
    ASSERT_EQ(sink.chunks.size(), 1u);
    EXPECT_LT(sink.chunks[0].size(), big.size() / 10);
    EXPECT_EQ(gunzip(sink.chunks[0]), big);
    EXPECT_TRUE(sink.ended);
    EXPECT_EQ(sink.head.fields.get("content-encoding"), "gzip");
    EXPECT_EQ(sink.head.fields.get("vary"), "Cookie, Accept-Encoding");
    EXPECT_EQ(sink.head.fields.get("etag"), "W/\"v1\"");
    EXPECT_FALSE(sink.head.fields.has("accept-ranges"));
    EXPECT_FALSE(sink.head.content_length);
}

TEST(CompressFilter, EverySendIsDecodableOnArrival) {
    auto request = gzip_request();
    auto sink = run(request, html_head(), {{"<p>first</p>", false}, {"", false}, {big, true}});
    ASSERT_EQ(sink.chunks.size(), 3u);
    EXPECT_EQ(gunzip(sink.chunks[0]), "<p>first</p>") << "a flush() before the end";
    EXPECT_EQ(gunzip(sink.chunks[0] + sink.chunks[1] + sink.chunks[2]), "<p>first</p>" + big);
}

TEST(CompressFilter, IdentityClientGetsVaryOnly) {
    Request request;
    request.method = "GET";
    request.add_header("accept-encoding", "gzip;q=0, identity");
    auto sink = run(request, html_head(), {{big, true}});
    EXPECT_EQ(sink.chunks[0], big);
    EXPECT_FALSE(sink.head.fields.has("content-encoding"));
    EXPECT_EQ(sink.head.fields.get("vary"), "Accept-Encoding");
}

TEST(CompressFilter, LeavesAloneWhatMustNotBeCompressed) {
    auto request = gzip_request();
    auto check = [&](ResponseHead head, std::vector<Step> steps, Request& r, const char* why) {
        auto sink = run(r, head, steps);
        EXPECT_EQ(sink.head.fields.get("content-encoding"), head.fields.get("content-encoding"))
            << why;
        EXPECT_FALSE(sink.head.fields.has("vary")) << why;
        EXPECT_EQ(sink.chunks[0], steps[0].body) << why;
    };
    check(html_head(), {{"short", true}}, request, "below min_size");
    ResponseHead image;
    image.fields.add("Content-Type", "image/png");
    check(image, {{big, true}}, request, "not a listed type");
    ResponseHead none;
    check(none, {{big, true}}, request, "no type at all");
    auto encoded = html_head();
    encoded.fields.add("Content-Encoding", "gzip");
    check(encoded, {{big, true}}, request, "encoded by the script");
    auto partial = html_head();
    partial.status = 206;
    partial.fields.add("Content-Range", "bytes 0-3999/9000");
    check(partial, {{big, true}}, request, "a range");
    auto no_transform = html_head();
    no_transform.fields.add("Cache-Control", "private, no-transform");
    check(no_transform, {{big, true}}, request, "no-transform");
    auto empty = html_head();
    empty.status = 204;
    check(empty, {{"", true}}, request, "no content");
    auto head_request = gzip_request("HEAD");
    auto declared = html_head();
    declared.content_length = 50000;
    check(declared, {{"", true}}, head_request, "HEAD");
}

TEST(CompressFilter, StreamOfUnknownLengthIsCompressedAnySize) {
    auto request = gzip_request();
    auto sink = run(request, html_head(), {{"a", false}, {"b", true}});
    EXPECT_EQ(sink.head.fields.get("content-encoding"), "gzip");
    EXPECT_EQ(gunzip(sink.chunks[0] + sink.chunks[1]), "ab");
}

TEST(CompressFilter, DisabledCodingsAreNotOffered) {
    Request request;
    request.method = "GET";
    request.add_header("accept-encoding", "zstd, br");
    request.add_header("accept-encoding", "gzip;q=0.1");
    auto config = settings();
    config.codings = coding_bit(Coding::gzip);
    auto sink = run(request, html_head(), {{big, true}}, config);
    EXPECT_EQ(sink.head.fields.get("content-encoding"), "gzip") << "the second field line counts";
}

TEST(Compression, TypesMatchExactlyByWildcardOrSuffix) {
    const std::vector<std::string> types{"text/*", "application/json", "+xml"};
    EXPECT_TRUE(compressible_type("text/html", types));
    EXPECT_TRUE(compressible_type("Text/CSS; charset=utf-8", types));
    EXPECT_TRUE(compressible_type("application/json", types));
    EXPECT_TRUE(compressible_type("image/svg+xml", types));
    EXPECT_TRUE(compressible_type("application/atom+xml;charset=utf-8", types));
    EXPECT_FALSE(compressible_type("application/jsonx", types));
    EXPECT_FALSE(compressible_type("text/", types));
    EXPECT_FALSE(compressible_type("+xml", types));
    EXPECT_FALSE(compressible_type("image/png", types));
    EXPECT_FALSE(compressible_type("", types));
}

TEST(Compression, VaryIsMergedOnce) {
    Fields f;
    add_vary_accept_encoding(f);
    EXPECT_EQ(f.get("vary"), "Accept-Encoding");
    add_vary_accept_encoding(f);
    EXPECT_EQ(f.size(), 1u);
    Fields star;
    star.add("Vary", "*");
    add_vary_accept_encoding(star);
    EXPECT_EQ(star.get("vary"), "*");
    Fields lower;
    lower.add("vary", "origin, accept-encoding");
    add_vary_accept_encoding(lower);
    EXPECT_EQ(lower.size(), 1u);
    Fields weak;
    weak.add("ETag", "W/\"a\"");
    weaken_etag(weak);
    EXPECT_EQ(weak.get("etag"), "W/\"a\"");
}

}  // namespace
}  // namespace askr::http
