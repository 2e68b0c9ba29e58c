// h1::Connection as the chain's sink, on a real loopback TCP connection: a handler written
// here answers, and a raw client checks the bytes on the wire (framing, keep-alive,
// pipelining, interim responses, Expect: 100-continue, errors), with no worker and no PHP.
#include "http/h1/connection.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>

#include "http/connection.hpp"

namespace askr::http::h1 {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// Answers by target, each a way a chain stage uses the sink.
class ScriptedHandler final : public Handler {
  public:
    asio::awaitable<HandlerResult> handle(Request& request, ResponseSink& sink) override {
        if (handle_now(request, sink)) co_return HandlerResult{};
        ++handled;
        last_method = request.method;
        last_target = request.target;
        last_body.clear();
        for (std::uint64_t at = 0; at < request.body_length();) {
            char buffer[4096];
            const auto n = request.read_body(at, buffer, sizeof buffer);
            last_body.append(buffer, n);
            at += n;
        }
        ResponseHead head;
        const std::string_view t = request.target;
        if (t == "/length") {
            head.fields.add("Content-Type", "text/plain");
            co_await sink.send(&head, "hello", true);
        } else if (t == "/stream") {
            co_await sink.send(&head, "ab", false);
            co_await sink.send(nullptr, "cd", false);
            co_await sink.send(nullptr, "", true);
        } else if (t == "/declared") {
            head.content_length = 10;
            co_await sink.send(&head, "01234", false);
            co_await sink.send(nullptr, "56789", true);
        } else if (t == "/short") {
            head.content_length = 10;
            co_await sink.send(&head, "abc", true);
        } else if (t == "/owned") {
            head.fields.add("Connection", "keep-alive");
            head.fields.add("Transfer-Encoding", "gzip");
            head.fields.add("Content-Length", "999");
            head.fields.add("Keep-Alive", "timeout=5");
            head.fields.add("X-Kept", "yes");
            co_await sink.send(&head, "body", true);
        } else if (t == "/no-content") {
            head.status = 204;
            co_await sink.send(&head, "dropped", true);
        } else if (t == "/hints") {
            Fields hints;
            hints.add("Link", "</style.css>; rel=preload; as=style");
            interim_sent = co_await sink.interim(103, hints);
            co_await sink.send(&head, "final", true);
        } else if (t == "/file") {
            char path[] = "/tmp/askr-h1-file-XXXXXX";
            const int fd = ::mkstemp(path);
            ::unlink(path);
            const std::string content = std::string(200000, 'f') + "tail";
            EXPECT_EQ(::write(fd, content.data(), content.size()),
                      static_cast<ssize_t>(content.size()));
            head.content_length = content.size() - 5;
            co_await sink.send_file(&head, {fd, 5, content.size() - 5});
            ::close(fd);
        } else if (t == "/release") {
            released = sink.release_request();
            co_await sink.send(&head, "released", true);
        } else if (t == "*") {
            head.status = 204;
            co_await sink.send(&head, {}, true);
        } else {
            co_await respond_with_status(sink, 404);
        }
        co_return HandlerResult{};
    }

    // "/now..." is answered at once (ResponseSink::send_now()), the rest by handle().
    bool handle_now(Request& request, ResponseSink& sink) override {
        if (!request.target.starts_with("/now")) return false;
        ++handled_now;
        ResponseHead head;
        head.fields.add("Content-Type", "text/plain");
        sink.send_now(head, request.target.substr(1));
        return true;
    }

    int refuse_before_body(const Request& request) override {
        return request.target == "/refuse" ? 413 : 0;
    }

    int handled = 0;
    int handled_now = 0;
    std::string last_method, last_target, last_body;
    bool interim_sent = false;
    std::unique_ptr<Request> released;
};

class H1Connection : public ::testing::Test {
  protected:
    H1Connection()
        : context_(io_),
          work_(asio::make_work_guard(io_)),
          acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
        context_.timeouts.header = std::chrono::seconds(5);
        io_thread_ = std::thread([this] { io_.run(); });
    }

    ~H1Connection() override {
        if (client_ >= 0) ::close(client_);
        asio::post(io_, [this] {
            for (auto* c = context_.connections; c; c = c->next) c->abort();
        });
        // The connections end once aborted; then nothing is left on the loop.
        for (int i = 0; i < 200; ++i) {
            bool empty = false;
            asio::post(io_, [&] { empty = context_.connection_count == 0; });
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            if (empty) break;
        }
        work_.reset();
        io_.stop();
        io_thread_.join();
    }

    // Connects a client and lets the connection start on the I/O thread.
    void connect() {
        client_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(acceptor_.local_endpoint().port());
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ASSERT_EQ(::connect(client_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
        tcp::socket accepted = acceptor_.accept();
        std::atomic<bool> started{false};
        asio::post(io_, [&] {
            started =
                start_connection(context_, std::move(accepted), Service{&handler_, false, false});
        });
        for (int i = 0; i < 200 && !started; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        ASSERT_TRUE(started);
    }

    void send(std::string_view bytes) {
        ASSERT_EQ(::send(client_, bytes.data(), bytes.size(), MSG_NOSIGNAL),
                  static_cast<ssize_t>(bytes.size()));
    }

    // Reads until `until` has arrived (or the server closes, or 3 s pass without data).
    std::string read_until(std::string_view until) {
        std::string got;
        char buffer[65536];
        while (got.find(until) == std::string::npos) {
            pollfd pfd{client_, POLLIN, 0};
            if (::poll(&pfd, 1, 3000) <= 0) break;
            const ssize_t n = ::recv(client_, buffer, sizeof buffer, 0);
            if (n <= 0) {
                closed_ = true;
                break;
            }
            got.append(buffer, static_cast<std::size_t>(n));
        }
        return got;
    }

    // Reads until the server closes the connection.
    std::string read_to_close() {
        std::string got = read_until(std::string(64, '\xff'));
        return got;
    }

    asio::io_context io_;
    Context context_;
    asio::executor_work_guard<asio::io_context::executor_type> work_;
    tcp::acceptor acceptor_;
    std::thread io_thread_;
    ScriptedHandler handler_;
    int client_ = -1;
    bool closed_ = false;
};

// An answer given at once is written after the handler returns, framed as any other, and
// pipelined requests get theirs in order.
TEST_F(H1Connection, AnAnswerGivenAtOnceIsWrittenWholeAndInOrder) {
    connect();
    send(
        "GET /now-1 HTTP/1.1\r\nHost: x\r\n\r\nHEAD /now-2 HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /length HTTP/1.1\r\nHost: x\r\n\r\nGET /now-3 HTTP/1.1\r\nHost: x\r\n\r\n");
    const std::string response = read_until("now-3");
    const auto first = response.find("Content-Length: 5\r\n\r\nnow-1");
    const auto second = response.find("HTTP/1.1 200 OK", first + 1);
    const auto third = response.find("Content-Length: 5\r\n\r\nhello", second);
    const auto fourth = response.find("Content-Length: 5\r\n\r\nnow-3", third);
    EXPECT_NE(first, std::string::npos) << response;
    EXPECT_NE(second, std::string::npos) << response;
    EXPECT_NE(third, std::string::npos) << response;
    EXPECT_NE(fourth, std::string::npos) << response;
    EXPECT_EQ(response.find("now-2"), std::string::npos) << "HEAD: no body\n" << response;
    EXPECT_EQ(handler_.handled_now, 3);
    EXPECT_FALSE(closed_);
}

TEST_F(H1Connection, AWholeBodyInOneSendIsFramedByContentLength) {
    connect();
    send("GET /length HTTP/1.1\r\nHost: x\r\n\r\n");
    const std::string response = read_until("hello");
    EXPECT_EQ(response.rfind("HTTP/1.1 200 OK\r\nServer: Askr\r\nDate: ", 0), 0u) << response;
    EXPECT_NE(response.find("\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"),
              std::string::npos)
        << response;
    EXPECT_EQ(response.find("Transfer-Encoding"), std::string::npos);
    EXPECT_EQ(response.find("Connection:"), std::string::npos)
        << "HTTP/1.1 keep-alive needs no field";
}

TEST_F(H1Connection, AStreamedBodyIsChunkedAndEndsWithTheLastChunk) {
    connect();
    send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
    const std::string response = read_until("0\r\n\r\n");
    EXPECT_NE(response.find("Transfer-Encoding: chunked\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n"),
              std::string::npos)
        << response;
    EXPECT_EQ(response.find("Content-Length"), std::string::npos);
}

TEST_F(H1Connection, Http10StreamsUntilTheCloseAndAnnouncesIt) {
    connect();
    send("GET /stream HTTP/1.0\r\n\r\n");
    const std::string response = read_to_close();
    EXPECT_TRUE(closed_);
    EXPECT_NE(response.find("Connection: close\r\n\r\nabcd"), std::string::npos) << response;
    EXPECT_EQ(response.find("chunked"), std::string::npos);
}

TEST_F(H1Connection, ADeclaredLengthFramesPiecesAndAShortBodyCloses) {
    connect();
    send("GET /declared HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_NE(read_until("0123456789").find("Content-Length: 10\r\n\r\n0123456789"),
              std::string::npos);
    send("GET /short HTTP/1.1\r\nHost: x\r\n\r\n");
    const std::string response = read_to_close();
    EXPECT_NE(response.find("Content-Length: 10\r\n"), std::string::npos);
    EXPECT_TRUE(closed_) << "fewer bytes than announced: only the close ends the response";
}

TEST_F(H1Connection, HeadAnnouncesADeclaredLengthAndSendsNoBody) {
    connect();
    send(
        "HEAD /declared HTTP/1.1\r\nHost: x\r\n\r\nHEAD /length HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /length HTTP/1.1\r\nHost: x\r\n\r\n");
    const std::string response = read_until("hello");
    const auto first_end = response.find("\r\n\r\n");
    ASSERT_NE(first_end, std::string::npos);
    EXPECT_NE(response.substr(0, first_end).find("Content-Length: 10"), std::string::npos)
        << response;
    const auto second_end = response.find("\r\n\r\n", first_end + 4);
    ASSERT_NE(second_end, std::string::npos);
    EXPECT_EQ(response.compare(first_end + 4, 9, "HTTP/1.1 "), 0)
        << "no body after a HEAD answer: " << response;
    EXPECT_EQ(response.substr(first_end, second_end - first_end).find("Content-Length"),
              std::string::npos)
        << "a length the handler did not declare is not announced for HEAD (it would be the GET's)";
    EXPECT_EQ(response.compare(second_end + 4, 9, "HTTP/1.1 "), 0) << response;
}

TEST_F(H1Connection, NoContentHasNeitherLengthNorBody) {
    connect();
    send("GET /no-content HTTP/1.1\r\nHost: x\r\n\r\nGET /length HTTP/1.1\r\nHost: x\r\n\r\n");
    const std::string response = read_until("hello");
    EXPECT_EQ(response.rfind("HTTP/1.1 204 No Content\r\n", 0), 0u);
    const auto first_end = response.find("\r\n\r\n");
    EXPECT_EQ(response.substr(0, first_end).find("Content-Length"), std::string::npos);
    EXPECT_EQ(response.find("dropped"), std::string::npos);
}

TEST_F(H1Connection, PipelinedRequestsAreAnsweredInOrderOnOneConnection) {
    connect();
    send(
        "GET /length HTTP/1.1\r\nHost: x\r\n\r\nGET /stream HTTP/1.1\r\nHost: x\r\n\r\nGET "
        "/nothing HTTP/1.1\r\nHost: x\r\n\r\n");
    const std::string response = read_until("404 Not Found</h1>");
    const auto hello = response.find("hello");
    const auto chunked = response.find("2\r\nab");
    const auto missing = response.find("HTTP/1.1 404");
    EXPECT_TRUE(hello < chunked && chunked < missing) << response;
    EXPECT_EQ(handler_.handled, 3);
    EXPECT_FALSE(closed_);
}

TEST_F(H1Connection, FieldsTheProtocolOwnsNeverComeFromTheHandler) {
    connect();
    send("GET /owned HTTP/1.1\r\nHost: x\r\n\r\n");
    const std::string response = read_until("body");
    EXPECT_NE(response.find("X-Kept: yes\r\n"), std::string::npos);
    EXPECT_NE(response.find("Content-Length: 4\r\n"), std::string::npos);
    for (const char* field : {"Transfer-Encoding", "Keep-Alive", "999", "Connection"}) {
        EXPECT_EQ(response.find(field), std::string::npos) << field << " in " << response;
    }
}

TEST_F(H1Connection, EarlyHintsPrecedeTheFinalResponseButNotForHttp10) {
    connect();
    send("GET /hints HTTP/1.1\r\nHost: x\r\n\r\n");
    const std::string response = read_until("final");
    EXPECT_EQ(response.rfind("HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; "
                             "as=style\r\n\r\nHTTP/1.1 200 OK\r\n",
                             0),
              0u)
        << response;
    EXPECT_TRUE(handler_.interim_sent);
    ::close(client_);
    client_ = -1;
    connect();
    send("GET /hints HTTP/1.0\r\n\r\n");
    const std::string old = read_to_close();
    EXPECT_EQ(old.rfind("HTTP/1.1 200 OK\r\n", 0), 0u)
        << "RFC 9110 section 15.2: no 1xx to an HTTP/1.0 client";
    EXPECT_FALSE(handler_.interim_sent);
}

TEST_F(H1Connection, ExpectContinueIsNotInvitedForARequestRefusedAnyway) {
    connect();
    send("POST /refuse HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    const std::string response = read_to_close();
    EXPECT_EQ(response.rfind("HTTP/1.1 413 ", 0), 0u) << response;
    EXPECT_EQ(response.find("100 Continue"), std::string::npos);
    EXPECT_NE(response.find("Connection: close"), std::string::npos);
    EXPECT_EQ(handler_.handled, 0);
}

TEST_F(H1Connection, ExpectContinueInvitesTheBodyOfAnAcceptedRequest) {
    connect();
    send("POST /length HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    EXPECT_EQ(read_until("\r\n\r\n"), "HTTP/1.1 100 Continue\r\n\r\n");
    send("12345");
    EXPECT_NE(read_until("hello").find("HTTP/1.1 200 OK"), std::string::npos);
    EXPECT_EQ(handler_.last_body, "12345");
}

TEST_F(H1Connection, AMalformedRequestIsAnsweredAndTheConnectionClosed) {
    connect();
    send("GET /length HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n");
    const std::string response = read_to_close();
    EXPECT_EQ(response.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << response;
    EXPECT_NE(response.find("Connection: close\r\n"), std::string::npos);
    EXPECT_TRUE(closed_);
    EXPECT_EQ(handler_.handled, 0);
}

TEST_F(H1Connection, AFileBodyIsSentFromTheDescriptor) {
    connect();
    send("GET /file HTTP/1.1\r\nHost: x\r\n\r\n");
    const std::string response = read_until("tail");
    const auto body = response.find("\r\n\r\n") + 4;
    EXPECT_NE(response.find("Content-Length: 199999\r\n"), std::string::npos);
    EXPECT_EQ(response.size() - body, 199999u);
    EXPECT_EQ(response.substr(response.size() - 4), "tail");
}

TEST_F(H1Connection, AReleasedRequestLeavesTheConnectionAFreshOne) {
    connect();
    send("GET /release HTTP/1.1\r\nHost: x\r\nX-First: 1\r\n\r\n");
    EXPECT_NE(read_until("released").find("200 OK"), std::string::npos);
    ASSERT_TRUE(handler_.released);
    EXPECT_EQ(handler_.released->header("x-first"), "1");
    send("GET /length HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_NE(read_until("hello").find("200 OK"), std::string::npos);
    EXPECT_EQ(handler_.released->target, "/release") << "the next request went into a new object";
}

TEST_F(H1Connection, TheAsteriskFormOfOptionsReachesTheHandler) {
    connect();
    send("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
    const std::string response = read_until("\r\n\r\n");
    EXPECT_EQ(response.rfind("HTTP/1.1 204 No Content\r\n", 0), 0u) << response;
    EXPECT_EQ(handler_.last_target, "*");
}

}  // namespace
}  // namespace askr::http::h1
