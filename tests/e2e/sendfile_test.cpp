// Two stages of the handler chain that change a PHP response on its way, each over
// HTTP/1.1 and HTTP/2: X-Sendfile / X-Accel-Redirect (the response is a file under a
// --sendfile-root, served as a static file is) and 103 Early Hints (headers_send(103)).
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <string>
#include <vector>

#include "harness.hpp"
#include "http2_support.hpp"
#include "php_support.hpp"

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace askr::test {
namespace {

// Distinct bytes at every offset, so a range or a truncation shows.
std::string pattern(std::size_t size) {
    std::string out;
    out.reserve(size);
    for (std::size_t i = 0; out.size() < size; ++i) out += "block-" + std::to_string(i) + ";";
    out.resize(size);
    return out;
}

constexpr std::string_view secret = "TOP-SECRET-CONTENT";

class Sendfile : public ::testing::Test {
  protected:
    void SetUp() override {
        // Larger than the file cache keeps in memory: sent with sendfile.
        report = pattern(100 * 1024);
        base.write("files/report.bin", report);
        base.write("files/note.txt", "a small note\n");
        base.mkdir("files/folder");
        base.write("files-private/secret.txt", std::string(secret));
        base.write("outside/secret.txt", std::string(secret));
        std::filesystem::create_symlink(base.path() + "/outside/secret.txt",
                                        base.path() + "/files/escape.txt");
        files = base.path() + "/files";
        // The script's own headers, a cookie and a body that must not reach the client.
        root.write("send.php", R"(<?php
            header('Content-Type: application/pdf');
            header('Content-Disposition: attachment; filename="report.pdf"');
            header('Cache-Control: private, max-age=60');
            setcookie('downloaded', 'yes');
            header('X-Sendfile: ' . $_GET['f']);
            echo 'SCRIPT-BODY';)");
        // No Content-Type of its own: the file's type applies.
        root.write("accel.php", R"(<?php
            header('X-Accel-Redirect: ' . $_GET['f']);
            echo 'SCRIPT-BODY';)");
    }

    std::vector<std::string> args() const { return {"--sendfile-root", files}; }
    std::string send_url(const Server& server, const std::string& file,
                         const std::string& script = "/send.php") const {
        return server.url(script + "?f=" + file);
    }

    TempDir base;
    TempDir root;
    std::string files;
    std::string report;
};

TEST_F(Sendfile, FileServedWithScriptHeadersOverHttp1) {
    Server server(root.path(), args());
    auto r = get(send_url(server, files + "/report.bin"));
    ASSERT_EQ(r.status, 200) << r.error << r.body;
    EXPECT_TRUE(r.body == report) << "body differs, size " << r.body.size();
    EXPECT_EQ(r.header("content-length"), std::to_string(report.size()));
    EXPECT_EQ(r.header("content-type"), "application/pdf");
    EXPECT_EQ(r.header("content-disposition"), "attachment; filename=\"report.pdf\"");
    EXPECT_EQ(r.header("cache-control"), "private, max-age=60");
    EXPECT_NE(r.header("set-cookie").find("downloaded=yes"), std::string::npos);
    EXPECT_FALSE(r.has_header("x-sendfile"));
    EXPECT_EQ(r.header("accept-ranges"), "bytes");
    const std::string etag = r.header("etag");
    EXPECT_FALSE(etag.empty());
    EXPECT_FALSE(r.header("last-modified").empty());

    auto range =
        request(send_url(server, files + "/report.bin"), {.headers = {"Range: bytes=1000-1099"}});
    EXPECT_EQ(range.status, 206);
    EXPECT_EQ(range.body, report.substr(1000, 100));
    EXPECT_EQ(range.header("content-range"), "bytes 1000-1099/" + std::to_string(report.size()));
    EXPECT_EQ(range.header("content-disposition"), "attachment; filename=\"report.pdf\"");

    auto head = request(send_url(server, files + "/report.bin"), {.method = "HEAD"});
    EXPECT_EQ(head.status, 200);
    EXPECT_TRUE(head.body.empty());
    EXPECT_EQ(head.header("content-length"), std::to_string(report.size()));
    EXPECT_EQ(head.header("content-disposition"), "attachment; filename=\"report.pdf\"");

    auto cached =
        request(send_url(server, files + "/report.bin"), {.headers = {"If-None-Match: " + etag}});
    EXPECT_EQ(cached.status, 304);
    EXPECT_TRUE(cached.body.empty());

    // A POST (a download form) gets the file as well.
    auto posted =
        request(send_url(server, files + "/report.bin"), {.method = "POST", .body = "a=1"});
    EXPECT_EQ(posted.status, 200);
    EXPECT_TRUE(posted.body == report);

    // X-Accel-Redirect, a small file (from memory), the file's own type.
    auto accel = get(send_url(server, files + "/note.txt", "/accel.php"));
    EXPECT_EQ(accel.status, 200);
    EXPECT_EQ(accel.body, "a small note\n");
    EXPECT_EQ(accel.header("content-type"), "text/plain");
    EXPECT_FALSE(accel.has_header("x-accel-redirect"));
}

TEST_F(Sendfile, FileServedOverHttp2) {
    Server server(root.path(), args());
    auto r = h2::h2_request(send_url(server, files + "/report.bin"));
    ASSERT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.http_version, CURL_HTTP_VERSION_2_0);
    EXPECT_TRUE(r.body == report) << "body differs, size " << r.body.size();
    EXPECT_EQ(r.header("content-type"), "application/pdf");
    EXPECT_EQ(r.header("content-disposition"), "attachment; filename=\"report.pdf\"");
    EXPECT_EQ(r.header("x-sendfile"), "");

    auto range =
        h2::h2_request(send_url(server, files + "/report.bin"), "GET", {}, {"Range: bytes=5-14"});
    EXPECT_EQ(range.status, 206);
    EXPECT_EQ(range.body, report.substr(5, 10));

    auto head = h2::h2_request(send_url(server, files + "/report.bin"), "HEAD");
    EXPECT_EQ(head.status, 200);
    EXPECT_TRUE(head.body.empty());
    EXPECT_EQ(head.header("content-length"), std::to_string(report.size()));

    server.allow_error("refused");
    auto outside = h2::h2_request(send_url(server, base.path() + "/outside/secret.txt"));
    EXPECT_EQ(outside.status, 500);
    EXPECT_EQ(outside.body.find(secret), std::string::npos);
}

// Over TLS a file is read into the records rather than sent with sendfile().
TEST_F(Sendfile, FileServedOverHttp2WithTls) {
    TempDir certs;
    auto tls_args = args();
    tls_args.insert(tls_args.end(),
                    {"--tls-self-signed", "--tls-self-signed-dir", certs.path() + "/tls"});
    Server server(root.path(), tls_args);
    auto r = h2::h2_request(send_url(server, files + "/report.bin"));
    ASSERT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.http_version, CURL_HTTP_VERSION_2_0);
    EXPECT_TRUE(r.body == report) << "body differs, size " << r.body.size();
    EXPECT_EQ(r.header("content-disposition"), "attachment; filename=\"report.pdf\"");
    auto range =
        h2::h2_request(send_url(server, files + "/report.bin"), "GET", {}, {"Range: bytes=70000-"});
    EXPECT_EQ(range.status, 206);
    EXPECT_TRUE(range.body == report.substr(70000));
}

// Every path that is not a readable file under a root is a 500 that never carries the
// file, and a log line says which path and why.
TEST_F(Sendfile, PathsOutsideTheRootsAre500) {
    Server server(root.path(), args());
    server.allow_error("refused");
    const std::vector<std::pair<std::string, std::string>> cases = {
        {base.path() + "/outside/secret.txt", "outside every sendfile root"},
        {files + "/../outside/secret.txt", "outside every sendfile root"},
        {files + "/escape.txt", "outside every sendfile root"},  // a symbolic link
        {base.path() + "/files-private/secret.txt", "outside every sendfile root"},  // prefix only
        {files + "/missing.bin", "No such file or directory"},
        {files + "/folder", "not a regular file"},
        {"outside/secret.txt", "not an absolute path"},
    };
    for (const auto& [path, reason] : cases) {
        for (const std::string script : {"/send.php", "/accel.php"}) {
            auto r = get(send_url(server, path, script));
            EXPECT_EQ(r.status, 500) << path;
            EXPECT_EQ(r.body.find(secret), std::string::npos) << path;
            EXPECT_EQ(r.body.find("SCRIPT-BODY"), std::string::npos) << path;
            EXPECT_FALSE(r.has_header("x-sendfile") || r.has_header("x-accel-redirect")) << path;
        }
        EXPECT_TRUE(server.wait_for_log(path + "\" from /send.php refused: ")) << path;
        EXPECT_NE(server.log().find(reason), std::string::npos) << reason;
    }
    // Raw bytes: nothing of the secret anywhere on the wire either.
    const auto raw = raw_exchange(server.port(), "GET /send.php?f=" + files +
                                                     "/escape.txt HTTP/1.1\r\nHost: x\r\n"
                                                     "Connection: close\r\n\r\n");
    EXPECT_EQ(raw_status(raw), 500);
    EXPECT_EQ(raw.find(secret), std::string::npos);
}

TEST_F(Sendfile, OffWithoutRoots) {
    Server server(root.path());
    auto r = get(send_url(server, files + "/report.bin"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "SCRIPT-BODY");
    EXPECT_EQ(r.header("x-sendfile"), files + "/report.bin");
    EXPECT_EQ(r.header("content-type"), "application/pdf");
}

class EarlyHints : public ::testing::Test {
  protected:
    void SetUp() override {
        // Two 103s: the first with one Link, the second with both; other headers wait
        // for the final response.
        root.write("hints.php", R"(<?php
            header('Link: </style.css>; rel=preload; as=style');
            header('X-Final: yes');
            $first = headers_send(103);
            header('Link: </app.js>; rel=preload; as=script', false);
            $second = headers_send(103);
            echo "final-body $first $second";)");
        root.write("late.php", R"(<?php
            header('Link: </style.css>; rel=preload; as=style');
            echo 'x'; flush();
            echo ' late=', headers_send(103);)");
        root.write("final103.php", "<?php http_response_code(103); echo 'never a final 103';");
    }
    TempDir root;
};

// The 1xx heads of a raw HTTP/1.1 response, and where the final one starts.
std::vector<std::string> interim_heads(const std::string& response, std::string& rest) {
    std::vector<std::string> heads;
    std::size_t at = 0;
    while (response.compare(at, 10, "HTTP/1.1 1") == 0) {
        const auto end = response.find("\r\n\r\n", at);
        if (end == std::string::npos) break;
        heads.push_back(response.substr(at, end + 2 - at));
        at = end + 4;
    }
    rest = response.substr(at);
    return heads;
}

TEST_F(EarlyHints, TwoHintsBeforeTheFinalResponseOverHttp1) {
    Server server(root.path());
    const auto raw = raw_exchange(
        server.port(), "GET /hints.php HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    std::string rest;
    const auto heads = interim_heads(raw, rest);
    ASSERT_EQ(heads.size(), 2u) << raw;
    EXPECT_EQ(heads[0],
              "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n");
    EXPECT_EQ(heads[1],
              "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n"
              "Link: </app.js>; rel=preload; as=script\r\n");
    ASSERT_EQ(raw_status(rest), 200) << raw;
    EXPECT_NE(rest.find("\r\nX-Final: yes\r\n"), std::string::npos) << rest;
    EXPECT_NE(rest.find("\r\nLink: </style.css>; rel=preload; as=style\r\n"), std::string::npos);
    EXPECT_NE(rest.find("\r\nLink: </app.js>; rel=preload; as=script\r\n"), std::string::npos);
    EXPECT_NE(rest.find("final-body 1 1"), std::string::npos) << rest;

    // libcurl reads the 103s and hands over the final response.
    auto r = get(server.url("/hints.php"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "final-body 1 1");
}

// The 103 is on the wire while the script still runs: the script waits for a file that
// the client creates only once it has read the 103.
TEST_F(EarlyHints, HintArrivesWhileTheScriptRuns) {
    TempDir flags;
    const std::string flag = flags.path() + "/go";
    root.write("hold.php", R"(<?php
        header('Link: </style.css>; rel=preload; as=style');
        headers_send(103);
        $deadline = microtime(true) + 10;
        while (!file_exists($_GET['flag']) && microtime(true) < $deadline) usleep(5000);
        echo file_exists($_GET['flag']) ? 'released' : 'never released';)");
    Server server(root.path());
    const int fd = connect_loopback(server.port());
    ASSERT_GE(fd, 0);
    const std::string request =
        "GET /hold.php?flag=" + flag + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    ASSERT_EQ(::write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
    std::string received;
    auto read_until = [&](auto done) {
        char buffer[4096];
        for (int i = 0; i < 200 && !done(); ++i) {  // each read waits at most 50 ms
            pollfd pfd{fd, POLLIN, 0};
            if (::poll(&pfd, 1, 50) != 1) continue;
            const ssize_t n = ::read(fd, buffer, sizeof buffer);
            if (n <= 0) break;
            received.append(buffer, static_cast<std::size_t>(n));
        }
    };
    read_until([&] { return received.find("\r\n\r\n") != std::string::npos; });
    EXPECT_EQ(received,
              "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n");
    flags.write("go", "go");
    read_until([&] { return received.find("released") != std::string::npos; });
    ::close(fd);
    EXPECT_NE(received.find("HTTP/1.1 200 OK\r\n"), std::string::npos) << received;
    EXPECT_NE(received.find("released"), std::string::npos) << received;
    EXPECT_EQ(received.find("never released"), std::string::npos) << received;
}

// Worker mode hands the same mailbox to the script: hints and X-Sendfile work there too.
TEST_F(EarlyHints, WorkerModeSendsHintsAndFiles) {
    TempDir files;
    files.write("data.txt", "from the sendfile root\n");
    root.write("worker.php", R"(<?php
        while (askr_handle_request(function () {
            if (isset($_GET['file'])) {
                header('X-Sendfile: ' . $_GET['file']);
                return;
            }
            header('Link: </style.css>; rel=preload; as=style');
            headers_send(103);
            echo 'worker-final';
        })) {})");
    Server server(root.path(), {"--worker", root.path() + "/worker.php", "--workers", "1",
                                "--sendfile-root", files.path()});
    const auto raw =
        raw_exchange(server.port(), "GET /hints HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(raw.rfind("HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; "
                        "as=style\r\n\r\nHTTP/1.1 200 OK\r\n",
                        0),
              0u)
        << raw;
    EXPECT_NE(raw.find("worker-final"), std::string::npos);
    auto file = get(server.url("/download?file=" + files.path() + "/data.txt"));
    EXPECT_EQ(file.status, 200);
    EXPECT_EQ(file.body, "from the sendfile root\n");
    EXPECT_EQ(file.header("content-type"), "text/plain");
}

TEST_F(EarlyHints, NotSentToHttp10OrAfterTheHead) {
    Server server(root.path());
    const auto raw = raw_exchange(server.port(), "GET /hints.php HTTP/1.0\r\nHost: x\r\n\r\n");
    EXPECT_EQ(raw_status(raw), 200) << raw;
    EXPECT_EQ(raw.find(" 103 "), std::string::npos) << raw;
    EXPECT_NE(raw.find("\r\nLink: </app.js>; rel=preload; as=script\r\n"), std::string::npos);
    EXPECT_NE(raw.find("final-body"), std::string::npos);

    // Once the head is out, a 103 would be read as part of the response: refused (3).
    const auto late = raw_exchange(
        server.port(), "GET /late.php HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(raw_status(late), 200) << late;
    EXPECT_EQ(late.find(" 103 "), std::string::npos) << late;
    EXPECT_NE(late.find("late=3"), std::string::npos) << late;

    // A 1xx as the final status stays refused.
    server.allow_error("invalid final status 103");
    EXPECT_EQ(get(server.url("/final103.php")).status, 500);
}

// With a final status, headers_send() sets it and the head goes now (as flush() sends it):
// the script holds its body back until the client has read that head.
TEST_F(EarlyHints, FinalStatusSendsTheHeadNow) {
    TempDir flags;
    const std::string flag = flags.path() + "/go";
    root.write("created.php", R"(<?php
        header('X-Early: yes');
        $r = headers_send(201);
        header('X-Late: too late');
        $deadline = microtime(true) + 10;
        while (!file_exists($_GET['flag']) && microtime(true) < $deadline) usleep(5000);
        echo 'result=', $r, ' sent=', headers_sent() ? 'yes' : 'no';)");
    Server server(root.path());
    php::RawClient client(server.port());
    ASSERT_TRUE(client.connected());
    ASSERT_TRUE(client.send("GET /created.php?flag=" + flag +
                            " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    ASSERT_TRUE(client.read_until("\r\n\r\n", std::chrono::seconds(10))) << client.received();
    const std::string head = client.received();
    EXPECT_EQ(raw_status(head), 201) << head;
    EXPECT_NE(head.find("\r\nX-Early: yes\r\n"), std::string::npos) << head;
    EXPECT_NE(head.find("\r\nTransfer-Encoding: chunked\r\n"), std::string::npos)
        << "the head went before the body was known: " << head;
    flags.write("go", "go");
    client.read_all(std::chrono::seconds(10));
    const std::string& raw = client.received();
    EXPECT_EQ(raw.find("X-Late"), std::string::npos) << raw;
    EXPECT_NE(raw.find("result=1 sent=yes"), std::string::npos) << raw;
}

// Every header line libcurl saw, status lines included ("HTTP/2 103").
size_t record_line(char* data, size_t size, size_t count, void* user) {
    std::string line(data, size * count);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    if (!line.empty()) static_cast<std::vector<std::string>*>(user)->push_back(line);
    return size * count;
}
size_t discard(char*, size_t size, size_t count, void*) {
    return size * count;
}

// The header lines of one HTTP/2 exchange (prior knowledge for http://, ALPN for https://).
std::vector<std::string> h2_header_lines(const std::string& url, long& status) {
    std::vector<std::string> lines;
    CURL* curl = curl_easy_init();
    if (!curl) return lines;
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(
        curl, CURLOPT_HTTP_VERSION,
        url.rfind("https:", 0) == 0 ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);  // the self-signed certificate
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, record_line);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &lines);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    const CURLcode rc = curl_easy_perform(curl);
    status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK) lines.push_back(std::string("curl error: ") + curl_easy_strerror(rc));
    return lines;
}

TEST_F(EarlyHints, TwoHintsOverHttp2ClearAndTls) {
    TempDir certs;
    Server clear(root.path());
    Server tls(root.path(), {"--tls-self-signed", "--tls-self-signed-dir", certs.path() + "/tls"});
    const std::vector<std::string> expected_start = {
        "HTTP/2 103",
        "link: </style.css>; rel=preload; as=style",
        "HTTP/2 103",
        "link: </style.css>; rel=preload; as=style",
        "link: </app.js>; rel=preload; as=script",
        "HTTP/2 200",
    };
    for (const Server* server : {&clear, &tls}) {
        long status = 0;
        const auto lines = h2_header_lines(server->url("/hints.php"), status);
        EXPECT_EQ(status, 200) << server->url();
        ASSERT_GE(lines.size(), expected_start.size()) << server->url();
        EXPECT_EQ(std::vector<std::string>(lines.begin(), lines.begin() + expected_start.size()),
                  expected_start)
            << server->url();
        EXPECT_NE(std::find(lines.begin(), lines.end(), "x-final: yes"), lines.end());
    }
}

}  // namespace
}  // namespace askr::test
