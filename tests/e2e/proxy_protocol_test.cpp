// Behind a TCP load balancer: a listener with ",proxy-protocol" takes the client's address
// from the PROXY protocol header (v1 text, v2 binary) that opens each connection, over
// plain HTTP/1.1, HTTP/2 and TLS; a connection without a valid header is closed unanswered,
// and with --trusted-proxy only those peers may send one.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace askr::test {
namespace {

constexpr const char* server_vars_php = R"(<?php
foreach (['REMOTE_ADDR', 'REMOTE_PORT', 'SERVER_ADDR', 'SERVER_PORT', 'HTTPS', 'SERVER_PROTOCOL'] as $name) {
    echo isset($_SERVER[$name]) ? "$name={$_SERVER[$name]}\n" : "$name\n";
})";

bool has(const std::string& body, const std::string& line) {
    return ("\n" + body).find("\n" + line + "\n") != std::string::npos;
}

std::string bytes(std::initializer_list<int> values) {
    std::string out;
    for (int v : values) out += static_cast<char>(v);
    return out;
}

const std::string v2_signature("\r\n\r\n\0\r\nQUIT\n", 12);

// v2 PROXY over TCP/IPv6: [2001:db8::1]:4242 -> [2001:db8::2]:443, with an ALPN TLV.
std::string v2_ipv6_header() {
    std::string payload =
        bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,    1,    0x20, 0x01,
               0x0d, 0xb8, 0,    0,    0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0x10, 0x92, 0x01, 0xbb}) +
        bytes({0x01, 0, 2}) + "h2";
    return v2_signature + bytes({0x21, 0x21, 0, static_cast<int>(payload.size())}) + payload;
}

// v2 LOCAL (a balancer's health check): no addresses.
std::string v2_local_header() {
    return v2_signature + bytes({0x20, 0x00, 0, 0});
}

constexpr const char* v1_header = "PROXY TCP4 203.0.113.7 192.0.2.1 4242 8443\r\n";

std::string get_vars(bool close = true) {
    return std::string("GET /vars.php HTTP/1.1\r\nHost: app.example\r\n") +
           (close ? "Connection: close\r\n" : "") + "\r\n";
}

void send_all(int fd, const std::string& data) {
    std::size_t sent = 0;
    while (sent < data.size()) {
        const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) return;
        sent += static_cast<std::size_t>(n);
    }
}

// What a client got on a connection: the bytes, and whether the server closed it
// within the time allowed (false: it was still open when the test gave up).
struct Outcome {
    std::string received;
    bool closed = false;
};

// Sends each piece on `fd` (a pause between them, so that they arrive apart), then reads
// until the server closes or `timeout` passes; closes `fd`.
Outcome exchange_on(int fd, const std::vector<std::string>& pieces,
                    std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    Outcome out;
    if (fd < 0) return out;
    for (std::size_t i = 0; i < pieces.size(); ++i) {
        if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        send_all(fd, pieces[i]);
    }
    const auto until = std::chrono::steady_clock::now() + timeout;
    char buffer[65536];
    while (std::chrono::steady_clock::now() < until) {
        pollfd pfd{fd, POLLIN, 0};
        if (::poll(&pfd, 1, 100) <= 0) continue;
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) {
            out.closed = true;
            break;
        }
        out.received.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

Outcome exchange(std::uint16_t port, const std::vector<std::string>& pieces,
                 std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    return exchange_on(connect_loopback(port), pieces, timeout);
}

int connect_unix(const std::string& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

// A stand-in for a TCP load balancer: accepts clients on a loopback port of its own and
// relays each to `target`, opening the connection with `header` (the client's address
// as the balancer says it). Lets curl speak HTTP/2 or TLS through a made-up address.
class Balancer {
  public:
    Balancer(std::uint16_t target, std::string header)
        : target_(target), header_(std::move(header)) {
        listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof address;
        ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
        ::listen(listen_fd_, 8);
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
        port_ = ntohs(address.sin_port);
        thread_ = std::thread([this] { run(); });
    }
    ~Balancer() {
        stop_ = true;
        thread_.join();
        ::close(listen_fd_);
    }
    std::uint16_t port() const { return port_; }

  private:
    void run() {
        while (!stop_) {
            pollfd pfd{listen_fd_, POLLIN, 0};
            if (::poll(&pfd, 1, 100) <= 0) continue;
            const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (client < 0) continue;
            const int server = connect_loopback(target_);
            if (server >= 0) {
                send_all(server, header_);
                relay(client, server);
                ::close(server);
            }
            ::close(client);
        }
    }
    // Copies both ways until either side closes (one connection at a time; bounded by stop_).
    void relay(int client, int server) {
        char buffer[65536];
        while (!stop_) {
            pollfd pfds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
            if (::poll(pfds, 2, 100) <= 0) continue;
            for (int i = 0; i < 2; ++i) {
                if (!(pfds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
                const ssize_t n = ::recv(pfds[i].fd, buffer, sizeof buffer, 0);
                if (n <= 0) return;
                send_all(pfds[1 - i].fd, std::string(buffer, static_cast<std::size_t>(n)));
            }
        }
    }

    std::uint16_t target_;
    std::string header_;
    int listen_fd_ = -1;
    std::uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

class ProxyProtocol : public ::testing::Test {
  protected:
    void SetUp() override { root.write("vars.php", server_vars_php); }

    // A server with a plain listener (port()) and a PROXY-protocol one (proxy_port()).
    std::vector<std::string> args(std::vector<std::string> more = {}) const {
        std::vector<std::string> out = {"--listen", "127.0.0.1:0,proxy-protocol"};
        out.insert(out.end(), more.begin(), more.end());
        return out;
    }
    static std::string curl(const std::string& options) {
        return command_output("curl -s --max-time 10 " + options + " 2>&1");
    }

    TempDir root;
    TempDir logs;
};

TEST_F(ProxyProtocol, Version1AddressesReachPhpAndTheAccessLog) {
    const std::string access = logs.path() + "/access.log";
    Server server(root.path(), args({"--access-log", access}));
    ASSERT_NE(server.proxy_port(), 0);
    // The header alone first, then in pieces with the request: it is read whichever way it
    // arrives, and a keep-alive connection's next request keeps its addresses.
    const auto out = exchange(
        server.proxy_port(), {std::string(v1_header).substr(0, 9), std::string(v1_header).substr(9),
                              get_vars(false), get_vars(true)});
    ASSERT_TRUE(out.closed) << out.received;
    EXPECT_EQ(raw_status(out.received), 200) << out.received;
    const auto second = out.received.find("HTTP/1.1 200", 1);
    ASSERT_NE(second, std::string::npos) << out.received;
    for (const std::string& body : {out.received.substr(0, second), out.received.substr(second)}) {
        EXPECT_TRUE(has(body, "REMOTE_ADDR=203.0.113.7")) << body;
        EXPECT_TRUE(has(body, "REMOTE_PORT=4242")) << body;
        EXPECT_TRUE(has(body, "SERVER_ADDR=192.0.2.1")) << body;
        EXPECT_TRUE(has(body, "SERVER_PORT=8443")) << body;
    }
    const auto lines = wait_for_lines(access, 2);
    ASSERT_EQ(lines.size(), 2u) << slurp(access);
    EXPECT_TRUE(lines[0].starts_with("203.0.113.7 - - [")) << lines[0];
}

TEST_F(ProxyProtocol, Version2Ipv6AndLocal) {
    Server server(root.path(), args());
    auto out = exchange(server.proxy_port(), {v2_ipv6_header() + get_vars()});
    EXPECT_EQ(raw_status(out.received), 200) << out.received;
    EXPECT_TRUE(has(out.received, "REMOTE_ADDR=2001:db8::1")) << out.received;
    EXPECT_TRUE(has(out.received, "REMOTE_PORT=4242")) << out.received;
    EXPECT_TRUE(has(out.received, "SERVER_ADDR=2001:db8::2")) << out.received;
    EXPECT_TRUE(has(out.received, "SERVER_PORT=443")) << out.received;
    // LOCAL: the balancer's own connection (a health check) keeps the socket's addresses.
    out = exchange(server.proxy_port(), {v2_local_header(), get_vars()});
    EXPECT_EQ(raw_status(out.received), 200) << out.received;
    EXPECT_TRUE(has(out.received, "REMOTE_ADDR=127.0.0.1")) << out.received;
    EXPECT_TRUE(has(out.received, "SERVER_ADDR=127.0.0.1")) << out.received;
    EXPECT_TRUE(has(out.received, "SERVER_PORT=" + std::to_string(server.proxy_port())))
        << out.received;
    // v1 UNKNOWN as well.
    out = exchange(server.proxy_port(), {"PROXY UNKNOWN\r\n" + get_vars()});
    EXPECT_EQ(raw_status(out.received), 200) << out.received;
    EXPECT_TRUE(has(out.received, "REMOTE_ADDR=127.0.0.1")) << out.received;
}

TEST_F(ProxyProtocol, CurlsHaproxyProtocolOverHttp1AndHttp2) {
    Server server(root.path(), args());
    const std::string url = "http://127.0.0.1:" + std::to_string(server.proxy_port()) + "/vars.php";
    std::string body = curl("--haproxy-protocol " + url);
    EXPECT_TRUE(has(body, "REMOTE_ADDR=127.0.0.1")) << body;
    EXPECT_TRUE(has(body, "SERVER_PROTOCOL=HTTP/1.1")) << body;
    body = curl("--haproxy-protocol --http2-prior-knowledge " + url);
    EXPECT_TRUE(has(body, "REMOTE_ADDR=127.0.0.1")) << body;
    EXPECT_TRUE(has(body, "SERVER_PROTOCOL=HTTP/2.0")) << body;
    // HTTP/2 with prior knowledge after a made-up v2 address.
    Balancer balancer(server.proxy_port(), v2_ipv6_header());
    body = curl("--http2-prior-knowledge http://127.0.0.1:" + std::to_string(balancer.port()) +
                "/vars.php");
    EXPECT_TRUE(has(body, "REMOTE_ADDR=2001:db8::1")) << body;
    EXPECT_TRUE(has(body, "SERVER_PROTOCOL=HTTP/2.0")) << body;
}

TEST_F(ProxyProtocol, TlsAfterTheHeader) {
    TempDir certs;
    Server server(root.path(), args({"--tls-self-signed", "--tls-self-signed-dir", certs.path()}));
    ASSERT_NE(server.proxy_port(), 0);
    std::string body =
        curl("-k --haproxy-protocol https://127.0.0.1:" + std::to_string(server.proxy_port()) +
             "/vars.php");
    EXPECT_TRUE(has(body, "REMOTE_ADDR=127.0.0.1")) << body;
    EXPECT_TRUE(has(body, "HTTPS=on")) << body;
    Balancer balancer(server.proxy_port(), v1_header);
    const std::string through =
        "https://127.0.0.1:" + std::to_string(balancer.port()) + "/vars.php";
    body = curl("-k --http1.1 " + through);
    EXPECT_TRUE(has(body, "REMOTE_ADDR=203.0.113.7")) << body;
    EXPECT_TRUE(has(body, "HTTPS=on")) << body;
    EXPECT_TRUE(has(body, "SERVER_PROTOCOL=HTTP/1.1")) << body;
    body = curl("-k --http2 " + through);  // h2 chosen by ALPN
    EXPECT_TRUE(has(body, "REMOTE_ADDR=203.0.113.7")) << body;
    EXPECT_TRUE(has(body, "SERVER_PROTOCOL=HTTP/2.0")) << body;
}

TEST_F(ProxyProtocol, ConnectionsWithoutAValidHeaderAreClosedUnanswered) {
    Server server(root.path(), args({"--header-timeout", "1"}));
    const std::uint16_t port = server.proxy_port();
    const std::string broken_v2 = v2_signature + bytes({0x31, 0x11, 0, 12}) + std::string(12, '\0');
    for (const std::string& start :
         {get_vars(), std::string("PROXY TCP4 203.0.113.7 192.0.2.1 4242 99999\r\n"),
          std::string("PROXY TCP4  203.0.113.7 192.0.2.1 4242 443\r\n"),
          "PROXY TCP4 " + std::string(120, '1') + "\r\n", broken_v2}) {
        const auto out = exchange(port, {start + get_vars()});
        EXPECT_TRUE(out.closed) << start;
        EXPECT_EQ(out.received, "") << start;
    }
    // A client that sends nothing, or half a header, is closed after the header timeout.
    for (const std::string& start :
         {std::string(), std::string("PROXY TCP4 203.0"), v2_signature}) {
        const auto out = exchange(port, {start}, std::chrono::seconds(10));
        EXPECT_TRUE(out.closed) << start;
        EXPECT_EQ(out.received, "") << start;
    }
    // The server is fine afterwards.
    EXPECT_EQ(raw_status(exchange(port, {v1_header + get_vars()}).received), 200);
}

TEST_F(ProxyProtocol, PlainListenerTreatsAHeaderAsABadRequest) {
    Server server(root.path(), args());
    const auto out = exchange(server.port(), {v1_header + get_vars()});
    EXPECT_EQ(raw_status(out.received), 400) << out.received;
}

TEST_F(ProxyProtocol, OnlyTrustedProxiesMaySendTheHeader) {
    Server server(root.path(), args({"--trusted-proxy", "10.0.0.0/8"}));
    const auto out = exchange(server.proxy_port(), {v1_header + get_vars()});
    EXPECT_TRUE(out.closed);
    EXPECT_EQ(out.received, "");
    const std::string body = curl(
        "--haproxy-protocol http://127.0.0.1:" + std::to_string(server.proxy_port()) + "/vars.php");
    EXPECT_EQ(body.find("REMOTE_ADDR"), std::string::npos) << body;
    EXPECT_TRUE(server.wait_for_log("the peer is not a trusted proxy")) << server.log();
}

// The trusted-proxy stage judges the address the header gave: a proxy behind the balancer
// that is itself trusted may name the client in X-Forwarded-For; an untrusted one may not.
TEST_F(ProxyProtocol, ForwardingHeadersAreJudgedFromTheHeadersAddress) {
    const std::string request =
        "GET /vars.php HTTP/1.1\r\nHost: app.example\r\nX-Forwarded-For: "
        "198.51.100.9\r\nConnection: close\r\n\r\n";
    {
        Server server(root.path(),
                      args({"--trusted-proxy", "127.0.0.1", "--trusted-proxy", "203.0.113.0/24"}));
        const auto out = exchange(server.proxy_port(), {v1_header + request});
        EXPECT_TRUE(has(out.received, "REMOTE_ADDR=198.51.100.9")) << out.received;
    }
    {
        Server server(root.path(), args({"--trusted-proxy", "127.0.0.1"}));
        const auto out = exchange(server.proxy_port(), {v1_header + request});
        EXPECT_TRUE(has(out.received, "REMOTE_ADDR=203.0.113.7")) << out.received;
        EXPECT_TRUE(has(out.received, "REMOTE_PORT=4242")) << out.received;
    }
}

// A balancer on the same machine may connect through a unix socket (HAProxy's
// `server app unix@/run/askr.sock send-proxy-v2`); --trusted-proxy unix lets it.
TEST_F(ProxyProtocol, UnixSocketListener) {
    const std::string socket = logs.path() + "/askr.sock";
    {
        Server server(root.path(), args({"--listen", "unix:" + socket + ",proxy-protocol"}));
        ASSERT_TRUE(server.wait_for_log("listening on http+unix:" + socket + " (PROXY protocol)"))
            << server.log();
        auto out = exchange_on(connect_unix(socket), {v1_header + get_vars()});
        EXPECT_TRUE(has(out.received, "REMOTE_ADDR=203.0.113.7")) << out.received;
        EXPECT_TRUE(has(out.received, "SERVER_PORT=8443")) << out.received;
        out = exchange_on(connect_unix(socket), {v2_local_header() + get_vars()});
        EXPECT_TRUE(has(out.received, "REMOTE_ADDR=unix:")) << out.received;
        out = exchange_on(connect_unix(socket), {get_vars()});
        EXPECT_TRUE(out.closed);
        EXPECT_EQ(out.received, "");
    }
    for (const char* trusted : {"unix", "10.0.0.0/8"}) {
        Server server(root.path(), args({"--listen", "unix:" + socket + ",proxy-protocol",
                                         "--trusted-proxy", trusted}));
        ASSERT_TRUE(server.wait_for_log("listening on http+unix:" + socket)) << server.log();
        const auto out = exchange_on(connect_unix(socket), {v1_header + get_vars()});
        if (std::string(trusted) == "unix") {
            EXPECT_TRUE(has(out.received, "REMOTE_ADDR=203.0.113.7")) << out.received;
        } else {
            EXPECT_TRUE(out.closed);
            EXPECT_EQ(out.received, "") << "a unix peer is not in 10.0.0.0/8";
        }
    }
}

TEST_F(ProxyProtocol, RedirectListenerTakesTheOptionToo) {
    TempDir certs;
    Server server(root.path(), {"--tls-self-signed", "--tls-self-signed-dir", certs.path(),
                                "--listen-http", "127.0.0.1:0,proxy-protocol"});
    ASSERT_NE(server.http_port(), 0);
    auto out = exchange(server.http_port(), {v1_header + get_vars()});
    EXPECT_EQ(raw_status(out.received), 308) << out.received;
    out = exchange(server.http_port(), {get_vars()});
    EXPECT_TRUE(out.closed);
    EXPECT_EQ(out.received, "");
}

}  // namespace
}  // namespace askr::test
