// Behind a reverse proxy: --trusted-proxy decides whose Forwarded / X-Forwarded-* headers
// set the client address, scheme, host and port PHP sees (and the access log records),
// over HTTP/1.1 and HTTP/2; from any other peer they stay ordinary headers.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "http2_support.hpp"

namespace askr::test {
namespace {

// One line per variable: NAME=value, "NAME" alone when unset.
constexpr const char* server_vars_php = R"(<?php
foreach (['REMOTE_ADDR', 'REMOTE_PORT', 'HTTPS', 'REQUEST_SCHEME', 'SERVER_PORT', 'HTTP_HOST',
          'SERVER_NAME', 'HTTP_X_FORWARDED_FOR', 'HTTP_FORWARDED'] as $name) {
    echo isset($_SERVER[$name]) ? "$name={$_SERVER[$name]}\n" : "$name\n";
})";

class Proxies : public ::testing::Test {
  protected:
    void SetUp() override { root.write("vars.php", server_vars_php); }

    static bool has(const std::string& body, const std::string& line) {
        return ("\n" + body).find("\n" + line + "\n") != std::string::npos;
    }

    TempDir root;
    TempDir logs;
    const std::vector<std::string> x_forwarded = {
        "X-Forwarded-For: 198.51.100.1, 203.0.113.7", "X-Forwarded-Proto: https",
        "X-Forwarded-Host: shop.example", "X-Forwarded-Port: 8443"};
};

TEST_F(Proxies, TrustedPeerSetsWhatPhpSeesOverHttp1) {
    const std::string access = logs.path() + "/access.log";
    Server server(root.path(), {"--trusted-proxy", "127.0.0.1", "--access-log", access});
    RequestOptions options;
    options.headers = x_forwarded;
    auto r = request(server.url("/vars.php"), options);
    ASSERT_EQ(r.status, 200) << r.error;
    EXPECT_TRUE(has(r.body, "REMOTE_ADDR=203.0.113.7")) << r.body;
    EXPECT_TRUE(has(r.body, "HTTPS=on")) << r.body;
    EXPECT_TRUE(has(r.body, "REQUEST_SCHEME=https")) << r.body;
    EXPECT_TRUE(has(r.body, "SERVER_PORT=8443")) << r.body;
    EXPECT_TRUE(has(r.body, "HTTP_HOST=shop.example")) << r.body;
    EXPECT_TRUE(has(r.body, "SERVER_NAME=shop.example")) << r.body;
    // The proxy's own header still reaches the app, as it was sent.
    EXPECT_TRUE(has(r.body, "HTTP_X_FORWARDED_FOR=198.51.100.1, 203.0.113.7")) << r.body;
    // The access log names the client, not the proxy.
    const auto lines = wait_for_lines(access, 1);
    ASSERT_FALSE(lines.empty()) << slurp(access);
    EXPECT_TRUE(lines[0].starts_with("203.0.113.7 - - [")) << lines[0];
}

TEST_F(Proxies, UntrustedPeerHeadersAreOrdinaryOverHttp1) {
    Server server(root.path(), {"--trusted-proxy", "10.0.0.0/8"});
    RequestOptions options;
    options.headers = x_forwarded;
    options.headers.push_back("Forwarded: for=192.0.2.1;proto=https;host=evil.example");
    auto r = request(server.url("/vars.php"), options);
    ASSERT_EQ(r.status, 200) << r.error;
    EXPECT_TRUE(has(r.body, "REMOTE_ADDR=127.0.0.1")) << r.body;
    EXPECT_TRUE(has(r.body, "HTTPS")) << r.body;
    EXPECT_TRUE(has(r.body, "REQUEST_SCHEME=http")) << r.body;
    EXPECT_TRUE(has(r.body, "SERVER_PORT=" + std::to_string(server.port()))) << r.body;
    EXPECT_TRUE(has(r.body, "HTTP_HOST=127.0.0.1:" + std::to_string(server.port()))) << r.body;
    EXPECT_TRUE(has(r.body, "HTTP_X_FORWARDED_FOR=198.51.100.1, 203.0.113.7")) << r.body;
    EXPECT_TRUE(has(r.body, "HTTP_FORWARDED=for=192.0.2.1;proto=https;host=evil.example")) << r.body;
}

TEST_F(Proxies, ForwardedWinsOverHttp2) {
    Server server(root.path(), {"--trusted-proxy", "127.0.0.0/8", "--trusted-proxy", "::1"});
    auto headers = x_forwarded;
    headers.push_back(R"(Forwarded: for="[2001:db8::5]:4444";proto=https;host="app.example:9443")");
    auto r = h2::h2_request(server.url("/vars.php"), "GET", {}, headers);
    ASSERT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.http_version, 3L) << "not HTTP/2";  // CURL_HTTP_VERSION_2_0
    EXPECT_TRUE(has(r.body, "REMOTE_ADDR=2001:db8::5")) << r.body;
    EXPECT_TRUE(has(r.body, "REMOTE_PORT=4444")) << r.body;
    EXPECT_TRUE(has(r.body, "HTTPS=on")) << r.body;
    EXPECT_TRUE(has(r.body, "SERVER_PORT=9443")) << r.body;
    EXPECT_TRUE(has(r.body, "HTTP_HOST=app.example:9443")) << r.body;
    EXPECT_TRUE(has(r.body, "SERVER_NAME=app.example")) << r.body;
}

TEST_F(Proxies, UntrustedPeerOverHttp2) {
    Server server(root.path(), {"--trusted-proxy", "10.0.0.0/8"});
    auto r = h2::h2_request(server.url("/vars.php"), "GET", {}, x_forwarded);
    ASSERT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.http_version, 3L) << "not HTTP/2";
    EXPECT_TRUE(has(r.body, "REMOTE_ADDR=127.0.0.1")) << r.body;
    EXPECT_TRUE(has(r.body, "REQUEST_SCHEME=http")) << r.body;
    EXPECT_TRUE(has(r.body, "HTTP_X_FORWARDED_FOR=198.51.100.1, 203.0.113.7")) << r.body;
}

TEST_F(Proxies, InvalidValuesAreIgnored) {
    Server server(root.path(), {"--trusted-proxy", "127.0.0.1"});
    RequestOptions options;
    options.headers = {"X-Forwarded-For: 203.0.113.7, not-an-address", "X-Forwarded-Proto: gopher",
                       "X-Forwarded-Host: evil.example/path", "X-Forwarded-Port: 70000"};
    auto r = request(server.url("/vars.php"), options);
    ASSERT_EQ(r.status, 200) << r.error;
    EXPECT_TRUE(has(r.body, "REMOTE_ADDR=127.0.0.1")) << r.body;
    EXPECT_TRUE(has(r.body, "REQUEST_SCHEME=http")) << r.body;
    EXPECT_TRUE(has(r.body, "SERVER_PORT=" + std::to_string(server.port()))) << r.body;
    EXPECT_TRUE(has(r.body, "HTTP_HOST=127.0.0.1:" + std::to_string(server.port()))) << r.body;
}

// A keep-alive connection's requests do not inherit each other's client.
TEST_F(Proxies, EachRequestOnAConnectionIsResolvedAlone) {
    Server server(root.path(), {"--trusted-proxy", "127.0.0.1", "--workers", "1"});
    const std::string both =
        "GET /vars.php HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\n\r\n"
        "GET /vars.php HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n";
    const auto out = raw_exchange(server.port(), both);
    const auto second = out.find("HTTP/1.1 200", 1);
    ASSERT_NE(second, std::string::npos) << out;
    const auto first_body = out.substr(0, second), second_body = out.substr(second);
    EXPECT_NE(first_body.find("REMOTE_ADDR=203.0.113.9\n"), std::string::npos) << out;
    EXPECT_NE(first_body.find("HTTPS=on\n"), std::string::npos) << out;
    EXPECT_NE(second_body.find("REMOTE_ADDR=127.0.0.1\n"), std::string::npos) << out;
    EXPECT_NE(second_body.find("REQUEST_SCHEME=http\n"), std::string::npos) << out;
    EXPECT_NE(second_body.find("SERVER_PORT=" + std::to_string(server.port()) + "\n"), std::string::npos) << out;
}

TEST_F(Proxies, ABadRangeStopsTheStartWithAClearMessage) {
    const auto out = command_output(std::string(ASKR_BINARY) + " serve --root " + root.path() +
                                    " --listen 127.0.0.1:0 --admin-listen off --trusted-proxy 10.0.0.1/8 2>&1");
    EXPECT_NE(out.find("trusted"), std::string::npos) << out;
    EXPECT_NE(out.find("did you mean 10.0.0.0/8"), std::string::npos) << out;
}

}  // namespace
}  // namespace askr::test
