// HTTP/2: h2 over TLS (ALPN) and clear-text h2c with prior knowledge reach the
// same static-file and PHP handlers as HTTP/1; request bodies, streamed responses,
// concurrency (h2load), and the limits that protect the server: stream limit, header list
// size, rapid reset, CONTINUATION flood, bad preface, zero-window stall, idle timeout,
// GOAWAY on a graceful stop.
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <thread>

#include "harness.hpp"
#include "http2_support.hpp"

namespace askr::test::h2 {
namespace {

using namespace std::chrono_literals;

std::string shell(const std::string& command) {
    return command_output(command + " 2>&1");
}

std::string pattern(std::size_t size) {
    std::string s(size, '\0');
    for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 1000) % 26);
    return s;
}

class Http2 : public ::testing::Test {
  protected:
    void SetUp() override {
        root.write("small.txt", "hello over h2\n");
        root.write("big.bin", pattern(3 << 20));
        root.write("index.php", "<?php echo 'php ', $_SERVER['SERVER_PROTOCOL'];");
        root.write("vars.php", R"(<?php
            foreach (['SERVER_PROTOCOL', 'HTTPS', 'HTTP_HOST', 'REQUEST_METHOD', 'REQUEST_URI', 'QUERY_STRING',
                      'HTTP_X_TEST', 'HTTP_COOKIE'] as $k) echo $k, '=', $_SERVER[$k] ?? '-', "\n";)");
        root.write("echo.php", R"(<?php $b = file_get_contents('php://input');
            echo strlen($b), ' ', md5($b), ' ', $_SERVER['CONTENT_LENGTH'];)");
        root.write("stream.php", R"(<?php
            while (ob_get_level()) ob_end_flush();
            echo "first\n"; flush(); usleep(400000); echo "second\n";)");
        root.write("slow.php", "<?php usleep(800000); echo 'done';");
        root.write("large.php",
                   "<?php while (ob_get_level()) ob_end_flush(); "
                   "for ($i = 0; $i < 64; $i++) { echo str_repeat('x', 65536); flush(); }");
    }
    TempDir root;
};

TEST_F(Http2, PriorKnowledgeServesStaticPhpHeadAnd404) {
    Server server(root.path());
    auto r = h2_request(server.url("/small.txt"));
    EXPECT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.http_version, CURL_HTTP_VERSION_2_0);
    EXPECT_EQ(r.body, "hello over h2\n");
    EXPECT_EQ(r.header("content-length"), "14");
    EXPECT_EQ(r.header("content-type"), "text/plain");

    auto big = h2_request(server.url("/big.bin"));
    EXPECT_EQ(big.status, 200) << big.error;
    EXPECT_TRUE(big.body == pattern(3 << 20))
        << "large static file differs, size " << big.body.size();

    auto php = h2_request(server.url("/index.php"));
    EXPECT_EQ(php.status, 200) << php.error;
    EXPECT_EQ(php.http_version, CURL_HTTP_VERSION_2_0);
    EXPECT_EQ(php.body, "php HTTP/2.0");

    auto missing = h2_request(server.url("/.env"));  // (other paths go to the front controller)
    EXPECT_EQ(missing.status, 404);
    EXPECT_NE(missing.body.find("404 Not Found"), std::string::npos);

    auto head = h2_request(server.url("/small.txt"), "HEAD");
    EXPECT_EQ(head.status, 200) << head.error;
    EXPECT_EQ(head.body, "");
    EXPECT_EQ(head.header("content-length"), "14");
    auto php_head = h2_request(server.url("/index.php"), "HEAD");
    EXPECT_EQ(php_head.status, 200) << php_head.error;
    EXPECT_EQ(php_head.body, "");

    // HTTP/1.1 on the same listener is unchanged.
    auto h1 = get(server.url("/index.php"));
    EXPECT_EQ(h1.status, 200);
    EXPECT_EQ(h1.body, "php HTTP/1.1");
}

TEST_F(Http2, TlsAlpnGivesPhpTheSameServerVariables) {
    TempDir certs;
    Server server(root.path(),
                  {"--tls-self-signed", "--tls-self-signed-dir", certs.path() + "/tls"});
    auto r = h2_request(server.url("/vars.php?a=1"), "GET", {},
                        {"X-Test: yes", "Cookie: a=1", "Cookie: b=2"});
    ASSERT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.http_version, CURL_HTTP_VERSION_2_0);
    EXPECT_NE(r.body.find("SERVER_PROTOCOL=HTTP/2.0\n"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("HTTPS=on\n"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("HTTP_HOST=127.0.0.1:" + std::to_string(server.port()) + "\n"),
              std::string::npos)
        << r.body;
    EXPECT_NE(r.body.find("REQUEST_URI=/vars.php?a=1\n"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("QUERY_STRING=a=1\n"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("HTTP_X_TEST=yes\n"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("HTTP_COOKIE=a=1; b=2\n"), std::string::npos) << r.body;

    auto file = h2_request(server.url("/big.bin"));
    EXPECT_EQ(file.status, 200) << file.error;
    EXPECT_TRUE(file.body == pattern(3 << 20))
        << "large static file over TLS differs, size " << file.body.size();
}

TEST_F(Http2, PostBodiesSmallAndLarge) {
    TempDir certs;
    Server clear(root.path());
    Server tls(root.path(), {"--tls-self-signed", "--tls-self-signed-dir", certs.path() + "/tls"});
    for (const Server* server : {&clear, &tls}) {
        for (std::size_t size : {std::size_t{11}, std::size_t{3 << 20}}) {
            const std::string body = pattern(size);
            auto r = h2_request(server->url("/echo.php"), "POST", body,
                                {"Content-Type: application/octet-stream"});
            ASSERT_EQ(r.status, 200) << r.error;
            EXPECT_EQ(r.body.substr(0, r.body.find(' ')), std::to_string(size)) << r.body;
            EXPECT_NE(r.body.find(" " + std::to_string(size)), std::string::npos) << r.body;
        }
    }
    // A client that waits for 100 Continue gets it (RFC 9110 section 10.1.1).
    {
        RawH2 client(clear.port());
        ASSERT_TRUE(client.handshake());
        client.send(frame(HEADERS, END_HEADERS, 1,
                          request_block("POST", "/echo.php", {{"expect", "100-continue"}})));
        auto interim = client.until(HEADERS, 5s, 1u);
        ASSERT_TRUE(interim.has_value()) << "no 100 Continue";
        EXPECT_FALSE(interim->flags & END_STREAM);
        client.send(frame(DATA, END_STREAM, 1, "abc"));
        auto data = client.until(DATA, 5s, 1u);
        ASSERT_TRUE(data.has_value());
        EXPECT_EQ(data->payload.substr(0, 2), "3 ");
    }
    // Over the --max-body-size limit: 413, and the connection stays usable for others.
    // (nghttp, as curl 7.88 reports the server's RST_STREAM(NO_ERROR) that ends the upload
    // after the response, RFC 9113 section 8.1, as an error.)
    Server limited(root.path(), {"--max-body-size", "1M"});
    const std::string upload = root.write("upload.bin", pattern(2 << 20));
    const std::string out =
        shell("timeout 20 nghttp -v -d " + upload + " " + limited.url("/echo.php"));
    EXPECT_NE(out.find(":status: 413"), std::string::npos) << out;
    EXPECT_EQ(h2_request(limited.url("/echo.php"), "POST", "small").status, 200);
}

TEST_F(Http2, FlushedOutputArrivesBeforeTheScriptEnds) {
    Server server(root.path());
    const auto start = std::chrono::steady_clock::now();
    auto r = h2_request(server.url("/stream.php"));
    ASSERT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.body, "first\nsecond\n");
    EXPECT_EQ(r.header("content-length"), "") << "a streamed response cannot know its length";
    ASSERT_GE(r.body_arrivals.size(), 2u);
    const auto first =
        std::chrono::duration_cast<std::chrono::milliseconds>(r.body_arrivals.front() - start);
    const auto last =
        std::chrono::duration_cast<std::chrono::milliseconds>(r.body_arrivals.back() - start);
    EXPECT_LT(first.count(), 300) << "the flushed part came only with the end";
    EXPECT_GE(last.count() - first.count(), 300);

    auto large = h2_request(server.url("/large.php"));
    EXPECT_EQ(large.status, 200) << large.error;
    EXPECT_EQ(large.body.size(), 64u * 65536u);
}

TEST_F(Http2, H2loadManyStreamsStaticAndPhp) {
    Server server(root.path(), {"--workers", "2"});
    for (const std::string path : {"/small.txt", "/index.php"}) {
        const std::string out = shell("timeout 60 h2load -n 2000 -c 10 -m 10 " + server.url(path));
        EXPECT_NE(out.find("2000 succeeded, 0 failed, 0 errored, 0 timeout"), std::string::npos)
            << out;
        EXPECT_NE(out.find("status codes: 2000 2xx"), std::string::npos) << out;
    }
}

TEST_F(Http2, RapidResetEndsWithEnhanceYourCalm) {
    Server server(root.path());
    RawH2 client(server.port());
    ASSERT_TRUE(client.handshake());
    std::string burst;
    for (std::uint32_t id = 1; id < 2 * 1000; id += 2) {
        burst += frame(HEADERS, END_HEADERS | END_STREAM, id, request_block("GET", "/index.php"));
        burst += frame(RST_STREAM, 0, id, std::string("\0\0\0\x08", 4));  // CANCEL
    }
    client.send(burst);
    auto goaway = client.until(GOAWAY, 10s);
    ASSERT_TRUE(goaway.has_value()) << "no GOAWAY after 1000 reset streams";
    EXPECT_EQ(goaway->error_code(), 0xbu) << "expected ENHANCE_YOUR_CALM";
    EXPECT_TRUE(client.wait_closed(5s));
    // The server is still there for others.
    EXPECT_EQ(h2_request(server.url("/small.txt")).status, 200);
}

// The limit is --http2-max-streams (default 100); this test sets 20.
TEST_F(Http2, ConcurrentStreamLimitIsEnforced) {
    Server server(root.path(), {"--http2-max-streams", "20"});
    RawH2 client(server.port());
    ASSERT_TRUE(client.handshake());
    // 30 requests whose bodies never come: streams 1..59 stay open; past 20 they are refused.
    std::string burst;
    for (std::uint32_t i = 0; i < 30; ++i) {
        burst += frame(HEADERS, END_HEADERS, 1 + 2 * i, request_block("POST", "/echo.php"));
    }
    client.send(burst);
    // RFC 9113 section 5.1.2: the streams past the limit are refused (RST_STREAM), or the
    // client that ignored SETTINGS is told off with GOAWAY; none within the limit is touched.
    std::optional<Frame> refusal;
    while (auto f = client.next(5s)) {
        if (f->type == RST_STREAM || f->type == GOAWAY) {
            refusal = f;
            break;
        }
    }
    ASSERT_TRUE(refusal.has_value()) << "no stream was refused";
    if (refusal->type == RST_STREAM) {
        EXPECT_GT(refusal->stream, 2u * 19u)
            << "stream " << refusal->stream << " refused within the limit";
    } else {
        const auto* p = reinterpret_cast<const unsigned char*>(refusal->payload.data());
        const std::uint32_t last = (std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 |
                                    std::uint32_t{p[2]} << 8 | p[3]) &
                                   0x7fffffff;
        EXPECT_GE(last, 2u * 19u + 1) << "GOAWAY dropped streams within the limit";
    }
}

TEST_F(Http2, OversizedHeaderListGets431) {
    Server server(root.path());
    auto r = h2_request(server.url("/index.php"), "GET", {}, {"X-Big: " + std::string(40000, 'b')});
    EXPECT_TRUE(r.status == 431 || r.status == 0) << r.status;
    // An HPACK bomb: one 4000-byte field in the dynamic table, then referenced 2000 times
    // (2000 bytes on the wire, 8 MB decoded): refused, not accumulated.
    RawH2 client(server.port());
    ASSERT_TRUE(client.handshake());
    std::string block = request_block("GET", "/index.php");
    block += std::string(1, '\x40') + std::string(1, '\x01') + "x" +
             std::string("\x7f\xa1\x1e", 3) + std::string(4000, 'v');
    block += std::string(2000, '\xbe');  // indexed field 62: the newest dynamic entry
    std::string frames;
    for (std::size_t at = 0; at < block.size(); at += 16000) {
        const bool first = at == 0;
        const bool last = at + 16000 >= block.size();
        frames +=
            frame(first ? HEADERS : CONTINUATION,
                  (first ? END_STREAM : 0) | (last ? END_HEADERS : 0), 1, block.substr(at, 16000));
    }
    client.send(frames);
    auto answer = client.next(5s);
    while (answer && answer->type != HEADERS && answer->type != RST_STREAM &&
           answer->type != GOAWAY)
        answer = client.next(5s);
    ASSERT_TRUE(answer.has_value()) << "no answer to the HPACK bomb";
    EXPECT_EQ(h2_request(server.url("/small.txt")).status, 200);
}

TEST_F(Http2, ContinuationFloodClosesTheConnection) {
    Server server(root.path());
    RawH2 client(server.port());
    ASSERT_TRUE(client.handshake());
    std::string flood = frame(HEADERS, END_STREAM, 1, request_block("GET", "/index.php"));
    for (int i = 0; i < 200; ++i) flood += frame(CONTINUATION, 0, 1, literal("x-c", "v"));
    client.send(flood);
    auto goaway = client.until(GOAWAY, 5s);
    EXPECT_TRUE(goaway.has_value()) << "no GOAWAY after a CONTINUATION flood";
    EXPECT_TRUE(client.wait_closed(5s)) << "the connection stayed open";
}

TEST_F(Http2, BadPrefaceOrFirstFrameCloses) {
    Server server(root.path());
    {
        // The preface, then something that is not a SETTINGS frame (RFC 9113 section 3.4).
        RawH2 client(server.port());
        client.send(std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") +
                    frame(PING, 0, 0, std::string(8, 'p')));
        EXPECT_TRUE(client.wait_closed(5s)) << "the connection stayed open";
        bool goaway = false;
        for (const auto& f : client.seen()) goaway = goaway || f.type == GOAWAY;
        EXPECT_TRUE(goaway);
    }
    {
        // Almost the preface: not HTTP/2, and not a valid HTTP/1 request either.
        const std::string reply =
            raw_exchange(server.port(), "PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", 5s);
        EXPECT_GE(raw_status(reply), 400) << reply;
    }
    {
        RawH2 client(server.port());
        client.send(std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + std::string(64, '\xff'));
        EXPECT_TRUE(client.wait_closed(5s));
    }
    EXPECT_EQ(h2_request(server.url("/small.txt")).status, 200);
}

TEST_F(Http2, ZeroWindowClientIsResetAndIdleConnectionClosed) {
    Server server(root.path(), {"--write-timeout", "2", "--keepalive-timeout", "2"});
    RawH2 client(server.port());
    ASSERT_TRUE(client.handshake({{0x4, 0}}));  // SETTINGS_INITIAL_WINDOW_SIZE = 0
    const auto start = std::chrono::steady_clock::now();
    client.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, request_block("GET", "/large.php")));
    // The client stays chatty (PINGs) while it opens no window: that must not save it.
    std::optional<Frame> reset;
    for (int i = 0; i < 30 && !reset; ++i) {
        client.send(frame(PING, 0, 0, std::string(8, 'p')));
        reset = client.until(RST_STREAM, 300ms, 1u);
    }
    ASSERT_TRUE(reset.has_value()) << "the stalled stream was not reset";
    const auto waited = std::chrono::steady_clock::now() - start;
    EXPECT_GE(waited, 1500ms);
    auto goaway = client.until(GOAWAY, 10s);
    ASSERT_TRUE(goaway.has_value()) << "the idle connection got no GOAWAY";
    EXPECT_EQ(goaway->error_code(), 0u);
    EXPECT_TRUE(client.wait_closed(5s));
}

// A client that opens its windows by `grant` bytes every 500 ms, for at most `how_long`,
// reading what arrives. Whether the server closed the connection, and the DATA bytes.
struct WindowedRead {
    bool cut = false;
    std::size_t data = 0;
};
WindowedRead read_with_windows(RawH2& client, std::uint32_t grant, std::chrono::seconds how_long) {
    WindowedRead result;
    const std::string increment{static_cast<char>(grant >> 24), static_cast<char>(grant >> 16),
                                static_cast<char>(grant >> 8), static_cast<char>(grant)};
    const auto end = std::chrono::steady_clock::now() + how_long;
    while (std::chrono::steady_clock::now() < end) {
        const auto slice_end = std::chrono::steady_clock::now() + 500ms;
        for (auto now = std::chrono::steady_clock::now(); now < slice_end;
             now = std::chrono::steady_clock::now()) {
            auto f =
                client.next(std::chrono::duration_cast<std::chrono::milliseconds>(slice_end - now));
            if (!f) break;
            if (f->type == DATA) result.data += f->payload.size();
        }
        if (client.closed()) {
            result.cut = true;
            break;
        }
        client.send(frame(WINDOW_UPDATE, 0, 1, increment) + frame(WINDOW_UPDATE, 0, 0, increment));
    }
    return result;
}

// A slow-read attack over HTTP/2: the client opens its window a little at a time, so the
// stream never stalls outright. Under --min-send-rate the connection is closed once it has
// been waited on for a window (20 s) below the rate; a client above it is served on.
TEST_F(Http2, AReaderBelowTheMinimumSendRateIsCutAndAFasterOneIsNot) {
    Server server(root.path(), {"--workers", "1", "--min-send-rate", "8K"});
    RawH2 slow(server.port()), fast(server.port());
    ASSERT_TRUE(slow.handshake({{0x4, 1024}}));  // SETTINGS_INITIAL_WINDOW_SIZE
    ASSERT_TRUE(fast.handshake({{0x4, 1024}}));
    slow.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, request_block("GET", "/large.php")));
    fast.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, request_block("GET", "/large.php")));
    WindowedRead slow_read, fast_read;
    std::thread slow_client([&] { slow_read = read_with_windows(slow, 512, 32s); });
    std::thread fast_client([&] { fast_read = read_with_windows(fast, 16384, 32s); });
    slow_client.join();
    fast_client.join();
    EXPECT_TRUE(slow_read.cut) << "a reader at 1 KB/s kept its connection; it got "
                               << slow_read.data;
    EXPECT_FALSE(fast_read.cut) << "a reader at 32 KB/s was cut; it got " << fast_read.data;
    EXPECT_GT(fast_read.data, 512u << 10);
    EXPECT_TRUE(server.wait_for_log("less than 8192 bytes/s over 20 s (min_send_rate)"));
}

TEST_F(Http2, GracefulStopSendsGoawayAndFinishesInFlight) {
    Server server(root.path(), {"--workers", "1"});
    RawH2 client(server.port());
    ASSERT_TRUE(client.handshake());
    client.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, request_block("GET", "/slow.php")));
    std::this_thread::sleep_for(200ms);
    ::kill(server.pid(), SIGTERM);
    // RFC 9113 section 6.8: first a GOAWAY that still takes streams in flight (last stream
    // 2^31-1), then one naming the last stream taken.
    auto last_stream = [](const Frame& f) {
        const auto* p = reinterpret_cast<const unsigned char*>(f.payload.data());
        return (std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 |
                p[3]) &
               0x7fffffff;
    };
    auto notice = client.until(GOAWAY, 5s);
    ASSERT_TRUE(notice.has_value()) << "no GOAWAY on SIGTERM";
    EXPECT_EQ(notice->error_code(), 0u);
    EXPECT_EQ(last_stream(*notice), 0x7fffffffu);
    // A request the client sent before it saw the GOAWAY is still answered.
    client.send(frame(HEADERS, END_HEADERS | END_STREAM, 3, request_block("GET", "/index.php")));
    std::map<std::uint32_t, std::string> bodies;
    std::map<std::uint32_t, bool> ended;
    std::optional<Frame> final_goaway;
    while (!(ended[1] && ended[3] && final_goaway)) {
        auto f = client.next(5s);
        if (!f) break;
        if (f->type == DATA) bodies[f->stream] += f->payload;
        if ((f->type == DATA || f->type == HEADERS) && (f->flags & END_STREAM))
            ended[f->stream] = true;
        if (f->type == GOAWAY) final_goaway = f;
    }
    EXPECT_TRUE(ended[1]) << "the in-flight request did not complete";
    EXPECT_EQ(bodies[1], "done");
    EXPECT_TRUE(ended[3]) << "the request sent across the first GOAWAY was dropped";
    EXPECT_EQ(bodies[3], "php HTTP/2.0");
    ASSERT_TRUE(final_goaway.has_value()) << "no final GOAWAY";
    EXPECT_EQ(last_stream(*final_goaway), 3u);
    EXPECT_TRUE(client.wait_closed(5s));
    EXPECT_EQ(server.stop(), 0);
}

TEST_F(Http2, ResetStreamAbortsItsScriptButFinishRequestDoesNot) {
    // A script that streams until the client leaves: the client resets the stream, PHP sees
    // connection_aborted() (as under php-fpm) and stops at its next flush().
    root.write("forever.php", R"(<?php
        register_shutdown_function(function () {
            file_put_contents(__DIR__ . '/aborted.txt', (string) connection_status()); });
        while (ob_get_level()) ob_end_flush();
        for ($i = 0; $i < 400; $i++) { echo str_repeat('y', 1000), "\n"; flush(); usleep(10000); })");
    // fastcgi_finish_request(): the response is complete, the script goes on undisturbed.
    root.write("finish.php", R"(<?php
        echo 'early';
        fastcgi_finish_request();
        usleep(300000);
        file_put_contents(__DIR__ . '/finished.txt', connection_aborted() ? 'aborted' : 'ok');)");
    Server server(root.path(), {"--workers", "1"});
    {
        RawH2 client(server.port());
        ASSERT_TRUE(client.handshake());
        client.send(
            frame(HEADERS, END_HEADERS | END_STREAM, 1, request_block("GET", "/forever.php")));
        ASSERT_TRUE(client.until(DATA, 5s, 1u).has_value());
        client.send(frame(RST_STREAM, 0, 1, std::string("\0\0\0\x08", 4)));
        for (int i = 0; i < 200 && !std::filesystem::exists(root.path() + "/aborted.txt"); ++i) {
            std::this_thread::sleep_for(20ms);
        }
    }
    ASSERT_TRUE(std::filesystem::exists(root.path() + "/aborted.txt"))
        << "the script ran to its end";
    const auto start = std::chrono::steady_clock::now();
    auto r = h2_request(server.url("/finish.php"));
    EXPECT_EQ(r.body, "early");
    EXPECT_LT(std::chrono::steady_clock::now() - start, 250ms)
        << "the response waited for the script";
    for (int i = 0; i < 100 && !std::filesystem::exists(root.path() + "/finished.txt"); ++i)
        std::this_thread::sleep_for(20ms);
    std::ifstream in(root.path() + "/finished.txt");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(text, "ok");
}

TEST_F(Http2, RecyclingAfterMaxRequestsSendsGoaway) {
    Server server(root.path(), {"--workers", "1", "--max-requests", "3"});
    RawH2 client(server.port());
    ASSERT_TRUE(client.handshake());
    for (std::uint32_t id = 1; id <= 5; id += 2) {
        client.send(
            frame(HEADERS, END_HEADERS | END_STREAM, id, request_block("GET", "/index.php")));
        auto end = client.until(DATA, 5s, id);
        ASSERT_TRUE(end.has_value()) << "stream " << id << " got no answer";
        EXPECT_EQ(end->payload, "php HTTP/2.0");
    }
    // The third request starts the drain: GOAWAY (before or after its answer), then the close.
    EXPECT_TRUE(client.wait_closed(5s));
    std::optional<Frame> goaway;
    for (const auto& f : client.seen()) {
        if (f.type == GOAWAY) goaway = f;
    }
    ASSERT_TRUE(goaway.has_value()) << "no GOAWAY when the worker recycles";
    EXPECT_EQ(goaway->error_code(), 0u);
    // A new worker takes over.
    EXPECT_EQ(h2_request(server.url("/index.php"), "GET").body, "php HTTP/2.0");
}

TEST_F(Http2, RandomFramesNeverCrashTheServer) {
    // Malformed input of every kind (frame types, flags, stream ids, lengths, HPACK bytes)
    // after a valid preface: each connection ends in an answer, a reset or a GOAWAY, and
    // the worker stays up (a crash would show as a new worker pid in the log, or as errors).
    Server server(root.path(), {"--workers", "1"});
    std::mt19937 random(20261124);
    auto byte = [&] { return static_cast<char>(random() & 0xff); };
    for (int connection = 0; connection < 150; ++connection) {
        RawH2 client(server.port());
        ASSERT_TRUE(client.connected());
        std::string bytes = std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + settings({});
        const int frames = 1 + static_cast<int>(random() % 8);
        for (int i = 0; i < frames; ++i) {
            const auto type = static_cast<std::uint8_t>(random() % 11);
            const auto flags = static_cast<std::uint8_t>(random() & 0x2d);
            const auto stream =
                static_cast<std::uint32_t>(random() % 4 == 0 ? 0 : 1 + 2 * (random() % 3));
            std::string payload;
            if (type == HEADERS && random() % 2 == 0) {
                payload = request_block("GET", "/index.php");
                if (random() % 2 == 0) payload[random() % payload.size()] = byte();
            } else {
                const std::size_t length = random() % 3 == 0 ? 0 : random() % 40;
                for (std::size_t j = 0; j < length; ++j) payload += byte();
            }
            bytes += frame(type, flags, stream, payload);
        }
        client.send(bytes);
        client.wait_closed(300ms);
    }
    EXPECT_EQ(h2_request(server.url("/index.php")).body, "php HTTP/2.0");
    EXPECT_EQ(server.log().find(") stopped: "), std::string::npos) << "a worker died:\n"
                                                                   << server.log();
}

TEST_F(Http2, WorkerModeRangesAndConditionalRequests) {
    // Worker mode: a stream's request reaches the booted app like an HTTP/1 one.
    root.write("worker.php", R"(<?php
        $boot = getmypid();
        while (askr_handle_request(function () use ($boot) {
            echo 'worker ', $_SERVER['SERVER_PROTOCOL'], ' ', $_SERVER['REQUEST_METHOD'], ' ',
                 strlen(file_get_contents('php://input'));
        })) {})");
    Server server(root.path(), {"--workers", "1", "--worker", root.path() + "/worker.php"});
    EXPECT_EQ(h2_request(server.url("/app")).body, "worker HTTP/2.0 GET 0");
    EXPECT_EQ(h2_request(server.url("/app"), "POST", pattern(200000)).body,
              "worker HTTP/2.0 POST 200000");
    // Static files keep ranges and validators.
    auto part = h2_request(server.url("/small.txt"), "GET", {}, {"Range: bytes=6-7"});
    EXPECT_EQ(part.status, 206);
    EXPECT_EQ(part.body, "ov");
    auto big_part = h2_request(server.url("/big.bin"), "GET", {}, {"Range: bytes=1000000-1099999"});
    EXPECT_EQ(big_part.status, 206);
    EXPECT_TRUE(big_part.body == pattern(3 << 20).substr(1000000, 100000))
        << "range of a large file differs";
    auto full = h2_request(server.url("/small.txt"));
    ASSERT_FALSE(full.header("etag").empty());
    auto same =
        h2_request(server.url("/small.txt"), "GET", {}, {"If-None-Match: " + full.header("etag")});
    EXPECT_EQ(same.status, 304);
    EXPECT_EQ(same.body, "");
}

TEST_F(Http2, StalledHeaderBlockAndBodyAreReset) {
    Server server(root.path(),
                  {"--header-timeout", "1", "--body-timeout", "1", "--keepalive-timeout", "2"});
    {
        // HEADERS without END_HEADERS, and the CONTINUATION never comes.
        RawH2 client(server.port());
        ASSERT_TRUE(client.handshake());
        client.send(frame(HEADERS, 0, 1, request_block("GET", "/index.php")));
        const auto start = std::chrono::steady_clock::now();
        EXPECT_TRUE(client.wait_closed(8s)) << "a stalled header block kept the connection";
        EXPECT_GE(std::chrono::steady_clock::now() - start, 900ms);
    }
    {
        // A POST whose body stops after a first DATA frame.
        RawH2 client(server.port());
        ASSERT_TRUE(client.handshake());
        client.send(frame(HEADERS, END_HEADERS, 1, request_block("POST", "/echo.php")) +
                    frame(DATA, 0, 1, "part"));
        auto reset = client.until(RST_STREAM, 6s, 1u);
        ASSERT_TRUE(reset.has_value()) << "the stalled body was not reset";
        EXPECT_EQ(reset->error_code(), 0x8u) << "expected CANCEL";
    }
}

TEST_F(Http2, ServerSideResetsProvokedByTheClientCountToo) {
    // "MadeYouReset": each stream is reset by the server because of what the client sent
    // on it (here an upper-case field name, malformed in HTTP/2, RFC 9113 section 8.2.1).
    // Sent 50 at a time, within the stream limit.
    Server server(root.path());
    RawH2 client(server.port());
    ASSERT_TRUE(client.handshake());
    std::optional<Frame> goaway;
    std::uint32_t id = 1;
    for (int batch = 0; batch < 8 && !goaway; ++batch) {
        std::string burst;
        for (int i = 0; i < 50; ++i, id += 2) {
            burst += frame(HEADERS, END_HEADERS | END_STREAM, id,
                           request_block("GET", "/index.php", {{"X-Bad", "1"}}));
        }
        client.send(burst);
        for (int resets = 0; resets < 50 && !goaway;) {
            auto f = client.next(5s);
            if (!f) break;
            if (f->type == RST_STREAM) ++resets;
            if (f->type == GOAWAY) goaway = f;
        }
    }
    ASSERT_TRUE(goaway.has_value()) << "no GOAWAY after 400 provoked resets";
    EXPECT_EQ(goaway->error_code(), 0xbu) << "expected ENHANCE_YOUR_CALM";
    EXPECT_TRUE(client.wait_closed(5s));
}

}  // namespace
}  // namespace askr::test::h2

namespace askr::test::h2 {
namespace {

// Request smuggling and malformed requests over HTTP/2 (RFC 9113 section 8.1.1 and
// 8.2): a content-length that disagrees with the DATA sent, connection-specific fields
// such as transfer-encoding or connection, and upper-case field names make the request
// malformed. Each is reset on its own stream, the script never runs, and the
// connection and other clients go on.
// The request-line rules of HTTP/1.1 hold over HTTP/2 too: a Host (or :authority) that
// is not a host is 400, a lower-case method 501, and a fragment is not part of :path.
TEST_F(Http2, HostMethodAndFragmentAnswerAsOverHttp1) {
    root.write("where.php", "<?php echo $_SERVER['HTTP_HOST'], '|', $_SERVER['REQUEST_URI'];");
    Server server(root.path());
    for (const std::string host : {"x:abc", "a.b.c:80:90", "x:99999"}) {
        auto r = h2_request(server.url("/where.php"), "GET", {}, {"Host: " + host});
        EXPECT_EQ(r.status, 400) << host << ": " << r.error << r.body;
    }
    auto fine = h2_request(server.url("/where.php"), "GET", {}, {"Host: example.com:8080"});
    EXPECT_EQ(fine.status, 200) << fine.error;
    EXPECT_EQ(fine.body, "example.com:8080|/where.php");
    auto lower = h2_request(server.url("/where.php"), "get");
    EXPECT_EQ(lower.status, 501) << lower.error << lower.body;

    RawH2 client(server.port());
    ASSERT_TRUE(client.handshake());
    client.send(
        frame(HEADERS, END_HEADERS | END_STREAM, 1, request_block("GET", "/where.php?a=1#frag")));
    auto data = client.until(DATA, 5s, 1u);
    ASSERT_TRUE(data.has_value()) << "no answer";
    EXPECT_EQ(data->payload, "localhost|/where.php?a=1");
}

TEST(Http2Smuggling, MalformedRequestsAreResetAndNeverReachPhp) {
    TempDir root;
    root.write(
        "log.php",
        R"(<?php file_put_contents(__DIR__ . '/runs.log', $_SERVER['REQUEST_METHOD'] . "\n", FILE_APPEND); echo 'ran';)");
    Server server(root.path());
    struct Case {
        const char* what;
        std::vector<std::pair<std::string, std::string>> fields;
        std::string body;  // sent as DATA with END_STREAM; empty: END_STREAM on HEADERS
    };
    const Case cases[] = {
        {"content-length larger than the body", {{"content-length", "5"}}, "0123456789"},
        {"content-length smaller than the body", {{"content-length", "50"}}, "0123456789"},
        {"transfer-encoding", {{"transfer-encoding", "chunked"}}, "5\r\nhello\r\n0\r\n\r\n"},
        {"connection", {{"connection", "keep-alive"}}, ""},
        {"upper-case field name", {{"X-Upper", "1"}}, ""},
    };
    RawH2 client(server.port());
    ASSERT_TRUE(client.handshake());
    std::uint32_t stream = 1;
    for (const auto& c : cases) {
        const std::string block = request_block("POST", "/log.php", c.fields);
        if (c.body.empty()) {
            ASSERT_TRUE(client.send(frame(HEADERS, END_HEADERS | END_STREAM, stream, block)))
                << c.what;
        } else {
            ASSERT_TRUE(client.send(frame(HEADERS, END_HEADERS, stream, block) +
                                    frame(DATA, END_STREAM, stream, c.body)))
                << c.what;
        }
        auto reset = client.until(RST_STREAM, std::chrono::seconds(5), stream);
        ASSERT_TRUE(reset.has_value()) << c.what << ": not reset";
        EXPECT_EQ(reset->error_code(), 1u) << c.what << ": expected PROTOCOL_ERROR";
        stream += 2;
    }
    // The same connection still serves a well-formed request.
    ASSERT_TRUE(client.send(
        frame(HEADERS, END_HEADERS | END_STREAM, stream, request_block("GET", "/log.php"))));
    auto answer = client.until(HEADERS, std::chrono::seconds(5), stream);
    EXPECT_TRUE(answer.has_value()) << "the connection broke after the refused requests";
    EXPECT_EQ(h2_request(server.url("/log.php")).status, 200);
    std::ifstream runs(root.path() + "/runs.log");
    std::string log((std::istreambuf_iterator<char>(runs)), std::istreambuf_iterator<char>());
    EXPECT_EQ(log, "GET\nGET\n") << "a malformed request reached PHP";
}

}  // namespace
}  // namespace askr::test::h2
