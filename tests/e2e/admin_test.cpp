// The admin listener, metrics, Prometheus export and logs (docs/admin.md).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "http2_support.hpp"

namespace askr::test {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;
constexpr const char* token = "0123456789abcdef-test-token";

// Runs a shell command; its exit status and what it printed (stdout and stderr).
std::pair<int, std::string> run(const std::string& command) {
    std::string out;
    FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
    if (!pipe) return {-1, out};
    char buffer[4096];
    while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
    const int status = ::pclose(pipe);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

json get_json(const Server& server, const std::string& path,
              const std::vector<std::string>& headers = {}) {
    RequestOptions options;
    options.headers = headers;
    auto r = request(server.admin_url(path), options);
    EXPECT_EQ(r.status, 200) << path << ": " << r.body;
    EXPECT_EQ(r.header("content-type"), "application/json");
    return json::parse(r.body, nullptr, false);
}

// Polls /api/metrics until `done` holds (requests are counted right after their response
// is written, so a client can be a moment ahead of the counters).
json wait_for_metrics(const Server& server, const std::function<bool(const json&)>& done,
                      const std::vector<std::string>& headers = {}) {
    json m;
    for (int i = 0; i < 250; ++i) {
        m = get_json(server, "/api/metrics", headers);
        if (!m.is_discarded() && done(m)) return m;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return m;
}

// Value of one sample in Prometheus text ("name{labels}" exactly as written), -1 if absent.
double prometheus_sample(const std::string& text, const std::string& series) {
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
    }
    return -1;
}

void write_app(const TempDir& root) {
    root.write("file.txt", std::string(1024, 'x'));
    root.write("hello.php", "<?php echo 'hello';");
    root.write("fail.php", "<?php http_response_code(500); echo 'failed';");
}

// A known request sequence across two workers: every count matches exactly, in the JSON
// and in the Prometheus text.
TEST(Admin, MetricsCountAKnownSequenceExactly) {
    TempDir root;
    write_app(root);
    Server server(root.path(), {"--workers", "2"});
    ASSERT_NE(server.admin_port(), 0);
    constexpr int statics = 20, phps = 15, missing = 7;
    for (int i = 0; i < statics; ++i) ASSERT_EQ(get(server.url("/file.txt")).status, 200);
    for (int i = 0; i < phps; ++i) ASSERT_EQ(get(server.url("/hello.php")).status, 200);
    for (int i = 0; i < missing; ++i)
        ASSERT_EQ(get(server.url("/missing-" + std::to_string(i))).status, 404);
    ASSERT_EQ(get(server.url("/fail.php")).status, 500);
    constexpr int total = statics + phps + missing + 1;

    json m =
        wait_for_metrics(server, [](const json& j) { return j["requests"]["total"] == total; });
    EXPECT_EQ(m["requests"]["total"], total) << m.dump(2);
    EXPECT_EQ(m["requests"]["in_flight"], 0);
    EXPECT_EQ(m["requests"]["by_status"]["1xx"], 0);
    EXPECT_EQ(m["requests"]["by_status"]["2xx"], statics + phps);
    EXPECT_EQ(m["requests"]["by_status"]["3xx"], 0);
    EXPECT_EQ(m["requests"]["by_status"]["4xx"], missing);
    EXPECT_EQ(m["requests"]["by_status"]["5xx"], 1);
    EXPECT_EQ(m["requests"]["by_kind"]["static"], statics);
    EXPECT_EQ(m["requests"]["by_kind"]["php"], phps + 1);
    EXPECT_EQ(m["requests"]["by_kind"]["other"], missing);
    EXPECT_EQ(m["connections"]["accepted"], total);  // libcurl: a new connection per request
    EXPECT_EQ(m["connections"]["shed"], 0);
    EXPECT_EQ(m["workers"]["starts"], 2);
    EXPECT_EQ(m["workers"]["crashes"], 0);
    EXPECT_GT(m["bytes"]["in"].get<std::uint64_t>(), static_cast<std::uint64_t>(total) * 40);
    EXPECT_GT(m["bytes"]["out"].get<std::uint64_t>(), static_cast<std::uint64_t>(statics) * 1024);
    const auto& buckets = m["latency_seconds"]["buckets"];
    ASSERT_FALSE(buckets.empty());
    EXPECT_EQ(buckets.back()["le"], "+Inf");
    EXPECT_EQ(buckets.back()["count"], total);
    for (std::size_t i = 1; i < buckets.size(); ++i)
        EXPECT_LE(buckets[i - 1]["count"], buckets[i]["count"]);
    EXPECT_GT(m["latency_seconds"]["sum"].get<double>(), 0);
    EXPECT_GT(m["time_seconds"]["php_wall"].get<double>(), 0);

    // The worker table agrees: both workers' request counts add up to the total.
    json status = get_json(server, "/api/status");
    ASSERT_EQ(status["workers"].size(), 2u) << status.dump(2);
    std::uint64_t per_worker = 0;
    for (const auto& w : status["workers"]) per_worker += w["requests"].get<std::uint64_t>();
    EXPECT_EQ(per_worker, static_cast<std::uint64_t>(total));

    auto text = get(server.admin_url("/metrics"));
    ASSERT_EQ(text.status, 200);
    EXPECT_EQ(text.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_EQ(prometheus_sample(text.body, R"(askr_requests_total{class="2xx"})"), statics + phps);
    EXPECT_EQ(prometheus_sample(text.body, R"(askr_requests_total{class="4xx"})"), missing);
    EXPECT_EQ(prometheus_sample(text.body, R"(askr_requests_total{class="5xx"})"), 1);
    EXPECT_EQ(prometheus_sample(text.body, R"(askr_requests_by_kind_total{kind="static"})"),
              statics);
    EXPECT_EQ(prometheus_sample(text.body, R"(askr_requests_by_kind_total{kind="php"})"), phps + 1);
    EXPECT_EQ(prometheus_sample(text.body, R"(askr_request_duration_seconds_bucket{le="+Inf"})"),
              total);
    EXPECT_EQ(prometheus_sample(text.body, "askr_request_duration_seconds_count"), total);
    EXPECT_EQ(prometheus_sample(text.body, "askr_worker_starts_total"), 2);
}

// The exposition format checked by Prometheus' own parser and linter (promtool, Debian's
// `prometheus` package), and by a strict reading here: every sample belongs to a family
// announced by # HELP and # TYPE, histogram buckets are cumulative and end at +Inf.
TEST(Admin, PrometheusTextPassesPromtool) {
    TempDir root;
    write_app(root);
    Server server(root.path(), {"--workers", "2"});
    for (int i = 0; i < 5; ++i) get(server.url("/hello.php"));
    auto text = get(server.admin_url("/metrics"));
    ASSERT_EQ(text.status, 200);
    const std::string file = root.write("metrics.txt", text.body);
    auto [promtool_status, promtool_output] =
        run("command -v promtool >/dev/null || exit 77; promtool check metrics < " + file);
    if (promtool_status == 77) {
        ADD_FAILURE() << "promtool is not installed (scripts/install-deps.sh installs Debian's "
                         "prometheus package)";
    } else {
        EXPECT_EQ(promtool_status, 0) << promtool_output << "\n" << text.body;
    }

    const std::regex help(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+)");
    const std::regex type(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram))");
    const std::regex sample(
        R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*")(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*")*\})? (-?[0-9]+(\.[0-9]+)?(e[-+][0-9]+)?|\+Inf|NaN))");
    std::map<std::string, std::string> types;
    std::string last_helped;
    double previous_bucket = -1;
    std::istringstream lines(text.body);
    for (std::string line; std::getline(lines, line);) {
        std::smatch m;
        if (std::regex_match(line, m, help)) {
            last_helped = m[1];
            continue;
        }
        if (std::regex_match(line, m, type)) {
            EXPECT_EQ(m[1], last_helped) << "# TYPE without its # HELP: " << line;
            EXPECT_EQ(types.count(m[1]), 0u) << "family announced twice: " << line;
            types[m[1]] = m[2];
            previous_bucket = -1;
            continue;
        }
        ASSERT_TRUE(std::regex_match(line, m, sample))
            << "not a valid sample line: '" << line << "'";
        std::string name = m[1];
        std::string family = name;
        for (const char* suffix : {"_bucket", "_sum", "_count"}) {
            if (family.ends_with(suffix) &&
                types.count(family.substr(0, family.size() - std::strlen(suffix)))) {
                family = family.substr(0, family.size() - std::strlen(suffix));
            }
        }
        ASSERT_EQ(types.count(family), 1u) << "sample of an undeclared family: " << line;
        if (types[family] == "counter") {
            EXPECT_TRUE(name.ends_with("_total")) << line;
        }
        if (name.ends_with("_bucket")) {
            const double value = std::stod(m[5]);
            EXPECT_GE(value, previous_bucket) << "buckets must be cumulative: " << line;
            previous_bucket = value;
        }
    }
    EXPECT_EQ(types["askr_request_duration_seconds"], "histogram");
    EXPECT_NE(text.body.find("askr_request_duration_seconds_bucket{le=\"+Inf\"}"),
              std::string::npos);
}

TEST(Admin, StatusReportsTheWorkerTable) {
    TempDir root;
    write_app(root);
    Server server(root.path(), {"--workers", "2"});
    get(server.url("/hello.php"));
    json status = get_json(server, "/api/status");
    EXPECT_EQ(status["version"], "0.1.0");
    EXPECT_EQ(status["master_pid"], server.pid());
    EXPECT_EQ(status["generation"], 1);
    EXPECT_EQ(status["workers_configured"], 2);
    EXPECT_EQ(status["reload"]["state"], "idle");
    EXPECT_GE(status["uptime_seconds"].get<double>(), 0);
    ASSERT_EQ(status["workers"].size(), 2u);
    for (const auto& w : status["workers"]) {
        EXPECT_GT(w["pid"].get<int>(), 0);
        EXPECT_EQ(w["generation"], 1);
        EXPECT_TRUE(w["state"] == "idle" || w["state"] == "busy") << w.dump();
        EXPECT_TRUE(w.contains("rss_bytes") && w.contains("current_request_ms") &&
                    w.contains("requests"));
    }
}

// Off loopback the listener needs a token: without one the server refuses to start.
TEST(Admin, RefusesANonLoopbackListenerWithoutAToken) {
    TempDir root;
    write_app(root);
    auto [status, output] = run(std::string("timeout 10 ") + ASKR_BINARY + " serve --root " +
                                root.path() + " --listen 127.0.0.1:0 --admin-listen 0.0.0.0:0");
    EXPECT_EQ(status, 2) << output;
    EXPECT_NE(output.find("--admin-listen 0.0.0.0:0: not a loopback address: the admin listener "
                          "then requires [admin] token"),
              std::string::npos)
        << output;
    std::tie(status, output) = run(std::string("timeout 10 ") + ASKR_BINARY + " serve --root " +
                                   root.path() + " --listen 127.0.0.1:0 --admin-listen nonsense");
    EXPECT_EQ(status, 2) << output;
    EXPECT_NE(output.find("--admin-listen nonsense: expected HOST:PORT"), std::string::npos)
        << output;
    std::tie(status, output) =
        run(std::string("timeout 10 ") + ASKR_BINARY + " serve --root " + root.path() +
            " --listen 127.0.0.1:0 --admin-listen 0.0.0.0:0 --admin-token short");
    EXPECT_EQ(status, 2) << output;
    EXPECT_NE(output.find("--admin-token short: expected at least 16 characters"),
              std::string::npos)
        << output;
}

// A port already taken: a clear error, not a server without its admin listener.
TEST(Admin, AnAdminPortInUseIsAClearError) {
    TempDir root;
    write_app(root);
    Server first(root.path(), {"--workers", "1"});
    const std::string taken = "127.0.0.1:" + std::to_string(first.admin_port());
    auto [status, output] =
        run(std::string("timeout 10 ") + ASKR_BINARY + " serve --root " + root.path() +
            " --listen 127.0.0.1:0 --workers 1 --admin-listen " + taken);
    EXPECT_EQ(status, 1) << output;
    EXPECT_NE(output.find("--admin-listen: cannot listen on " + taken + ": Address already in use"),
              std::string::npos)
        << output;
}

TEST(Admin, OffMeansNoListener) {
    TempDir root;
    write_app(root);
    Server server(root.path(), {"--workers", "1", "--admin-listen", "off"});
    EXPECT_EQ(server.admin_port(), 0);
    EXPECT_EQ(server.log().find("admin listening"), std::string::npos);
    EXPECT_EQ(get(server.url("/hello.php")).status, 200);
}

TEST(Admin, TokenIsRequiredWhenSet) {
    TempDir root;
    write_app(root);
    Server server(root.path(), {"--workers", "1", "--admin-token", token});
    ASSERT_NE(server.admin_port(), 0);
    for (const char* path : {"/api/status", "/api/metrics", "/metrics"}) {
        auto none = get(server.admin_url(path));
        EXPECT_EQ(none.status, 401) << path;
        EXPECT_EQ(none.header("www-authenticate"), "Bearer realm=\"askr admin\"");
        RequestOptions wrong;
        wrong.headers = {"Authorization: Bearer 0123456789abcdef-test-tokeX"};
        EXPECT_EQ(request(server.admin_url(path), wrong).status, 401) << path;
        wrong.headers = {"Authorization: Bearer 0123456789abcdef-test-token-longer"};
        EXPECT_EQ(request(server.admin_url(path), wrong).status, 401) << path;
        wrong.headers = {"Authorization: Basic MDEyMzQ1Njc4OWFiY2RlZi10ZXN0LXRva2Vu"};
        EXPECT_EQ(request(server.admin_url(path), wrong).status, 401) << path;
        RequestOptions right;
        right.headers = {std::string("Authorization: Bearer ") + token};
        EXPECT_EQ(request(server.admin_url(path), right).status, 200) << path;
    }
    RequestOptions reload;
    reload.method = "POST";
    EXPECT_EQ(request(server.admin_url("/api/reload"), reload).status, 401);
    // The page itself holds no data (it asks for the token): it loads without one.
    auto page = get(server.admin_url("/"));
    EXPECT_EQ(page.status, 200);
    EXPECT_NE(page.body.find("<canvas id=\"throughput\""), std::string::npos);
}

TEST(Admin, TokenIsReadFromTheEnvironment) {
    TempDir root;
    write_app(root);
    Server server(root.path(), {"--workers", "1", "--admin-listen", "127.0.0.1:0"},
                  {{"ASKR_ADMIN_TOKEN", token}});
    EXPECT_EQ(get(server.admin_url("/api/status")).status, 401);
    RequestOptions right;
    right.headers = {std::string("Authorization: Bearer ") + token};
    EXPECT_EQ(request(server.admin_url("/api/status"), right).status, 200);
}

TEST(Admin, ReloadThroughTheApi) {
    TempDir root;
    write_app(root);
    Server server(root.path(), {"--workers", "2"});
    RequestOptions post;
    post.method = "POST";
    auto r = request(server.admin_url("/api/reload"), post);
    EXPECT_EQ(r.status, 202) << r.body;
    json started = json::parse(r.body, nullptr, false);
    EXPECT_EQ(started["reload"], "started");
    EXPECT_EQ(started["generation"], 2);
    json status;
    for (int i = 0; i < 500; ++i) {
        status = get_json(server, "/api/status");
        if (status["generation"] == 2 && status["reload"]["state"] == "idle") break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_EQ(status["generation"], 2) << status.dump(2);
    EXPECT_EQ(status["reload"]["state"], "idle");
    ASSERT_EQ(status["workers"].size(), 2u) << status.dump(2);
    for (const auto& w : status["workers"]) EXPECT_EQ(w["generation"], 2);
    EXPECT_TRUE(server.wait_for_log("reload finished: generation 2"));
    json m = get_json(server, "/api/metrics");
    EXPECT_EQ(m["reloads"], 1);
    EXPECT_EQ(m["workers"]["starts"], 4);
    EXPECT_EQ(m["workers"]["crashes"], 0);
    EXPECT_EQ(get(server.url("/hello.php")).status, 200);

    // Not with GET, and not from another site's page (CSRF).
    EXPECT_EQ(get(server.admin_url("/api/reload")).status, 405);
    post.headers = {"Origin: http://evil.example"};
    EXPECT_EQ(request(server.admin_url("/api/reload"), post).status, 403);
}

// Without a token, only requests naming this machine are answered: a page elsewhere that
// rebinds its host name to 127.0.0.1 cannot read the API.
TEST(Admin, RefusesForeignHostNamesWithoutAToken) {
    TempDir root;
    write_app(root);
    Server server(root.path(), {"--workers", "1"});
    RequestOptions foreign;
    foreign.headers = {"Host: evil.example:" + std::to_string(server.admin_port())};
    EXPECT_EQ(request(server.admin_url("/api/status"), foreign).status, 421);
    RequestOptions local;
    local.headers = {"Host: localhost:" + std::to_string(server.admin_port())};
    EXPECT_EQ(request(server.admin_url("/api/status"), local).status, 200);
}

TEST(Admin, BadAndHostileRequests) {
    TempDir root;
    write_app(root);
    Server server(root.path(), {"--workers", "1"});
    EXPECT_EQ(get(server.admin_url("/nope")).status, 404);
    RequestOptions del;
    del.method = "DELETE";
    EXPECT_EQ(request(server.admin_url("/api/status"), del).status, 405);
    // Oversized headers: refused, not buffered.
    EXPECT_EQ(
        raw_status(raw_exchange(server.admin_port(), "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX: " +
                                                         std::string(20000, 'a') + "\r\n\r\n")),
        431);
    EXPECT_EQ(raw_status(raw_exchange(server.admin_port(), "GET / HTTP/1.1\r\n\r\n")),
              400);  // no Host
    // Clients that connect and say nothing do not block the master or other clients.
    std::vector<std::thread> idle;
    for (int i = 0; i < 40; ++i) {
        idle.emplace_back([&] {
            raw_exchange(server.admin_port(), "GET /api/sta", std::chrono::milliseconds(1500));
        });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(get(server.url("/hello.php")).status, 200);  // the master still supervises
    for (auto& t : idle) t.join();
    EXPECT_EQ(get(server.admin_url("/api/status")).status, 200);
}

// A worker killed mid-life: its counts survive (folded into the totals when the master
// reaps it), the crash is counted, a replacement starts.
TEST(Admin, CountsOfADeadWorkerAreKept) {
    TempDir root;
    write_app(root);
    Server server(root.path(), {"--workers", "1"});
    server.allow_error("killed by signal 9");
    for (int i = 0; i < 10; ++i) ASSERT_EQ(get(server.url("/hello.php")).status, 200);
    json m = wait_for_metrics(server, [](const json& j) { return j["requests"]["total"] == 10; });
    json status = get_json(server, "/api/status");
    ASSERT_EQ(status["workers"].size(), 1u);
    const int victim = status["workers"][0]["pid"];
    ASSERT_EQ(::kill(victim, SIGKILL), 0);
    m = wait_for_metrics(server, [](const json& j) {
        return j["workers"]["starts"] == 2 && j["workers"]["live"] == 1;
    });
    EXPECT_EQ(m["workers"]["crashes"], 1);
    EXPECT_EQ(m["requests"]["total"], 10);
    EXPECT_EQ(m["requests"]["by_kind"]["php"], 10);
    for (int i = 0; i < 5; ++i) ASSERT_EQ(get(server.url("/hello.php")).status, 200);
    m = wait_for_metrics(server, [](const json& j) { return j["requests"]["total"] == 15; });
    EXPECT_EQ(m["requests"]["total"], 15);
}

TEST(Admin, RecyclesAreCounted) {
    TempDir root;
    write_app(root);
    Server server(root.path(), {"--workers", "1", "--max-requests", "10"});
    for (int i = 0; i < 30; ++i) ASSERT_EQ(get(server.url("/hello.php")).status, 200);
    json m = wait_for_metrics(server, [](const json& j) { return j["workers"]["recycles"] >= 2; });
    EXPECT_GE(m["workers"]["recycles"], 2);
    EXPECT_EQ(m["workers"]["crashes"], 0);
    m = wait_for_metrics(server, [](const json& j) { return j["requests"]["total"] == 30; });
    EXPECT_EQ(m["requests"]["total"], 30);
}

TEST(Admin, AccessLogCombined) {
    TempDir root;
    write_app(root);
    TempDir logs;
    const std::string access = logs.path() + "/access.log";
    Server server(root.path(), {"--workers", "2", "--access-log", access});
    RequestOptions with_headers;
    with_headers.headers = {"Referer: http://example.com/from", "User-Agent: askr-test \"quoted\""};
    ASSERT_EQ(request(server.url("/hello.php?x=1"), with_headers).status, 200);
    ASSERT_EQ(get(server.url("/file.txt")).status, 200);
    ASSERT_EQ(get(server.url("/missing")).status, 404);
    auto lines = wait_for_lines(access, 3);
    ASSERT_EQ(lines.size(), 3u) << slurp(access);
    const std::regex combined(
        R"re(127\.0\.0\.1 - - \[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "([^"]*)" (\d{3}) (\d+) "([^"]*)" "([^"]*)")re");
    std::map<std::string, std::smatch> by_request;
    std::vector<std::smatch> matches(3);  // they point into `lines`
    for (std::size_t i = 0; i < 3; ++i) {
        ASSERT_TRUE(std::regex_match(lines[i], matches[i], combined)) << lines[i];
        by_request[matches[i][1]] = matches[i];
    }
    ASSERT_EQ(by_request.count("GET /hello.php?x=1 HTTP/1.1"), 1u) << slurp(access);
    EXPECT_EQ(by_request["GET /hello.php?x=1 HTTP/1.1"][2], "200");
    EXPECT_EQ(by_request["GET /hello.php?x=1 HTTP/1.1"][3], "5");  // "hello"
    EXPECT_EQ(by_request["GET /hello.php?x=1 HTTP/1.1"][4], "http://example.com/from");
    EXPECT_EQ(by_request["GET /hello.php?x=1 HTTP/1.1"][5], R"(askr-test \x22quoted\x22)");
    ASSERT_EQ(by_request.count("GET /file.txt HTTP/1.1"), 1u);
    EXPECT_EQ(by_request["GET /file.txt HTTP/1.1"][3], "1024");
    EXPECT_EQ(by_request["GET /file.txt HTTP/1.1"][4], "-");
    ASSERT_EQ(by_request.count("GET /missing HTTP/1.1"), 1u);
    EXPECT_EQ(by_request["GET /missing HTTP/1.1"][2], "404");
}

TEST(Admin, AccessLogJsonLines) {
    TempDir root;
    write_app(root);
    TempDir logs;
    const std::string access = logs.path() + "/access.json";
    Server server(root.path(),
                  {"--workers", "2", "--access-log", access, "--access-log-format", "json"});
    RequestOptions odd;
    odd.headers = {"User-Agent: tab\there \xc3\xa9"};
    ASSERT_EQ(request(server.url("/fail.php"), odd).status, 500);
    for (int i = 0; i < 20; ++i) ASSERT_EQ(get(server.url("/file.txt")).status, 200);
    auto lines = wait_for_lines(access, 21);
    ASSERT_EQ(lines.size(), 21u);
    int failed = 0, files = 0;
    for (const auto& line : lines) {
        json j = json::parse(line, nullptr, false);
        ASSERT_FALSE(j.is_discarded()) << line;
        EXPECT_EQ(j["remote_addr"], "127.0.0.1");
        EXPECT_EQ(j["method"], "GET");
        EXPECT_EQ(j["protocol"], "HTTP/1.1");
        EXPECT_TRUE(j["time"].get<std::string>().ends_with("Z")) << line;
        EXPECT_TRUE(j["duration_us"].is_number()) << line;
        if (j["uri"] == "/fail.php") {
            ++failed;
            EXPECT_EQ(j["status"], 500);
            EXPECT_EQ(j["kind"], "php");
            EXPECT_EQ(j["body_bytes"], 6);
            EXPECT_EQ(j["user_agent"], "tab\there \u00c3\u00a9");
        } else {
            ++files;
            EXPECT_EQ(j["uri"], "/file.txt");
            EXPECT_EQ(j["status"], 200);
            EXPECT_EQ(j["kind"], "static");
            EXPECT_EQ(j["body_bytes"], 1024);
            EXPECT_EQ(j["referer"], "");
        }
    }
    EXPECT_EQ(failed, 1);
    EXPECT_EQ(files, 20);
}

// PHP's error_log() and warnings land in --error-log, with the server's own lines.
TEST(Admin, PhpErrorsGoToTheErrorLog) {
    TempDir root;
    root.write(
        "warn.php",
        "<?php error_log('custom message from php'); echo $undefined_variable; echo 'done';");
    TempDir logs;
    const std::string errors = logs.path() + "/error.log";
    Server server(root.path(), {"--workers", "1", "--error-log", errors, "-d", "log_errors=1"});
    EXPECT_NE(slurp(errors).find("master "), std::string::npos);
    auto r = get(server.url("/warn.php"));
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(server.wait_for_log("custom message from php")) << slurp(errors);
    EXPECT_TRUE(server.wait_for_log("Undefined variable $undefined_variable")) << slurp(errors);
}

// logrotate: rename the files, SIGUSR1 to the master; new lines go to new files.
TEST(Admin, Sigusr1ReopensLogFiles) {
    TempDir root;
    write_app(root);
    TempDir logs;
    const std::string access = logs.path() + "/access.log";
    const std::string errors = logs.path() + "/error.log";
    Server server(root.path(), {"--workers", "2", "--access-log", access, "--error-log", errors});
    for (int i = 0; i < 4; ++i) ASSERT_EQ(get(server.url("/file.txt?before")).status, 200);
    ASSERT_EQ(wait_for_lines(access, 4).size(), 4u);
    fs::rename(access, access + ".1");
    fs::rename(errors, errors + ".1");
    ASSERT_EQ(::kill(server.pid(), SIGUSR1), 0);
    EXPECT_TRUE(server.wait_for_log("SIGUSR1: log files reopened"));
    EXPECT_TRUE(fs::exists(errors));
    // Workers reopen within a second: until then a request may still land in the old file.
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    for (int i = 0; i < 6; ++i) ASSERT_EQ(get(server.url("/file.txt?after")).status, 200);
    auto lines = wait_for_lines(access, 6);
    ASSERT_EQ(lines.size(), 6u) << slurp(access);
    for (const auto& line : lines) EXPECT_NE(line.find("?after"), std::string::npos) << line;
    const std::string old = slurp(access + ".1");
    EXPECT_EQ(old.find("?after"), std::string::npos);
    EXPECT_NE(old.find("?before"), std::string::npos);
    json m = get_json(server, "/api/metrics");
    EXPECT_EQ(m["log_reopens"], 1);
    EXPECT_EQ(server.stop(), 0);
    EXPECT_NE(slurp(errors).find("stopped"), std::string::npos);
    EXPECT_EQ(slurp(errors + ".1").find("stopped"), std::string::npos);
}

// Started as root with --user: the master creates the files and hands them to the user, so
// that the workers (running as that user) can write and reopen them.
TEST(Admin, LogFilesWorkWithUser) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (--user)";
    TempDir root;
    write_app(root);
    TempDir logs;  // 0755, owned by root: the workers cannot create files here
    const std::string access = logs.path() + "/access.log";
    const std::string errors = logs.path() + "/error.log";
    Server server(root.path(), {"--workers", "2", "--user", "nobody", "--access-log", access,
                                "--error-log", errors});
    for (int i = 0; i < 3; ++i) ASSERT_EQ(get(server.url("/hello.php?before")).status, 200);
    ASSERT_EQ(wait_for_lines(access, 3).size(), 3u);
    fs::rename(access, access + ".1");
    fs::rename(errors, errors + ".1");
    ASSERT_EQ(::kill(server.pid(), SIGUSR1), 0);
    EXPECT_TRUE(server.wait_for_log("SIGUSR1: log files reopened"));
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    for (int i = 0; i < 3; ++i) ASSERT_EQ(get(server.url("/hello.php?after")).status, 200);
    auto lines = wait_for_lines(access, 3);
    ASSERT_EQ(lines.size(), 3u) << slurp(access);
    EXPECT_EQ(server.log().find("cannot reopen"), std::string::npos) << server.log();
}

TEST(Admin, BadLogPathsStopTheStart) {
    TempDir root;
    write_app(root);
    auto [status, output] =
        run(std::string("timeout 10 ") + ASKR_BINARY + " serve --root " + root.path() +
            " --listen 127.0.0.1:0 --admin-listen off --access-log /nonexistent-dir/access.log");
    EXPECT_NE(status, 0);
    EXPECT_NE(output.find("--access-log /nonexistent-dir/access.log: No such file or directory"),
              std::string::npos)
        << output;
    std::tie(status, output) =
        run(std::string("timeout 10 ") + ASKR_BINARY + " serve --root " + root.path() +
            " --listen 127.0.0.1:0 --admin-listen off --error-log /nonexistent-dir/e.log");
    EXPECT_NE(status, 0);
    EXPECT_NE(output.find("--error-log /nonexistent-dir/e.log: No such file or directory"),
              std::string::npos)
        << output;
}

}  // namespace
}  // namespace askr::test

namespace askr::test {
namespace {

// HTTP/2 requests are counted and logged like HTTP/1 ones, and connections shed at
// --max-connections show in the metrics.
TEST(Admin, Http2RequestsAndShedConnectionsAreCounted) {
    TempDir root;
    write_app(root);
    TempDir logs;
    const std::string access = logs.path() + "/access.json";
    Server server(root.path(), {"--workers", "1", "--max-connections", "2", "--access-log", access,
                                "--access-log-format", "json"});
    EXPECT_EQ(h2::h2_request(server.url("/file.txt")).status, 200);
    EXPECT_EQ(h2::h2_request(server.url("/hello.php")).status, 200);
    EXPECT_EQ(h2::h2_request(server.url("/missing")).status, 404);
    json m = wait_for_metrics(server, [](const json& j) { return j["requests"]["total"] == 3; });
    EXPECT_EQ(m["requests"]["by_kind"]["static"], 1) << m.dump(2);
    EXPECT_EQ(m["requests"]["by_kind"]["php"], 1);
    EXPECT_EQ(m["requests"]["by_status"]["4xx"], 1);
    EXPECT_GT(m["bytes"]["out"].get<std::uint64_t>(), 1024u);
    for (const auto& line : wait_for_lines(access, 3)) {
        json j = json::parse(line, nullptr, false);
        EXPECT_EQ(j["protocol"], "HTTP/2.0") << line;
    }

    // Two keep-alive clients fill the worker; the third connection is shed.
    std::vector<int> held;
    for (int i = 0; i < 2; ++i) {
        const int fd = connect_loopback(server.port());
        ASSERT_GE(fd, 0);
        const std::string get = "GET /file.txt HTTP/1.1\r\nHost: x\r\n\r\n";
        ASSERT_GT(::send(fd, get.data(), get.size(), MSG_NOSIGNAL), 0);
        char buffer[2048];
        ASSERT_GT(::recv(fd, buffer, sizeof buffer, 0), 0);
        held.push_back(fd);
    }
    const std::string refused = raw_exchange(server.port(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(refused.rfind("HTTP/1.1 503 ", 0), 0u) << refused;
    m = wait_for_metrics(server, [](const json& j) { return j["connections"]["shed"] == 1; });
    EXPECT_EQ(m["connections"]["shed"], 1) << m.dump(2);
    for (int fd : held) ::close(fd);
}

}  // namespace
}  // namespace askr::test
