// End-to-end HTTP/1.x behaviour of `askr serve` as a client on the wire sees it: keep-alive,
// pipelining, chunked request bodies, Expect: 100-continue, HEAD, Date/Server, HTTP/1.0,
// the refusal of bad input (RFC 9112) without harm to other clients, and the timeouts.
// Most tests talk raw TCP: libcurl would normalise or refuse the very bytes under test.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "harness.hpp"

namespace askr::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string lower(std::string text) {
    for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

/// One response read off a raw connection.
struct RawResponse {
    int status = 0;  ///< 0: no complete response arrived
    std::string status_line;
    std::vector<std::pair<std::string, std::string>> headers;  ///< names lower-case
    std::string body;                                          ///< de-chunked
    bool chunked = false;

    std::string header(const std::string& name) const {
        for (const auto& [n, v] : headers) {
            if (n == name) return v;
        }
        return {};
    }
    bool has_header(const std::string& name) const {
        for (const auto& [n, v] : headers) {
            if (n == name) return true;
        }
        return false;
    }
};

/// A client TCP connection to the server that sends exactly the bytes it is given and
/// parses responses itself (Content-Length, chunked, or until close), so that several
/// requests can share it and what the server sends between responses is visible.
class RawConnection {
  public:
    explicit RawConnection(std::uint16_t port) {
        fd_ = connect_loopback(port);
        if (fd_ < 0) {
            ADD_FAILURE() << "connect to port " << port << ": " << std::strerror(errno);
            return;
        }
        int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // pieces go out as pieces
    }
    ~RawConnection() {
        if (fd_ >= 0) ::close(fd_);
    }
    RawConnection(const RawConnection&) = delete;
    RawConnection& operator=(const RawConnection&) = delete;

    /// Sends all of `bytes`; false when the server has closed or reset the connection.
    bool send(std::string_view bytes) {
        std::size_t sent = 0;
        while (fd_ >= 0 && sent < bytes.size()) {
            ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
            if (n <= 0) return false;
            sent += static_cast<std::size_t>(n);
        }
        return fd_ >= 0;
    }

    /// Sends `bytes` one byte per write, with a short pause so that they arrive apart.
    bool send_bytewise(std::string_view bytes, std::chrono::microseconds pause = 200us) {
        for (char c : bytes) {
            if (!send(std::string_view(&c, 1))) return false;
            std::this_thread::sleep_for(pause);
        }
        return true;
    }

    /// Reads one response (an interim 1xx one included). `no_body` for HEAD requests.
    /// status 0 when none is complete within `timeout`.
    RawResponse read_response(bool no_body = false, std::chrono::milliseconds timeout = 5s) {
        const auto until = Clock::now() + timeout;
        RawResponse response;
        std::size_t end;
        while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
            if (!fill(until)) return response;
        }
        std::istringstream head(buffer_.substr(0, end));
        buffer_.erase(0, end + 4);
        std::string line;
        std::getline(head, line);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        response.status_line = line;
        if (line.rfind("HTTP/1.", 0) != 0 || line.size() < 12) return response;
        const int status = std::atoi(line.c_str() + 9);
        while (std::getline(head, line)) {
            if (!line.empty() && line.back() == '\r') line.pop_back();
            auto colon = line.find(':');
            if (colon == std::string::npos) continue;
            std::string value = line.substr(colon + 1);
            while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
                value.erase(0, 1);
            response.headers.emplace_back(lower(line.substr(0, colon)), value);
        }
        const bool bodiless = no_body || status / 100 == 1 || status == 204 || status == 304;
        if (bodiless) {
            response.status = status;
            return response;
        }
        if (lower(response.header("transfer-encoding")).find("chunked") != std::string::npos) {
            response.chunked = true;
            for (;;) {  // RFC 9112 section 7.1
                std::size_t eol;
                while ((eol = buffer_.find("\r\n")) == std::string::npos) {
                    if (!fill(until)) return response;
                }
                const std::size_t size = std::stoul(buffer_.substr(0, eol), nullptr, 16);
                if (size == 0) {
                    std::size_t trailer_end;
                    // Trailer fields (if any) end with an empty line: "0\r\n" [fields] "\r\n".
                    while ((trailer_end = buffer_.find("\r\n\r\n", eol)) == std::string::npos) {
                        if (!fill(until)) return response;
                    }
                    buffer_.erase(0, trailer_end + 4);
                    break;
                }
                while (buffer_.size() < eol + 2 + size + 2) {
                    if (!fill(until)) return response;
                }
                response.body.append(buffer_, eol + 2, size);
                buffer_.erase(0, eol + 2 + size + 2);
            }
        } else if (response.has_header("content-length")) {
            const std::size_t length = std::stoul(response.header("content-length"));
            while (buffer_.size() < length) {
                if (!fill(until)) return response;
            }
            response.body = buffer_.substr(0, length);
            buffer_.erase(0, length);
        } else {
            while (fill(until)) {
            }
            if (!eof_) return response;  // the body never ended
            response.body = std::move(buffer_);
            buffer_.clear();
        }
        response.status = status;
        return response;
    }

    /// True when the server closes the connection (FIN or reset) within `timeout`; what
    /// it sent before closing (beyond what read_response consumed) lands in `unread`.
    bool wait_for_close(std::chrono::milliseconds timeout, std::string* unread = nullptr) {
        const auto until = Clock::now() + timeout;
        while (!eof_ && fill(until)) {
        }
        if (unread) *unread = buffer_;
        return eof_;
    }

    /// Bytes received but not part of a response read so far.
    const std::string& pending() const { return buffer_; }

  private:
    /// Reads what is available into buffer_; false on timeout or end of stream.
    bool fill(Clock::time_point until) {
        if (fd_ < 0 || eof_) return false;
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
        if (left <= 0) return false;
        pollfd pfd{fd_, POLLIN, 0};
        if (::poll(&pfd, 1, static_cast<int>(left)) <= 0) return false;
        char chunk[65536];
        ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
        if (n <= 0) {
            eof_ = true;  // FIN, or ECONNRESET: either way the server closed
            return false;
        }
        buffer_.append(chunk, static_cast<std::size_t>(n));
        return true;
    }

    int fd_ = -1;
    std::string buffer_;
    bool eof_ = false;
};

/// A front controller that reports what it received, and a static file.
void write_echo_app(const TempDir& root) {
    root.write("index.php", R"(<?php
        $body = file_get_contents('php://input');
        header('X-Seen-Method: ' . $_SERVER['REQUEST_METHOD']);
        $pattern = '0123456789abcdef';
        $intact = strlen($body) % 16 == 0 && $body === str_repeat($pattern, strlen($body) / 16);
        echo $_SERVER['REQUEST_METHOD'], ' ', $_SERVER['REQUEST_URI'], ' ', strlen($body),
             $intact && $body !== '' ? ' pattern' : '', $body !== '' && strlen($body) < 64 ? ' ' . $body : '';)");
    root.write("hello.txt", "hello\n");
}

/// What index.php of write_echo_app answers for a request.
std::string echo_of(const std::string& method, const std::string& uri,
                    const std::string& body = "") {
    std::string text = method + " " + uri + " " + std::to_string(body.size());
    if (!body.empty() && body.size() < 64) text += " " + body;
    return text;
}

std::string get_request(const std::string& target, const std::string& extra_headers = "") {
    return "GET " + target + " HTTP/1.1\r\nHost: localhost\r\n" + extra_headers + "\r\n";
}

std::string pattern_body(std::size_t sixteen_byte_blocks) {
    std::string body;
    for (std::size_t i = 0; i < sixteen_byte_blocks; ++i) body += "0123456789abcdef";
    return body;
}

/// Seconds since the epoch of an IMF-fixdate (RFC 9110 section 5.6.7), -1 if it is not one.
long long parse_imf_fixdate(const std::string& text) {
    std::tm tm{};
    const char* end = ::strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!end || *end != '\0' || text.size() != 29) return -1;
    return static_cast<long long>(::timegm(&tm));
}

// ---------------------------------------------------------------- keep-alive, pipelining

TEST(Http1, KeepAliveAnswersTwoRequestsOnOneConnection) {
    TempDir root;
    write_echo_app(root);
    Server server(root.path());
    RawConnection connection(server.port());
    ASSERT_TRUE(connection.send(get_request("/first")));
    auto first = connection.read_response();
    EXPECT_EQ(first.status, 200) << first.status_line;
    EXPECT_EQ(first.body, echo_of("GET", "/first"));
    EXPECT_NE(lower(first.header("connection")), "close");
    // The second request goes out only after the first answer: the connection stayed open.
    ASSERT_TRUE(connection.send(get_request("/hello.txt")));
    auto second = connection.read_response();
    EXPECT_EQ(second.status, 200) << second.status_line;
    EXPECT_EQ(second.body, "hello\n");
    ASSERT_TRUE(connection.send(get_request("/third")));
    auto third = connection.read_response();
    EXPECT_EQ(third.status, 200) << third.status_line;
    EXPECT_EQ(third.body, echo_of("GET", "/third"));
    EXPECT_FALSE(connection.wait_for_close(300ms)) << "the server closed a keep-alive connection";
}

// RFC 9112 section 5.2: obs-fold is refused (400), never unfolded: a proxy in front that
// does not unfold would see another request ("Transfer-Encoding:" empty, then a line).
TEST(Http1, ObsFoldIsRefused) {
    TempDir root;
    write_echo_app(root);
    Server server(root.path());
    for (const std::string head :
         {"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n"
          "5\r\nhello\r\n0\r\n\r\n",
          "GET /echo HTTP/1.1\r\nHost: x\r\nX-Long: a\r\n\tb\r\n\r\n"}) {
        const std::string response = raw_exchange(server.port(), head);
        EXPECT_EQ(response.rfind("HTTP/1.1 400 ", 0), 0u) << response;
        EXPECT_EQ(response.find("hello"), std::string::npos) << response;
    }
    // A space inside a value, or at a body's start, is no fold.
    const std::string fine =
        raw_exchange(server.port(),
                     "POST /echo HTTP/1.1\r\nHost: x\r\nX-A: a b\r\nContent-Length: 3\r\n"
                     "Connection: close\r\n\r\n  x");
    EXPECT_EQ(fine.rfind("HTTP/1.1 200 ", 0), 0u) << fine;
}

TEST(Http1, ConnectionCloseIsHonoured) {
    TempDir root;
    write_echo_app(root);
    Server server(root.path());
    for (const std::string target : {"/php-script", "/hello.txt"}) {
        RawConnection connection(server.port());
        ASSERT_TRUE(connection.send(get_request(target, "Connection: close\r\n")));
        auto response = connection.read_response();
        EXPECT_EQ(response.status, 200) << target;
        EXPECT_EQ(lower(response.header("connection")), "close") << target;
        std::string extra;
        EXPECT_TRUE(connection.wait_for_close(2s, &extra))
            << target << ": the server kept the connection open";
        EXPECT_EQ(extra, "") << target;
    }
}

TEST(Http1, PipelinedRequestsAreAnsweredInOrder) {
    TempDir root;
    write_echo_app(root);
    Server server(root.path());
    RawConnection connection(server.port());
    // Three requests in one write; the last one asks the server to close afterwards.
    ASSERT_TRUE(connection.send(get_request("/one") +
                                "POST /two?x=1 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
                                "Content-Type: text/plain\r\n\r\nabcde" +
                                get_request("/hello.txt", "Connection: close\r\n")));
    auto one = connection.read_response();
    auto two = connection.read_response();
    auto three = connection.read_response();
    EXPECT_EQ(one.status, 200) << one.status_line;
    EXPECT_EQ(one.body, echo_of("GET", "/one"));
    EXPECT_EQ(two.status, 200) << two.status_line;
    EXPECT_EQ(two.body, echo_of("POST", "/two?x=1", "abcde"));
    EXPECT_EQ(three.status, 200) << three.status_line;
    EXPECT_EQ(three.body, "hello\n");
    EXPECT_TRUE(connection.wait_for_close(2s));
}

TEST(Http1, PipelinedRequestsAfterConnectionCloseAreNotExecuted) {
    TempDir root;
    write_echo_app(root);
    root.write(
        "append.php",
        R"(<?php file_put_contents(__DIR__ . '/runs.log', $_SERVER['QUERY_STRING'] . "\n", FILE_APPEND); echo 'ran';)");
    Server server(root.path());
    RawConnection connection(server.port());
    ASSERT_TRUE(connection.send(get_request("/append.php?first", "Connection: close\r\n") +
                                get_request("/append.php?second")));
    auto response = connection.read_response();
    EXPECT_EQ(response.status, 200);
    std::string rest;
    EXPECT_TRUE(connection.wait_for_close(2s, &rest));
    EXPECT_EQ(rest, "") << "a request after 'Connection: close' was answered";
    std::ifstream runs(root.path() + "/runs.log");
    std::ostringstream text;
    text << runs.rdbuf();
    EXPECT_EQ(text.str(), "first\n");
}

TEST(Http1, GetWithBodyDoesNotDesynchroniseTheConnection) {
    TempDir root;
    write_echo_app(root);
    Server server(root.path());
    RawConnection connection(server.port());
    // The body of the first request looks like a request; it must be read as a body.
    const std::string body = get_request("/inner");
    ASSERT_TRUE(connection.send(
        "GET /outer HTTP/1.1\r\nHost: localhost\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\n\r\n" + body + get_request("/next")));
    auto first = connection.read_response();
    EXPECT_EQ(first.status, 200);
    EXPECT_EQ(first.body.rfind("GET /outer " + std::to_string(body.size()), 0), 0u) << first.body;
    auto second = connection.read_response();
    EXPECT_EQ(second.status, 200);
    EXPECT_EQ(second.body, echo_of("GET", "/next"));
    EXPECT_EQ(connection.read_response(false, 300ms).status, 0) << "a third response appeared";
}

TEST(Http1, AbsoluteFormRequestTargetIsServed) {
    TempDir root;
    write_echo_app(root);
    Server server(root.path());
    RawConnection connection(server.port());
    // RFC 9112 section 3.2.2: a server MUST accept the absolute-form.
    ASSERT_TRUE(connection.send(get_request("http://localhost/hello.txt") +
                                get_request("http://localhost/app?q=1")));
    auto file = connection.read_response();
    EXPECT_EQ(file.status, 200) << file.status_line;
    EXPECT_EQ(file.body, "hello\n");
    auto php = connection.read_response();
    EXPECT_EQ(php.status, 200) << php.status_line;
    EXPECT_EQ(php.body, echo_of("GET", "/app?q=1"));
}

// What PHP sees of where a request went: Host, REQUEST_URI, QUERY_STRING.
void write_where_app(const TempDir& root) {
    root.write("where.php",
               "<?php echo $_SERVER['HTTP_HOST'] ?? '-', '|', $_SERVER['SERVER_NAME'] ?? '-', '|', "
               "$_SERVER['REQUEST_URI'], '|', $_SERVER['QUERY_STRING'] ?? '';");
    root.write("hello.txt", "hello\n");
}

// RFC 9112 section 3.2.2: with an absolute-form target the server MUST ignore Host and use
// the target's authority; only http and https targets, and no userinfo (RFC 9110 4.2.4).
TEST(Http1, AbsoluteFormAuthorityWinsOverHost) {
    TempDir root;
    write_where_app(root);
    Server server(root.path());
    const std::string answer = raw_exchange(server.port(),
                                            "GET http://real.example:8080/where.php?x=1 "
                                            "HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(answer.rfind("HTTP/1.1 200 ", 0), 0u) << answer;
    EXPECT_NE(answer.find("\r\n\r\nreal.example:8080|real.example|/where.php?x=1|x=1"),
              std::string::npos)
        << answer;
    // An authority without a path stands for "/", with its query kept.
    const std::string root_only = raw_exchange(
        server.port(),
        "GET HTTPS://real.example?y=2 HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(root_only.rfind("HTTP/1.1 404 ", 0), 0u) << "no index.php: " << root_only;
    for (const std::string target :
         {"http://user@real.example/where.php", "ftp://real.example/where.php",
          "http://real.example:99999/where.php", "http:///where.php"}) {
        const std::string refused =
            raw_exchange(server.port(),
                         "GET " + target + " HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n");
        EXPECT_EQ(refused.rfind("HTTP/1.1 400 ", 0), 0u) << target << ": " << refused;
    }
}

// RFC 9110 section 7.2 / RFC 3986 section 3.2.2: Host is a host and an optional port.
TEST(Http1, InvalidHostGets400) {
    TempDir root;
    write_where_app(root);
    Server server(root.path());
    for (const std::string host :
         {"x:abc", "a.b.c:80:90", "x:99999", "[::1", "[::1]x", ":80", "u@x", "x/y"}) {
        const std::string answer =
            raw_exchange(server.port(), "GET /where.php HTTP/1.1\r\nHost: " + host +
                                            "\r\nConnection: close\r\n\r\n");
        EXPECT_EQ(answer.rfind("HTTP/1.1 400 ", 0), 0u) << host << ": " << answer;
    }
    for (const std::string host : {"x:65535", "[::1]:8080", "127.0.0.1", "a-b.example_c", "x:"}) {
        const std::string answer =
            raw_exchange(server.port(), "GET /where.php HTTP/1.1\r\nHost: " + host +
                                            "\r\nConnection: close\r\n\r\n");
        EXPECT_EQ(answer.rfind("HTTP/1.1 200 ", 0), 0u) << host << ": " << answer;
        EXPECT_NE(answer.find("\r\n\r\n" + host + "|"), std::string::npos) << answer;
    }
}

// RFC 9110 section 9.1: methods are case-sensitive tokens. A well-formed method this server
// does not know is 501, one that is not a token 400; CONNECT (a tunnel) is 501.
TEST(Http1, MethodsAreCaseSensitiveTokens) {
    TempDir root;
    write_where_app(root);
    Server server(root.path());
    const std::pair<std::string, int> cases[] = {
        {"get /where.php HTTP/1.1\r\nHost: x\r\n\r\n", 501},
        {"FOO /where.php HTTP/1.1\r\nHost: x\r\n\r\n", 501},
        {"\r\nBREW /where.php HTTP/1.1\r\nHost: x\r\n\r\n", 501},
        {"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 501},
        {"G@T /where.php HTTP/1.1\r\nHost: x\r\n\r\n", 400},
        {"GARBAGE\r\n\r\n", 400},
        {"GET\x01 /where.php HTTP/1.1\r\nHost: x\r\n\r\n", 400},
    };
    for (const auto& [request, status] : cases) {
        const std::string answer = raw_exchange(server.port(), request);
        EXPECT_EQ(answer.rfind("HTTP/1.1 " + std::to_string(status) + " ", 0), 0u)
            << ::testing::PrintToString(request) << ": " << answer;
        EXPECT_EQ(answer.find("|/where.php"), std::string::npos) << "PHP ran: " << answer;
    }
}

// RFC 3986 section 3.5: a fragment is not part of the resource; a client that sends one
// anyway gets the resource without it.
TEST(Http1, FragmentIsNotPartOfTheTarget) {
    TempDir root;
    write_where_app(root);
    Server server(root.path());
    RawConnection connection(server.port());
    ASSERT_TRUE(connection.send(get_request("/where.php#top") + get_request("/where.php?a=1#b?c") +
                                get_request("/hello.txt#x")));
    auto plain = connection.read_response();
    EXPECT_EQ(plain.status, 200) << plain.status_line;
    EXPECT_EQ(plain.body, "localhost|localhost|/where.php|");
    auto query = connection.read_response();
    EXPECT_EQ(query.body, "localhost|localhost|/where.php?a=1|a=1");
    auto file = connection.read_response();
    EXPECT_EQ(file.status, 200) << file.status_line;
    EXPECT_EQ(file.body, "hello\n");
}

TEST(Http1, UpgradeToH2cIsIgnored) {
    TempDir root;
    write_echo_app(root);
    Server server(root.path());
    RawConnection connection(server.port());
    // What `curl --http2 http://...` sends; a server without h2c answers in HTTP/1.1
    // (RFC 9110 section 7.8: Upgrade may be ignored).
    ASSERT_TRUE(
        connection.send(get_request("/up",
                                    "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                                    "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n")));
    auto response = connection.read_response();
    EXPECT_EQ(response.status, 200) << response.status_line;
    EXPECT_EQ(response.body, echo_of("GET", "/up"));
}

TEST(Http1, ManyPipelinedRequestsSentOneByteAtATime) {
    TempDir root;
    write_echo_app(root);
    Server server(root.path());
    RawConnection connection(server.port());
    std::string requests;
    for (int i = 0; i < 5; ++i) requests += get_request("/r" + std::to_string(i));
    requests +=
        "POST /r5 HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: "
        "chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n";
    ASSERT_TRUE(connection.send_bytewise(requests));
    for (int i = 0; i < 5; ++i) {
        auto response = connection.read_response();
        EXPECT_EQ(response.status, 200) << i;
        EXPECT_EQ(response.body, echo_of("GET", "/r" + std::to_string(i)));
    }
    auto last = connection.read_response();
    EXPECT_EQ(last.status, 200);
    EXPECT_EQ(last.body, echo_of("POST", "/r5", "xyz"));
}

TEST(Http1, LargeStaticFileFollowedByPipelinedRequestsKeepsFraming) {
    TempDir root;
    write_echo_app(root);
    std::string big(3 * 1024 * 1024 + 7, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 7919) >> 3);
    root.write("big.bin", big);
    Server server(root.path());
    RawConnection connection(server.port());
    // The large file goes out with sendfile; what follows must start exactly after it.
    ASSERT_TRUE(connection.send(get_request("/big.bin") + get_request("/hello.txt") +
                                get_request("/big.bin", "Range: bytes=100-199\r\n") +
                                get_request("/php")));
    auto first = connection.read_response(false, 20s);
    EXPECT_EQ(first.status, 200) << first.status_line;
    EXPECT_TRUE(first.body == big)
        << "the large file arrived with " << first.body.size() << " bytes";
    auto second = connection.read_response();
    EXPECT_EQ(second.status, 200) << second.status_line;
    EXPECT_EQ(second.body, "hello\n");
    auto third = connection.read_response();
    EXPECT_EQ(third.status, 206) << third.status_line;
    EXPECT_TRUE(third.body == big.substr(100, 100));
    auto fourth = connection.read_response();
    EXPECT_EQ(fourth.status, 200) << fourth.status_line;
    EXPECT_EQ(fourth.body, echo_of("GET", "/php"));
}

TEST(Http1, StaticFilesAreServedWhilePhpIsBusy) {
    TempDir root;
    root.write("slow.php", "<?php usleep(1500000); echo 'slow done';");
    root.write("hello.txt", "hello\n");
    Server server(root.path());
    RawConnection slow(server.port());
    ASSERT_TRUE(slow.send(get_request("/slow.php")));
    std::this_thread::sleep_for(200ms);  // the script is running now
    const auto start = Clock::now();
    RequestOptions quick;
    quick.timeout_ms = 5000;
    auto file = request(server.url("/hello.txt"), quick);
    EXPECT_EQ(file.status, 200);
    EXPECT_LE(Clock::now() - start, 700ms)
        << "a static file waited for a PHP script of another client";
    auto slow_response = slow.read_response(false, 5s);
    EXPECT_EQ(slow_response.status, 200);
    EXPECT_EQ(slow_response.body, "slow done");
}

// ---------------------------------------------------------------- request bodies

TEST(Http1, ChunkedRequestBodyArrivingInPiecesReachesPhp) {
    TempDir root;
    write_echo_app(root);
    Server server(root.path());
    RawConnection connection(server.port());
    ASSERT_TRUE(
        connection.send("POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
                        "Content-Type: application/octet-stream\r\n\r\n"));
    // Chunk boundaries deliberately fall inside size lines, data and CRLFs.
    for (std::string piece : {"5\r\nhel", "lo\r\n", "6;ext=1\r", "\n worl", "d\r\n0\r", "\n\r\n"}) {
        std::this_thread::sleep_for(50ms);
        ASSERT_TRUE(connection.send(piece));
    }
    auto response = connection.read_response();
    EXPECT_EQ(response.status, 200) << response.status_line;
    EXPECT_EQ(response.body, echo_of("POST", "/upload", "hello world"));
}

TEST(Http1, LargeChunkedRequestBodyArrivesIntact) {
    TempDir root;
    write_echo_app(root);
    Server server(root.path());
    RawConnection connection(server.port());
    const std::string body = pattern_body(64 * 1024);  // 1 MiB
    std::string request =
        "PUT /big HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n";
    const std::size_t sizes[] = {1, 15, 4096, 70000, 300000};
    std::size_t offset = 0;
    for (std::size_t i = 0; offset < body.size(); ++i) {
        const std::size_t size = std::min(sizes[i % 5], body.size() - offset);
        char line[32];
        std::snprintf(line, sizeof line, "%zx\r\n", size);
        request += line;
        request.append(body, offset, size);
        request += "\r\n";
        offset += size;
    }
    request += "0\r\nX-Trailer: yes\r\n\r\n";
    ASSERT_TRUE(connection.send(request));
    auto response = connection.read_response(false, 10s);
    EXPECT_EQ(response.status, 200) << response.status_line;
    EXPECT_EQ(response.body, "PUT /big 1048576 pattern");
}

// RFC 9110 section 6.5.1: trailer fields are not merged into the header section, so a
// trailer cannot set cookies, credentials, the body's type or a second Content-Length.
TEST(Http1, ChunkedTrailerFieldsDoNotReachPhp) {
    TempDir root;
    root.write("index.php",
               "<?php echo json_encode([$_COOKIE, $_SERVER['PHP_AUTH_USER'] ?? null, $_POST,"
               " $_SERVER['HTTP_X_FORWARDED_FOR'] ?? null, $_SERVER['HTTP_CONTENT_LENGTH'] ?? null,"
               " $_SERVER['HTTP_X_LAST'] ?? null, file_get_contents('php://input')]);");
    Server server(root.path());
    RawConnection connection(server.port());
    ASSERT_TRUE(connection.send(
        "POST /index.php HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\na=1\r\n0\r\nCookie: session=stolen\r\nAuthorization: Basic YWRtaW46eA==\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nX-Forwarded-For: 10.0.0.1\r\n"
        "Content-Length: 3\r\nX-Last: yes\r\n\r\n"));
    auto response = connection.read_response();
    EXPECT_EQ(response.status, 200) << response.status_line;
    EXPECT_EQ(response.body, R"([[],null,[],null,null,null,"a=1"])");
}

TEST(Http1, ExpectContinueGets100BeforeTheBodyIsSent) {
    TempDir root;
    write_echo_app(root);
    Server server(root.path());
    RawConnection connection(server.port());
    ASSERT_TRUE(
        connection.send("POST /form HTTP/1.1\r\nHost: localhost\r\nContent-Length: 7\r\n"
                        "Expect: 100-continue\r\n\r\n"));
    auto interim = connection.read_response(false, 3s);
    ASSERT_EQ(interim.status, 100)
        << "no 100 Continue while the client waits: '" << interim.status_line << "'";
    EXPECT_EQ(interim.status_line, "HTTP/1.1 100 Continue");
    ASSERT_TRUE(connection.send("payload"));
    auto final_response = connection.read_response();
    EXPECT_EQ(final_response.status, 200) << final_response.status_line;
    EXPECT_EQ(final_response.body, echo_of("POST", "/form", "payload"));
    // The connection is still usable afterwards, with a chunked body and Expect too.
    ASSERT_TRUE(
        connection.send("POST /again HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
                        "Expect: 100-continue\r\n\r\n"));
    interim = connection.read_response(false, 3s);
    ASSERT_EQ(interim.status, 100) << interim.status_line;
    ASSERT_TRUE(connection.send("2\r\nok\r\n0\r\n\r\n"));
    final_response = connection.read_response();
    EXPECT_EQ(final_response.status, 200) << final_response.status_line;
    EXPECT_EQ(final_response.body, echo_of("POST", "/again", "ok"));
}

TEST(Http1, ExpectContinueWithTooLargeBodyGets413Instead) {
    TempDir root;
    write_echo_app(root);
    Server server(root.path(), {"--max-body-size", "1K"});
    RawConnection connection(server.port());
    ASSERT_TRUE(
        connection.send("POST /form HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4096\r\n"
                        "Expect: 100-continue\r\n\r\n"));
    auto response = connection.read_response(false, 3s);
    EXPECT_EQ(response.status, 413)
        << "the client must not be invited to send a body that will be refused: "
        << response.status_line;
}

// ---------------------------------------------------------------- HEAD, Date, Server

TEST(Http1, HeadOnPhpSendsHeadersButNoBody) {
    TempDir root;
    root.write(
        "page.php",
        R"(<?php header('X-Custom: 42'); header('Content-Type: text/plain'); echo "the body";)");
    Server server(root.path());
    RawConnection connection(server.port());
    // A body after the HEAD answer would be read as the start of the next response.
    ASSERT_TRUE(connection.send("HEAD /page.php HTTP/1.1\r\nHost: localhost\r\n\r\n" +
                                get_request("/page.php")));
    auto head = connection.read_response(true);
    EXPECT_EQ(head.status, 200) << head.status_line;
    EXPECT_EQ(head.header("x-custom"), "42");
    EXPECT_EQ(head.header("content-type").rfind("text/plain", 0), 0u)
        << head.header("content-type");
    auto get = connection.read_response();
    EXPECT_EQ(get.status_line.rfind("HTTP/1.1 200", 0), 0u)
        << "bytes after the HEAD response: '" << get.status_line << "'";
    EXPECT_EQ(get.body, "the body");
    if (head.has_header("content-length")) {
        EXPECT_EQ(head.header("content-length"), get.header("content-length"))
            << "HEAD must announce the length GET sends (RFC 9110 section 9.3.2)";
    }
}

TEST(Http1, HeadOnStaticFileSendsHeadersButNoBody) {
    TempDir root;
    root.write("style.css", std::string(3000, 'x'));
    Server server(root.path());
    RawConnection connection(server.port());
    ASSERT_TRUE(connection.send("HEAD /style.css HTTP/1.1\r\nHost: localhost\r\n\r\n" +
                                get_request("/style.css")));
    auto head = connection.read_response(true);
    EXPECT_EQ(head.status, 200) << head.status_line;
    EXPECT_EQ(head.header("content-length"), "3000");
    EXPECT_EQ(head.header("content-type"), "text/css");
    EXPECT_TRUE(head.has_header("etag"));
    auto get = connection.read_response();
    EXPECT_EQ(get.status_line.rfind("HTTP/1.1 200", 0), 0u)
        << "bytes after the HEAD response: '" << get.status_line << "'";
    EXPECT_EQ(get.body.size(), 3000u);
}

TEST(Http1, EveryResponseHasDateAndServer) {
    TempDir root;
    write_echo_app(root);
    root.write("static.txt", "s");
    TempDir empty_root;
    Server server(root.path());
    Server without_front_controller(empty_root.path());
    const auto now = static_cast<long long>(std::time(nullptr));
    struct Case {
        const Server& server;
        std::string path;
        long status;
    };
    for (const Case& c : {Case{server, "/php", 200}, Case{server, "/static.txt", 200},
                          Case{without_front_controller, "/missing", 404}}) {
        auto response = get(c.server.url(c.path));
        EXPECT_EQ(response.status, c.status) << c.path;
        EXPECT_NE(response.header("server"), "") << c.path;
        const std::string date = response.header("date");
        const long long when = parse_imf_fixdate(date);
        EXPECT_NE(when, -1) << c.path << ": Date is not an IMF-fixdate: '" << date << "'";
        EXPECT_LE(std::llabs(when - now), 60) << c.path << ": Date " << date << " is not now";
    }
}

// ---------------------------------------------------------------- HTTP/1.0

TEST(Http1, Http10RequestIsAnsweredAndTheConnectionCloses) {
    TempDir root;
    write_echo_app(root);
    Server server(root.path());
    for (const std::string target : {"/php", "/hello.txt"}) {
        RawConnection connection(server.port());
        ASSERT_TRUE(
            connection.send("GET " + target + " HTTP/1.0\r\n\r\n"));  // Host is optional in 1.0
        auto response = connection.read_response();
        EXPECT_EQ(response.status, 200) << target << ": " << response.status_line;
        EXPECT_EQ(response.body, target == "/php" ? echo_of("GET", "/php") : "hello\n");
        EXPECT_TRUE(connection.wait_for_close(2s))
            << target << ": HTTP/1.0 without keep-alive must be closed";
    }
}

TEST(Http1, Http10KeepAliveIsConfirmedAndKept) {
    TempDir root;
    write_echo_app(root);
    Server server(root.path());
    RawConnection connection(server.port());
    ASSERT_TRUE(connection.send("GET /one HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    auto first = connection.read_response();
    EXPECT_EQ(first.status, 200) << first.status_line;
    EXPECT_EQ(first.body, echo_of("GET", "/one"));
    EXPECT_EQ(lower(first.header("connection")), "keep-alive");
    ASSERT_TRUE(connection.send("GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    auto second = connection.read_response();
    EXPECT_EQ(second.status, 200) << second.status_line;
    EXPECT_EQ(second.body, "hello\n");
    ASSERT_TRUE(connection.send("GET /three HTTP/1.0\r\n\r\n"));
    auto third = connection.read_response();
    EXPECT_EQ(third.status, 200) << third.status_line;
    EXPECT_TRUE(connection.wait_for_close(2s));
}

TEST(Http1, Http10StreamedPhpOutputIsNotChunked) {
    TempDir root;
    root.write(
        "stream.php",
        R"(<?php echo str_repeat('a', 100); flush(); usleep(100000); echo str_repeat('b', 100);)");
    Server server(root.path());
    RawConnection connection(server.port());
    ASSERT_TRUE(connection.send("GET /stream.php HTTP/1.0\r\n\r\n"));
    auto response = connection.read_response();
    EXPECT_EQ(response.status, 200) << response.status_line;
    EXPECT_FALSE(response.chunked) << "HTTP/1.0 has no chunked transfer coding";
    EXPECT_EQ(response.body, std::string(100, 'a') + std::string(100, 'b'));
}

// ---------------------------------------------------------------- bad input

/// Each test sends something invalid on its own connection while a "bystander" client
/// holds a keep-alive connection; afterwards the bystander and new clients must still be
/// served: nothing breaks for other clients.
class Http1BadInput : public ::testing::Test {
  protected:
    void start(std::vector<std::string> args = {}) {
        write_echo_app(root_);
        root_.write("append.php", R"(<?php
            file_put_contents(__DIR__ . '/runs.log', $_SERVER['REQUEST_METHOD'] . ' ' . $_SERVER['REQUEST_URI'] . "\n", FILE_APPEND);
            echo 'ran';)");
        server_ = std::make_unique<Server>(root_.path(), std::move(args));
        bystander_ = std::make_unique<RawConnection>(server_->port());
        ASSERT_TRUE(bystander_->send(get_request("/before")));
        ASSERT_EQ(bystander_->read_response().status, 200);
    }

    void TearDown() override {
        bystander_.reset();
        server_.reset();
    }

    /// Sends `bytes` on a new connection; returns the first response. The server must then
    /// close that connection (after a refused request the stream cannot be trusted).
    RawResponse send_bad(const std::string& bytes) {
        RawConnection connection(server_->port());
        connection.send(bytes);
        auto response = connection.read_response(false, 5s);
        EXPECT_TRUE(connection.wait_for_close(3s))
            << "the connection stayed open after a refused request";
        return response;
    }

    /// The bystander's connection and a fresh client still get 200.
    void expect_others_unaffected() {
        ASSERT_TRUE(bystander_->send(get_request("/after")));
        auto response = bystander_->read_response();
        EXPECT_EQ(response.status, 200) << "the bystander's keep-alive connection broke";
        EXPECT_EQ(response.body, echo_of("GET", "/after"));
        auto fresh = get(server_->url("/hello.txt"));
        EXPECT_EQ(fresh.status, 200) << "a new client is not served: " << fresh.error;
        EXPECT_EQ(fresh.body, "hello\n");
    }

    /// Content of runs.log: one line per run of append.php.
    std::string runs() const {
        std::ifstream in(root_.path() + "/runs.log");
        std::ostringstream out;
        out << in.rdbuf();
        return out.str();
    }

    TempDir root_;
    std::unique_ptr<Server> server_;
    std::unique_ptr<RawConnection> bystander_;
};

// RFC 9112 section 3: an invalid request-line SHOULD get 400. (Extra spaces between the
// parts may be tolerated, section 3, so "GET  / HTTP/1.1" is not in the list; a well-formed
// line with an unknown method is 501, not this test's business.)
TEST_F(Http1BadInput, MalformedRequestLineGets400) {
    start();
    const std::string lines[] = {
        "GET / HTTP/1.1 extra\r\nHost: localhost\r\n\r\n",  // four parts
        "GET / FTP/1.1\r\nHost: localhost\r\n\r\n",         // not HTTP
        "GET / HTTP/1.x\r\nHost: localhost\r\n\r\n",        // version is not a number
        "this is not http\r\n\r\n",                         // not a request line at all
        std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) +
            "\r\n\r\n",  // a TLS hello
    };
    for (const auto& line : lines) {
        auto response = send_bad(line);
        EXPECT_EQ(response.status, 400) << "request line " << ::testing::PrintToString(line)
                                        << " got '" << response.status_line << "'";
    }
    expect_others_unaffected();
}

TEST_F(Http1BadInput, OversizedHeaderGets431) {
    start();
    auto response = send_bad(get_request("/", "X-Big: " + std::string(40 * 1024, 'a') + "\r\n"));
    EXPECT_EQ(response.status, 431) << response.status_line;
    expect_others_unaffected();
}

TEST_F(Http1BadInput, TooManyHeadersGets431) {
    start();
    std::string headers;
    for (int i = 0; i < 200; ++i) headers += "X-Header-" + std::to_string(i) + ": v\r\n";
    auto response = send_bad(get_request("/", headers));
    EXPECT_EQ(response.status, 431) << response.status_line;
    expect_others_unaffected();
}

// The three limits are options: raised, what was refused passes; lowered, refused sooner.
TEST_F(Http1BadInput, HeaderAndUriLimitsAreConfigurable) {
    start({"--max-header-size", "64K", "--max-header-count", "300", "--max-uri-size", "1K"});
    std::string many;
    for (int i = 0; i < 200; ++i) many += "X-Header-" + std::to_string(i) + ": v\r\n";
    RawConnection client(server_->port());
    ASSERT_TRUE(client.send(
        get_request("/hello.txt", "X-Big: " + std::string(40 * 1024, 'a') + "\r\n" + many)));
    EXPECT_EQ(client.read_response().status, 200);
    auto response = send_bad(get_request("/" + std::string(1100, 'a')));
    EXPECT_EQ(response.status, 414) << response.status_line;
    expect_others_unaffected();
}

TEST_F(Http1BadInput, BodyOverMaxBodySizeGets413AndThePhpScriptDoesNotRun) {
    start({"--max-body-size", "1K"});
    auto response =
        send_bad("POST /append.php HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2048\r\n\r\n" +
                 std::string(2048, 'x'));
    EXPECT_EQ(response.status, 413) << response.status_line;
    // A body exactly at the limit is accepted.
    RequestOptions post;
    post.method = "POST";
    post.body = std::string(1024, 'y');
    auto at_limit = request(server_->url("/exact"), post);
    EXPECT_EQ(at_limit.status, 200);
    EXPECT_EQ(at_limit.body, "POST /exact 1024");
    expect_others_unaffected();
    EXPECT_EQ(runs(), "") << "append.php ran for a refused request";
}

TEST_F(Http1BadInput, ChunkedBodyGrowingPastMaxBodySizeGets413) {
    start({"--max-body-size", "1K"});
    RawConnection connection(server_->port());
    ASSERT_TRUE(connection.send(
        "POST /append.php HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"));
    // 512 + 512 bytes fit; the third chunk does not. The client keeps sending as a real
    // uploader would; the server must answer 413 rather than wait or accept.
    std::string chunk = "200\r\n" + std::string(512, 'z') + "\r\n";
    bool sent = true;
    for (int i = 0; i < 4 && sent; ++i) {
        sent = connection.send(chunk);
        std::this_thread::sleep_for(30ms);
    }
    connection.send("0\r\n\r\n");
    auto response = connection.read_response(false, 5s);
    EXPECT_EQ(response.status, 413) << response.status_line;
    EXPECT_TRUE(connection.wait_for_close(3s));
    expect_others_unaffected();
    EXPECT_EQ(runs(), "") << "append.php ran for a refused request";
}

TEST_F(Http1BadInput, UnsupportedTransferEncodingGets501) {
    start();
    auto response = send_bad(
        "POST /append.php HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n\r\n"
        "\x1f\x8b\x08\x00");
    EXPECT_EQ(response.status, 501) << response.status_line;
    expect_others_unaffected();
    EXPECT_EQ(runs(), "");
}

TEST_F(Http1BadInput, ContentLengthWithTransferEncodingGets400AndNothingIsSmuggled) {
    start();
    // Each carries a second request hidden in the body by one of the two framings; neither
    // the outer nor the smuggled request may run (RFC 9112 section 6.1, 11.2).
    const std::string smuggled = "GET /append.php?smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n";
    const std::string attempts[] = {
        // CL.TE: Content-Length first.
        "POST /append.php?outer HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
            smuggled,
        // TE.CL: Transfer-Encoding first, a Content-Length that covers only the chunk size.
        "POST /append.php?outer HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
        "Content-Length: 4\r\n\r\n" +
            [&] {
                char line[16];
                std::snprintf(line, sizeof line, "%zx\r\n", smuggled.size());
                return std::string(line) + smuggled + "\r\n0\r\n\r\n";
            }(),
        // Case and whitespace variations of the same.
        "POST /append.php?outer HTTP/1.1\r\nHost: localhost\r\ncontent-length: 5\r\n"
        "transfer-encoding:\tChunked\r\n\r\n0\r\n\r\n" +
            smuggled,
    };
    for (const auto& attempt : attempts) {
        auto response = send_bad(attempt);
        EXPECT_EQ(response.status, 400)
            << ::testing::PrintToString(attempt) << " got '" << response.status_line << "'";
    }
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(runs(), "") << "a request was executed from a smuggling attempt";
    expect_others_unaffected();
    auto legit = get(server_->url("/append.php?legit"));
    EXPECT_EQ(legit.status, 200);
    EXPECT_EQ(runs(), "GET /append.php?legit\n");
}

TEST_F(Http1BadInput, WhitespaceBeforeColonGets400) {
    start();
    // RFC 9112 section 5.1: a server MUST reject a field with whitespace between name and
    // colon; read leniently, "Content-Length : 5" is a classic smuggling vector.
    auto response = send_bad(
        "POST /append.php HTTP/1.1\r\nHost: localhost\r\nContent-Length : 5\r\n\r\n"
        "hello" +
        get_request("/append.php?smuggled"));
    EXPECT_EQ(response.status, 400) << response.status_line;
    auto te = send_bad(
        "POST /append.php HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding : chunked\r\n"
        "Content-Length: 5\r\n\r\n0\r\n\r\n" +
        get_request("/append.php?smuggled"));
    EXPECT_EQ(te.status, 400) << te.status_line;
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(runs(), "");
    expect_others_unaffected();
}

TEST_F(Http1BadInput, InvalidContentLengthGets400) {
    start();
    for (const std::string value : {"-1", "abc", "5x", "+5", "99999999999999999999999"}) {
        auto response =
            send_bad("POST /append.php HTTP/1.1\r\nHost: localhost\r\nContent-Length: " + value +
                     "\r\n\r\nhello");
        EXPECT_TRUE(response.status == 400 || (response.status == 413 && value.size() > 10))
            << "Content-Length: " << value << " got '" << response.status_line << "'";
    }
    EXPECT_EQ(runs(), "");
    expect_others_unaffected();
}

TEST_F(Http1BadInput, InvalidChunkedFramingGets400) {
    start();
    const std::string head =
        "POST /append.php HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (const std::string body : {"zz\r\nhello\r\n0\r\n\r\n",  // size is not hex
                                   "5\r\nhelloXX0\r\n\r\n",     // no CRLF after the data
                                   "fffffffffffffffffffff\r\nx\r\n0\r\n\r\n"}) {  // size overflows
        auto response = send_bad(head + body);
        EXPECT_TRUE(response.status == 400 || response.status == 413)
            << ::testing::PrintToString(body) << " got '" << response.status_line << "'";
    }
    EXPECT_EQ(runs(), "");
    expect_others_unaffected();
}

TEST_F(Http1BadInput, TwoDifferentContentLengthsGet400) {
    start();
    auto response = send_bad(
        "POST /append.php HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n"
        "Content-Length: 45\r\n\r\nabc" +
        get_request("/append.php?smuggled"));
    EXPECT_EQ(response.status, 400) << response.status_line;
    auto list = send_bad(
        "POST /append.php HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3, 45\r\n\r\nabc");
    EXPECT_EQ(list.status, 400) << list.status_line;
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(runs(), "");
    expect_others_unaffected();
}

TEST_F(Http1BadInput, MissingHostInHttp11Gets400) {
    start();
    auto response = send_bad("GET /append.php HTTP/1.1\r\n\r\n");
    EXPECT_EQ(response.status, 400) << response.status_line;
    auto two_hosts = send_bad("GET /append.php HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
    EXPECT_EQ(two_hosts.status, 400) << two_hosts.status_line;
    EXPECT_EQ(runs(), "");
    expect_others_unaffected();
}

TEST_F(Http1BadInput, ControlCharacterInHeaderValueGets400) {
    start();
    for (const auto& value : {std::string("a\x01"
                                          "b"),
                              std::string("a\x7f"
                                          "b"),
                              std::string("a\0b", 3), std::string("a\rb")}) {
        auto response = send_bad(get_request("/append.php", "X-Value: " + value + "\r\n"));
        EXPECT_EQ(response.status, 400)
            << ::testing::PrintToString(value) << " got '" << response.status_line << "'";
    }
    EXPECT_EQ(runs(), "");
    expect_others_unaffected();
}

TEST_F(Http1BadInput, TooLongRequestTargetGets414) {
    start();
    auto response = send_bad(get_request("/" + std::string(9000, 'a')));
    EXPECT_EQ(response.status, 414) << response.status_line;
    // Just under 8 KiB is still a normal request.
    auto near_limit = get(server_->url("/" + std::string(8000, 'b')));
    EXPECT_EQ(near_limit.status, 200);
    expect_others_unaffected();
}

// ---------------------------------------------------------------- timeouts

TEST(Http1, StalledRequestHeaderIsDisconnected) {
    TempDir root;
    write_echo_app(root);
    Server server(root.path(), {"--header-timeout", "1"});
    RawConnection connection(server.port());
    ASSERT_TRUE(connection.send("GET /slow HTTP/1.1\r\nHo"));
    const auto start = Clock::now();
    std::string sent_back;
    EXPECT_TRUE(connection.wait_for_close(5s, &sent_back)) << "a stalled client was kept for 5 s";
    const auto waited = Clock::now() - start;
    EXPECT_LE(waited, 3s) << "closed only after "
                          << std::chrono::duration_cast<std::chrono::milliseconds>(waited).count()
                          << " ms";
    EXPECT_TRUE(sent_back.empty() || raw_status(sent_back) == 408) << sent_back;
    EXPECT_EQ(get(server.url("/")).status, 200);
}

TEST(Http1, TricklingHeaderBytesDoesNotExtendTheHeaderTimeout) {
    TempDir root;
    write_echo_app(root);
    Server server(root.path(), {"--header-timeout", "1"});
    RawConnection connection(server.port());
    const std::string request = get_request("/slowloris", "X-A: " + std::string(100, 'a') + "\r\n");
    const auto start = Clock::now();
    bool closed = false;
    // One byte every 200 ms: a slowloris client. The whole header would take 24 s.
    for (char c : request) {
        if (!connection.send(std::string_view(&c, 1)) || connection.wait_for_close(200ms)) {
            closed = true;
            break;
        }
        if (Clock::now() - start > 5s) break;
    }
    EXPECT_TRUE(closed) << "a client trickling its header was kept for 5 s";
    EXPECT_LE(Clock::now() - start, 3500ms);
}

TEST(Http1, StalledRequestBodyIsDisconnectedAndPhpDoesNotRun) {
    TempDir root;
    write_echo_app(root);
    root.write("append.php",
               R"(<?php file_put_contents(__DIR__ . '/runs.log', "ran\n", FILE_APPEND);)");
    Server server(root.path(), {"--body-timeout", "1"});
    RawConnection connection(server.port());
    ASSERT_TRUE(connection.send(
        "POST /append.php HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nabc"));
    const auto start = Clock::now();
    std::string sent_back;
    EXPECT_TRUE(connection.wait_for_close(5s, &sent_back));
    EXPECT_LE(Clock::now() - start, 3s);
    EXPECT_TRUE(sent_back.empty() || raw_status(sent_back) == 408) << sent_back;
    EXPECT_FALSE(std::filesystem::exists(root.path() + "/runs.log"))
        << "PHP ran with a truncated body";
}

TEST(Http1, IdleKeepAliveConnectionIsClosedSilently) {
    TempDir root;
    write_echo_app(root);
    Server server(root.path(), {"--keepalive-timeout", "1"});
    RawConnection connection(server.port());
    ASSERT_TRUE(connection.send(get_request("/")));
    ASSERT_EQ(connection.read_response().status, 200);
    const auto start = Clock::now();
    std::string sent_back;
    EXPECT_TRUE(connection.wait_for_close(5s, &sent_back))
        << "an idle keep-alive connection was kept for 5 s";
    EXPECT_LE(Clock::now() - start, 3s);
    // Between requests there is nothing to answer: a 408 here would be read by the client
    // as the response to its next request.
    EXPECT_EQ(sent_back, "");
}

TEST(Http1, ClientThatStopsReadingIsDisconnectedAfterWriteTimeout) {
    TempDir root;
    std::string big(16 * 1024 * 1024, 'w');
    root.write("big.bin", big);
    Server server(root.path(), {"--write-timeout", "1"});
    RawConnection connection(server.port());
    ASSERT_TRUE(connection.send(get_request("/big.bin")));
    // Read nothing for 4 s: the socket buffers fill long before 16 MiB are through, and
    // the server must give up on this client rather than hold the connection forever.
    std::this_thread::sleep_for(4s);
    std::string received;
    EXPECT_TRUE(connection.wait_for_close(10s, &received))
        << "the server still holds a stalled download";
    EXPECT_LT(received.size(), big.size())
        << "the whole file went through although the client read nothing";
    EXPECT_EQ(get(server.url("/big.bin")).body.size(), big.size()) << "other downloads still work";
}

TEST(Http1, KeepAliveTimeoutDoesNotCutAnActiveConnection) {
    TempDir root;
    write_echo_app(root);
    Server server(root.path(), {"--keepalive-timeout", "1"});
    RawConnection connection(server.port());
    // Requests every 400 ms for 3 s: the idle time never reaches 1 s.
    for (int i = 0; i < 8; ++i) {
        ASSERT_TRUE(connection.send(get_request("/n" + std::to_string(i))));
        auto response = connection.read_response();
        ASSERT_EQ(response.status, 200) << "request " << i;
        std::this_thread::sleep_for(400ms);
    }
}

}  // namespace
}  // namespace askr::test
