// One table of requests, each sent over HTTP/1.1 and over HTTP/2 (clear text, prior
// knowledge) to the same server: both protocols go through one handler chain, so every
// case must get the same answer (status, the fields that matter, body) from both.
#include <curl/curl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "harness.hpp"

// The table names only the fields each case needs (designated initializers).
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace askr::test {
namespace {

enum class Protocol { http1, http2 };

struct Answer {
    long status = 0;
    long version = 0;  // CURL_HTTP_VERSION_1_1 or _2_0, as curl used it
    std::string error;
    std::vector<std::pair<std::string, std::string>> fields;  // names lower-case
    std::string body;
    std::string field(const std::string& name) const {
        std::string value;
        for (const auto& [n, v] : fields) {
            if (n == name) value = v;
        }
        return value;
    }
    bool has(const std::string& name) const {
        return std::any_of(fields.begin(), fields.end(),
                           [&](const auto& f) { return f.first == name; });
    }
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
    static_cast<Answer*>(user)->body.append(data, size * count);
    return size * count;
}

size_t on_field(char* data, size_t size, size_t count, void* user) {
    auto* answer = static_cast<Answer*>(user);
    std::string line(data, size * count);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    if (line.rfind("HTTP/", 0) == 0) {
        answer->fields.clear();  // a final response after an interim one
        return size * count;
    }
    const auto colon = line.find(':');
    if (colon == std::string::npos) return size * count;
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    answer->fields.emplace_back(name, value);
    return size * count;
}

struct Case {
    const char* name;
    std::string method = "GET";
    std::string target;  // the request-target, as sent
    std::vector<std::string> fields;
    std::string body;
    long status = 200;
    /// More checks on the answer, the same for both protocols.
    void (*check)(const Answer&) = nullptr;
};

Answer send(Protocol protocol, std::uint16_t port, const Case& c) {
    Answer answer;
    CURL* curl = curl_easy_init();
    const std::string url =
        "http://127.0.0.1:" + std::to_string(port) + (c.target == "*" ? "/" : c.target);
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    if (c.target == "*") curl_easy_setopt(curl, CURLOPT_REQUEST_TARGET, "*");
    curl_easy_setopt(
        curl, CURLOPT_HTTP_VERSION,
        protocol == Protocol::http2 ? CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE : CURL_HTTP_VERSION_1_1);
    if (c.method == "HEAD") {
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, c.method.c_str());
    }
    if (!c.body.empty()) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, c.body.data());
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(c.body.size()));
    }
    curl_slist* list = nullptr;
    for (const auto& f : c.fields) list = curl_slist_append(list, f.c_str());
    list = curl_slist_append(list, "Expect:");  // no 100-continue round trip for small bodies
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_field);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &answer);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
    const CURLcode rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) answer.error = curl_easy_strerror(rc);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &answer.status);
    curl_easy_getinfo(curl, CURLINFO_HTTP_VERSION, &answer.version);
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    return answer;
}

const std::string style = "body { color: #123456 }\n";

std::vector<Case> cases() {
    return {
        {.name = "OptionsAsterisk",
         .method = "OPTIONS",
         .target = "*",
         .status = 204,
         .check =
             [](const Answer& a) {
                 EXPECT_NE(a.field("allow").find("GET"), std::string::npos);
                 EXPECT_EQ(a.body, "");
             }},
        {.name = "StaticFile",
         .target = "/style.css",
         .check =
             [](const Answer& a) {
                 EXPECT_EQ(a.body, style);
                 EXPECT_EQ(a.field("content-type"), "text/css");
                 EXPECT_EQ(a.field("content-length"), std::to_string(style.size()));
                 EXPECT_FALSE(a.field("etag").empty());
             }},
        {.name = "HeadStaticFile",
         .method = "HEAD",
         .target = "/style.css",
         .check =
             [](const Answer& a) {
                 EXPECT_EQ(a.field("content-length"), std::to_string(style.size()));
                 EXPECT_EQ(a.body, "");
             }},
        {.name = "NotModified",
         .target = "/style.css",
         .fields = {"If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT"},
         .status = 304,
         .check =
             [](const Answer& a) {
                 EXPECT_EQ(a.body, "");
                 EXPECT_FALSE(a.has("content-length"));
             }},
        {.name = "Range",
         .target = "/style.css",
         .fields = {"Range: bytes=0-3"},
         .status = 206,
         .check =
             [](const Answer& a) {
                 EXPECT_EQ(a.body, "body");
                 EXPECT_EQ(a.field("content-range"), "bytes 0-3/" + std::to_string(style.size()));
             }},
        {.name = "RangeNotSatisfiable",
         .target = "/style.css",
         .fields = {"Range: bytes=9000-"},
         .status = 416,
         .check =
             [](const Answer& a) {
                 EXPECT_EQ(a.field("content-range"), "bytes */" + std::to_string(style.size()));
             }},
        {.name = "PostToStaticFile",
         .method = "POST",
         .target = "/style.css",
         .body = "x",
         .status = 405,
         .check = [](const Answer& a) { EXPECT_EQ(a.field("allow"), "GET, HEAD"); }},
        {.name = "DirectoryRedirect",
         .target = "/docs?page=2",
         .status = 301,
         .check = [](const Answer& a) { EXPECT_EQ(a.field("location"), "/docs/?page=2"); }},
        {.name = "DotFileIsNotFound",
         .target = "/.env",
         .status = 404,
         .check =
             [](const Answer& a) { EXPECT_NE(a.body.find("404 Not Found"), std::string::npos); }},
        {.name = "PhpScript",
         .target = "/hello.php?name=table",
         .check =
             [](const Answer& a) {
                 EXPECT_EQ(a.body, "hello table");
                 EXPECT_EQ(a.field("x-answer"), "42");
                 EXPECT_EQ(a.field("content-length"), "11") << "a finished script is sent whole";
                 EXPECT_FALSE(a.has("x-powered-by-askr-test"));
             }},
        {.name = "PhpPost",
         .method = "POST",
         .target = "/echo.php",
         .fields = {"Content-Type: application/x-www-form-urlencoded"},
         .body = "a=1&b=two",
         .check = [](const Answer& a) { EXPECT_EQ(a.body, "POST a=1 b=two"); }},
        {.name = "PhpHeadDeclaredLength",
         .method = "HEAD",
         .target = "/declared.php",
         .check =
             [](const Answer& a) {
                 EXPECT_EQ(a.field("content-length"), "42");
                 EXPECT_EQ(a.body, "");
             }},
        {.name = "PhpStreaming",
         .target = "/stream.php",
         .check =
             [](const Answer& a) {
                 EXPECT_EQ(a.body, "abc");
                 EXPECT_FALSE(a.has("content-length")) << "flushed pieces stream";
             }},
        {.name = "PhpStatus",
         .target = "/status.php",
         .status = 418,
         .check = [](const Answer& a) { EXPECT_EQ(a.body, "teapot"); }},
        {.name = "PhpInterimStatusIsNoFinalStatus", .target = "/interim.php", .status = 500},
        {.name = "PhpNoContent",
         .target = "/nocontent.php",
         .status = 204,
         .check =
             [](const Answer& a) {
                 EXPECT_EQ(a.body, "");
                 EXPECT_FALSE(a.has("content-length"));
             }},
        {.name = "PhpConnectionFieldsAreDropped",
         .target = "/connection.php",
         .check =
             [](const Answer& a) {
                 EXPECT_FALSE(a.has("upgrade"));
                 EXPECT_FALSE(a.has("keep-alive"));
                 EXPECT_EQ(a.body, "ok");
             }},
        {.name = "BodyTooLarge",
         .method = "POST",
         .target = "/echo.php",
         .body = std::string(4096, 'x'),
         .status = 413},
        {.name = "HeadersTooLarge",
         .target = "/hello.php",
         .fields = {"X-Big: " + std::string(3000, 'h')},
         .status = 431},
    };
}

class Conformance : public ::testing::TestWithParam<std::tuple<Case, Protocol>> {
  protected:
    static void SetUpTestSuite() {
        root_ = std::make_unique<TempDir>();
        root_->write("style.css", style);
        root_->write("docs/index.html", "docs");
        root_->write(".env", "SECRET=1");
        root_->write("hello.php",
                     "<?php header('X-Answer: 42'); echo 'hello ', $_GET['name'] ?? '';");
        root_->write(
            "echo.php",
            "<?php echo $_SERVER['REQUEST_METHOD'], ' a=', $_POST['a'], ' b=', $_POST['b'];");
        root_->write("declared.php",
                     "<?php header('Content-Length: 42'); echo str_repeat('x', 42);");
        root_->write(
            "stream.php",
            "<?php echo 'a'; flush(); usleep(30000); echo 'b'; flush(); usleep(30000); echo 'c';");
        root_->write("status.php", "<?php http_response_code(418); echo 'teapot';");
        root_->write("interim.php", "<?php http_response_code(100); echo 'not final';");
        root_->write("nocontent.php", "<?php http_response_code(204); echo 'dropped';");
        root_->write("connection.php",
                     "<?php header('Upgrade: h2c'); header('Keep-Alive: timeout=1'); "
                     "header('Connection: upgrade'); "
                     "echo 'ok';");
        server_ = std::make_unique<Server>(
            root_->path(), std::vector<std::string>{"--workers", "1", "--max-body-size", "1K",
                                                    "--max-header-size", "2K"});
        server_->allow_error("invalid final status 100");
    }
    static void TearDownTestSuite() {
        server_.reset();
        root_.reset();
    }
    static inline std::unique_ptr<TempDir> root_;
    static inline std::unique_ptr<Server> server_;
};

TEST_P(Conformance, SameAnswerOverBothProtocols) {
    const auto& [c, protocol] = GetParam();
    const Answer answer = send(protocol, server_->port(), c);
    ASSERT_EQ(answer.error, "") << c.name;
    EXPECT_EQ(answer.version,
              protocol == Protocol::http2 ? CURL_HTTP_VERSION_2_0 : CURL_HTTP_VERSION_1_1);
    EXPECT_EQ(answer.status, c.status) << answer.body;
    EXPECT_EQ(answer.field("server"), "Askr");
    EXPECT_FALSE(answer.field("date").empty());
    if (c.check) c.check(answer);
}

INSTANTIATE_TEST_SUITE_P(Table, Conformance,
                         ::testing::Combine(::testing::ValuesIn(cases()),
                                            ::testing::Values(Protocol::http1, Protocol::http2)),
                         [](const auto& info) {
                             return std::string(std::get<0>(info.param).name) +
                                    (std::get<1>(info.param) == Protocol::http2 ? "_h2" : "_h1");
                         });

}  // namespace
}  // namespace askr::test
