// The handler chain with an in-memory sink: what it hands a protocol for each kind of
// request (routing, static files with conditional and range requests, error pages, PHP's
// framing decisions), with real files and real PHP, and no protocol underneath.
#include "worker/chain.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "php/engine.hpp"

namespace askr::worker {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;

// What a protocol would put on the wire, recorded: the interim responses, the head, the
// body (files read from their descriptor), how many sends it took, and whether it ended.
class RecordingSink final : public http::ResponseSink {
  public:
    explicit RecordingSink(std::unique_ptr<http::Request> request) : request_(std::move(request)) {}

    asio::awaitable<bool> interim(int status, const http::Fields& fields) override {
        if (head) co_return false;
        interims.emplace_back(status, fields);
        co_return true;
    }
    asio::awaitable<bool> send(const http::ResponseHead* h, std::string_view bytes,
                               bool is_last) override {
        if (last) co_return false;
        if (h) take_head(*h, bytes.size(), is_last);
        if (!head) co_return false;
        if (framing.body) body.append(bytes);
        ++sends;
        last = is_last;
        co_return true;
    }
    asio::awaitable<bool> send_file(const http::ResponseHead* h, http::FileBody file) override {
        if (last) co_return false;
        if (h) take_head(*h, static_cast<std::size_t>(file.length), true);
        if (framing.body) {
            std::string bytes(file.length, '\0');
            EXPECT_EQ(::pread(file.fd, bytes.data(), bytes.size(), static_cast<off_t>(file.offset)),
                      static_cast<ssize_t>(bytes.size()));
            body.append(bytes);
        }
        ++file_sends;
        last = true;
        co_return true;
    }
    bool send_now(const http::ResponseHead& h, std::string_view bytes) override {
        if (head) return false;
        take_head(h, bytes.size(), true);
        if (framing.body) body.append(bytes);
        ++sends;
        last = true;
        return true;
    }
    bool head_sent() const override { return head.has_value(); }
    http::RequestOutcome& outcome() override { return outcome_; }
    std::unique_ptr<http::Request> release_request() override {
        released = true;
        return std::move(request_);
    }
    int socket_fd() const override { return -1; }

    http::Request& request() { return *request_; }

    std::vector<std::pair<int, http::Fields>> interims;
    std::optional<http::ResponseHead> head;
    http::BodyFraming framing;
    std::string body;
    int sends = 0;
    int file_sends = 0;
    bool last = false;
    bool released = false;

  private:
    void take_head(const http::ResponseHead& h, std::size_t first_bytes, bool is_last) {
        head = h;
        framing = http::decide_framing(*request_, h, first_bytes, is_last);
    }

    std::unique_ptr<http::Request> request_;
    http::RequestOutcome outcome_;
};

class CountingLoad final : public PhpLoad {
  public:
    void php_submitted() override { ++submitted; }
    void php_finished() override { ++finished; }
    int submitted = 0;
    int finished = 0;
};

class ChainTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        char pattern[] = "/tmp/askr-chain-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        char real[PATH_MAX];
        ASSERT_NE(::realpath(pattern, real), nullptr);
        root_ = real;
        write("style.css", "body { color: red }\n");
        write("big.bin", std::string(100 * 1024, 'b') + "end");
        write("docs/index.html", "<p>docs</p>");
        write(".env", "SECRET=1");
        write("index.php", "<?php echo 'front ', $_SERVER['REQUEST_URI'];");
        write("hello.php",
              "<?php header('X-Answer: 42'); header('Connection: close'); "
              "header('Transfer-Encoding: gzip'); echo 'hello';");
        // The pauses let the I/O side take each piece before the next one comes.
        write(
            "stream.php",
            "<?php echo 'a'; flush(); usleep(50000); echo 'b'; flush(); usleep(50000); echo 'c';");
        write("declared.php", "<?php header('Content-Length: 42'); echo str_repeat('x', 42);");
        write("interim.php", "<?php http_response_code(103); echo 'not final';");
        write("finish.php",
              "<?php echo 'done'; fastcgi_finish_request(); usleep(200000); echo 'later';");
        write("status.php", "<?php http_response_code(418); echo 'teapot';");
        static php::EngineOptions options;
        php::startup(options);
    }

    static void TearDownTestSuite() {
        std::error_code ignored;
        fs::remove_all(root_, ignored);
    }

    static void write(const std::string& relative, const std::string& content) {
        const fs::path path = fs::path(root_) / relative;
        fs::create_directories(path.parent_path());
        std::ofstream(path) << content;
    }

    ChainTest() {
        router_.root = root_;
        php_handler_ =
            std::make_unique<PhpHandler>(io_, queue_, completions_, load_, nullptr, router_);
        chain_ = std::make_unique<Chain>(router_, *php_handler_);
    }

    static std::unique_ptr<http::Request> make_request(
        std::string method, std::string target,
        std::vector<std::pair<std::string, std::string>> headers = {}) {
        auto request = std::make_unique<http::Request>();
        request->method = std::move(method);
        request->target = std::move(target);
        request->add_header("host", "example.test");
        for (const auto& [name, value] : headers) request->add_header(name, value);
        request->endpoints = {"127.0.0.1", 40000, "127.0.0.1", 8080, false};
        return request;
    }

    // Runs the chain for `sink`'s request: the event loop on a second thread (the I/O
    // thread), PHP on this one (the PHP thread), as in a worker.
    http::HandlerResult answer(RecordingSink& sink) {
        std::atomic<bool> done{false};
        http::HandlerResult result;
        auto work = asio::make_work_guard(io_);
        asio::co_spawn(
            io_,
            [&]() -> asio::awaitable<void> {
                result = co_await chain_->handle(sink.request(), sink);
                done = true;
            },
            asio::detached);
        std::thread io_thread([&] { io_.run(); });
        while (!done) {
            if (Exchange* exchange = queue_.take(std::chrono::milliseconds(10)))
                php::run_script(exchange->script);
        }
        // A script still running after its response (fastcgi_finish_request) ends here.
        while (load_.finished < load_.submitted) {
            if (Exchange* exchange = queue_.take(std::chrono::milliseconds(10)))
                php::run_script(exchange->script);
        }
        work.reset();
        io_thread.join();
        io_.restart();
        return result;
    }

    static inline std::string root_;
    asio::io_context io_;
    PhpQueue queue_;
    Completions completions_{io_};
    CountingLoad load_;
    http::RouterConfig router_;
    std::unique_ptr<PhpHandler> php_handler_;
    std::unique_ptr<Chain> chain_;
};

TEST_F(ChainTest, SmallStaticFileGoesWithItsHeadInOneSend) {
    RecordingSink sink(make_request("GET", "/style.css"));
    answer(sink);
    ASSERT_TRUE(sink.head);
    EXPECT_EQ(sink.head->status, 200);
    EXPECT_EQ(sink.head->fields.get("content-type"), "text/css");
    EXPECT_FALSE(sink.head->fields.get("etag").empty());
    EXPECT_FALSE(sink.head->fields.get("last-modified").empty());
    EXPECT_EQ(sink.framing.content_length, std::optional<std::uint64_t>(20));
    EXPECT_EQ(sink.body, "body { color: red }\n");
    EXPECT_EQ(sink.sends, 1);
    EXPECT_TRUE(sink.last);
    EXPECT_EQ(sink.outcome().kind, shm::ResponseKind::static_file);
}

TEST_F(ChainTest, LargeStaticFileIsHandedOverAsAFileRange) {
    RecordingSink sink(make_request("GET", "/big.bin"));
    answer(sink);
    ASSERT_TRUE(sink.head);
    EXPECT_EQ(sink.file_sends, 1);
    EXPECT_EQ(sink.sends, 0);
    EXPECT_EQ(sink.body.size(), 100u * 1024 + 3);
    EXPECT_EQ(sink.body.substr(sink.body.size() - 3), "end");
}

TEST_F(ChainTest, ConditionalGetIsNotModifiedWithoutABody) {
    RecordingSink first(make_request("GET", "/style.css"));
    answer(first);
    const std::string etag(first.head->fields.get("etag"));
    RecordingSink sink(make_request("GET", "/style.css", {{"if-none-match", etag}}));
    answer(sink);
    ASSERT_TRUE(sink.head);
    EXPECT_EQ(sink.head->status, 304);
    EXPECT_FALSE(sink.framing.body);
    EXPECT_FALSE(sink.framing.content_length);
    EXPECT_EQ(sink.head->fields.get("etag"), etag);
}

TEST_F(ChainTest, RangeRequestGetsThePartAndItsContentRange) {
    RecordingSink sink(make_request("GET", "/style.css", {{"range", "bytes=5-9"}}));
    answer(sink);
    ASSERT_TRUE(sink.head);
    EXPECT_EQ(sink.head->status, 206);
    EXPECT_EQ(sink.head->fields.get("content-range"), "bytes 5-9/20");
    EXPECT_EQ(sink.body, "{ col");
    RecordingSink unsatisfiable(make_request("GET", "/style.css", {{"range", "bytes=50-60"}}));
    answer(unsatisfiable);
    EXPECT_EQ(unsatisfiable.head->status, 416);
    EXPECT_EQ(unsatisfiable.head->fields.get("content-range"), "bytes */20");
}

TEST_F(ChainTest, HeadOfAStaticFileAnnouncesItsLengthAndSendsNoBody) {
    RecordingSink sink(make_request("HEAD", "/style.css"));
    answer(sink);
    ASSERT_TRUE(sink.head);
    EXPECT_EQ(sink.head->status, 200);
    EXPECT_FALSE(sink.framing.body);
    EXPECT_EQ(sink.framing.content_length, std::optional<std::uint64_t>(20));
    EXPECT_EQ(sink.body, "");
}

TEST_F(ChainTest, PostToAStaticFileIsRefusedBeforeAndAfterItsBody) {
    auto post = make_request("POST", "/style.css");
    EXPECT_EQ(chain_->refuse_before_body(*post), 405);
    RecordingSink sink(std::move(post));
    answer(sink);
    ASSERT_TRUE(sink.head);
    EXPECT_EQ(sink.head->status, 405);
    EXPECT_EQ(sink.head->fields.get("allow"), "GET, HEAD");
    EXPECT_NE(sink.body.find("405 Method Not Allowed"), std::string::npos);
    EXPECT_EQ(chain_->refuse_before_body(*make_request("POST", "/hello.php")), 0);
    EXPECT_EQ(chain_->refuse_before_body(*make_request("POST", "/.env")), 404);
}

TEST_F(ChainTest, RoutingErrorsAndRedirectsAreAskrsOwnPages) {
    RecordingSink dot(make_request("GET", "/.env"));
    answer(dot);
    EXPECT_EQ(dot.head->status, 404);
    EXPECT_NE(dot.body.find("404 Not Found"), std::string::npos);
    EXPECT_EQ(dot.head->fields.get("content-type"), "text/html");

    RecordingSink climb(make_request("GET", "/../etc/passwd"));
    answer(climb);
    EXPECT_EQ(climb.head->status, 403);

    RecordingSink directory(make_request("GET", "/docs?x=1"));
    answer(directory);
    EXPECT_EQ(directory.head->status, 301);
    EXPECT_EQ(directory.head->fields.get("location"), "/docs/?x=1");

    RecordingSink index(make_request("GET", "/docs/"));
    answer(index);
    EXPECT_EQ(index.head->status, 200);
    EXPECT_EQ(index.body, "<p>docs</p>");
}

TEST_F(ChainTest, AsteriskFormIsForOptionsOnly) {
    RecordingSink options(make_request("OPTIONS", "*"));
    answer(options);
    ASSERT_TRUE(options.head);
    EXPECT_EQ(options.head->status, 204);
    EXPECT_NE(options.head->fields.get("allow").find("GET"), std::string_view::npos);
    EXPECT_FALSE(options.framing.body);

    RecordingSink get(make_request("GET", "*"));
    answer(get);
    EXPECT_EQ(get.head->status, 400);
    EXPECT_TRUE(get.head->close);
}

TEST_F(ChainTest, AFinishedScriptIsOneSendWithItsLengthAndItsOwnFields) {
    RecordingSink sink(make_request("GET", "/hello.php"));
    answer(sink);
    ASSERT_TRUE(sink.head);
    EXPECT_EQ(sink.head->status, 200);
    EXPECT_EQ(sink.head->fields.get("x-answer"), "42");
    EXPECT_FALSE(sink.head->fields.has("connection")) << "connection fields belong to the protocol";
    EXPECT_FALSE(sink.head->fields.has("transfer-encoding"));
    EXPECT_EQ(sink.sends, 1);
    EXPECT_EQ(sink.framing.content_length, std::optional<std::uint64_t>(5));
    EXPECT_EQ(sink.body, "hello");
    EXPECT_EQ(sink.outcome().kind, shm::ResponseKind::php);
    EXPECT_EQ(load_.submitted, 1);
    EXPECT_EQ(load_.finished, 1);
}

TEST_F(ChainTest, FrontControllerAnswersWhatNoFileDoes) {
    RecordingSink sink(make_request("GET", "/blog/post-1?x=2"));
    answer(sink);
    EXPECT_EQ(sink.body, "front /blog/post-1?x=2");
}

TEST_F(ChainTest, FlushedOutputStreamsWithoutALength) {
    RecordingSink sink(make_request("GET", "/stream.php"));
    answer(sink);
    ASSERT_TRUE(sink.head);
    EXPECT_TRUE(sink.framing.body);
    EXPECT_FALSE(sink.framing.content_length)
        << "the first send was not the last: the body streams";
    EXPECT_GE(sink.sends, 2);
    EXPECT_EQ(sink.body, "abc");
    EXPECT_TRUE(sink.last);
}

TEST_F(ChainTest, DeclaredLengthAnswersHeadOnly) {
    RecordingSink head(make_request("HEAD", "/declared.php"));
    answer(head);
    ASSERT_TRUE(head.head);
    EXPECT_FALSE(head.framing.body);
    EXPECT_EQ(head.framing.content_length, std::optional<std::uint64_t>(42));
    EXPECT_EQ(head.body, "");

    RecordingSink get(make_request("GET", "/declared.php"));
    answer(get);
    EXPECT_EQ(get.framing.content_length, std::optional<std::uint64_t>(42))
        << "counted from the body";
    EXPECT_EQ(get.body.size(), 42u);
}

TEST_F(ChainTest, AnInterimStatusCannotBeTheFinalOne) {
    RecordingSink sink(make_request("GET", "/interim.php"));
    answer(sink);
    ASSERT_TRUE(sink.head);
    EXPECT_EQ(sink.head->status, 500);
    RecordingSink teapot(make_request("GET", "/status.php"));
    answer(teapot);
    EXPECT_EQ(teapot.head->status, 418);
}

TEST_F(ChainTest, FinishedRequestCompletesWhileTheScriptGoesOnWithTheRequest) {
    RecordingSink sink(make_request("GET", "/finish.php"));
    answer(sink);
    EXPECT_TRUE(sink.last);
    EXPECT_EQ(sink.body, "done")
        << "output after fastcgi_finish_request() is not part of the response";
    EXPECT_TRUE(sink.released) << "the request lives on with the script";
    EXPECT_EQ(load_.finished, 1);
}

}  // namespace
}  // namespace askr::worker
