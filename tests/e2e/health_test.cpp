// Health and readiness probes: /health and /ready on the admin listener for the whole
// server, and [server] health_path / ready_path on the main listeners, answered by the
// I/O thread without PHP (docs/proxies.md, "Health checks").
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "harness.hpp"

namespace askr::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

json parse(const Response& r) {
    return json::parse(r.body, nullptr, false);
}

// Polls GET url until its status is `status` (bounded); the last response.
Response wait_for_status(const std::string& url, long status) {
    Response r;
    for (int i = 0; i < 300; ++i) {
        r = get(url);
        if (r.status == status) break;
        std::this_thread::sleep_for(50ms);
    }
    return r;
}

void write_app(const TempDir& root) {
    // A front controller: every path the probes do not answer reaches PHP.
    root.write("index.php", "<?php echo 'app:', $_SERVER['REQUEST_URI'];");
    root.write("slow.php", "<?php usleep(1500000); echo 'slow done';");
}

// Load balancers probe with their own Host and no token: /health and /ready answer them
// (and only them: the API still needs the token).
TEST(Health, AdminProbesAnswerWithoutTokenAndForAnyHost) {
    TempDir root;
    write_app(root);
    Server server(root.path(), {"--workers", "2", "--admin-token", "health-test-token-0123456789"});
    auto health = get(server.admin_url("/health"));
    EXPECT_EQ(health.status, 200) << health.body;
    EXPECT_EQ(health.header("content-type"), "application/json");
    EXPECT_EQ(health.header("cache-control"), "no-store");
    EXPECT_EQ(parse(health)["status"], "up") << health.body;
    EXPECT_EQ(parse(health)["generation"], 1);

    auto ready = wait_for_status(server.admin_url("/ready"), 200);
    ASSERT_EQ(ready.status, 200) << ready.body;
    json body = parse(ready);
    EXPECT_EQ(body["ready"], true);
    EXPECT_GE(body["workers_accepting"], 1);
    EXPECT_EQ(body["workers_configured"], 2);
    EXPECT_FALSE(body.contains("reason")) << ready.body;

    RequestOptions foreign;
    foreign.headers = {"Host: 10.1.2.3:" + std::to_string(server.admin_port())};
    EXPECT_EQ(request(server.admin_url("/ready"), foreign).status, 200);
    EXPECT_EQ(request(server.admin_url("/health"), foreign).status, 200);
    EXPECT_EQ(get(server.admin_url("/api/status")).status, 401);

    RequestOptions head;
    head.method = "HEAD";
    auto r = request(server.admin_url("/ready"), head);
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(r.body.empty());
    RequestOptions post;
    post.method = "POST";
    r = request(server.admin_url("/health"), post);
    EXPECT_EQ(r.status, 405);
    EXPECT_EQ(r.header("allow"), "GET, HEAD");
}

// The only worker killed, its replacement booting: /ready says 503 and why, then 200 once
// it takes requests; /health is 200 throughout.
TEST(Health, ReadyIs503UntilAWorkerServes) {
    TempDir root;
    write_app(root);
    root.write("worker.php",
               "<?php\nusleep(2000000);\n"
               "while (askr_handle_request(function () { echo 'worker'; })) {}\n");
    Server server(root.path(), {"--worker", root.path() + "/worker.php", "--workers", "1"});
    server.allow_error("killed by signal");
    ASSERT_EQ(wait_for_status(server.admin_url("/ready"), 200).status, 200);
    auto status = parse(get(server.admin_url("/api/status")));
    ASSERT_EQ(status["workers"].size(), 1u) << status.dump();
    ::kill(status["workers"][0]["pid"].get<pid_t>(), SIGKILL);

    Response early;
    for (int i = 0; i < 100; ++i) {
        early = get(server.admin_url("/ready"));
        if (early.status == 503) break;
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_EQ(early.status, 503) << early.body;
    json body = parse(early);
    EXPECT_EQ(body["ready"], false);
    EXPECT_EQ(body["workers_accepting"], 0);
    EXPECT_NE(body.value("reason", "").find("starting"), std::string::npos) << early.body;
    EXPECT_EQ(get(server.admin_url("/health")).status, 200);

    auto later = wait_for_status(server.admin_url("/ready"), 200);
    EXPECT_EQ(later.status, 200) << later.body;
    EXPECT_EQ(parse(later)["workers_accepting"], 1);
    EXPECT_EQ(get(server.url("/")).body, "worker");
}

// A worker script that fails before serving: not ready, and the reason says where to look.
// The main listener's readiness path says the same from the failing worker itself.
TEST(Health, ReadyIs503WhileTheWorkerScriptFails) {
    TempDir root;
    write_app(root);
    root.write("worker.php", "<?php\nthrow new RuntimeException('health-boot-failure');\n");
    Server server(root.path(), {"--worker", root.path() + "/worker.php", "--workers", "1",
                                "--ready-path", "/readyz", "--health-path", "/healthz",
                                "--shutdown-timeout", "3"});
    server.allow_error("ended before serving a request; restarting in");
    server.allow_error("health-boot-failure");
    ASSERT_TRUE(server.wait_for_log("health-boot-failure"));
    Response admin;
    for (int i = 0; i < 100; ++i) {
        admin = get(server.admin_url("/ready"));
        if (parse(admin).value("reason", "").find("failing") != std::string::npos) break;
        std::this_thread::sleep_for(50ms);
    }
    EXPECT_EQ(admin.status, 503) << admin.body;
    EXPECT_NE(parse(admin).value("reason", "").find("askr_handle_request()"), std::string::npos)
        << admin.body;

    auto ready = get(server.url("/readyz"));
    EXPECT_EQ(ready.status, 503) << ready.body;
    EXPECT_NE(ready.body.find("worker script ended"), std::string::npos) << ready.body;
    auto health = get(server.url("/healthz"));
    EXPECT_EQ(health.status, 200);
    EXPECT_EQ(health.body, "ok\n");
}

// During a graceful stop the master goes on answering: /health 200 "stopping", /ready 503.
TEST(Health, ReadyIs503WhileTheServerDrains) {
    TempDir root;
    write_app(root);
    Server server(root.path(), {"--workers", "1"});
    ASSERT_EQ(wait_for_status(server.admin_url("/ready"), 200).status, 200);
    std::thread slow([&] { EXPECT_EQ(get(server.url("/slow.php")).body, "slow done"); });
    // The request is running once the worker is busy.
    for (int i = 0; i < 100; ++i) {
        auto status = parse(get(server.admin_url("/api/status")));
        if (!status.is_discarded() && !status["workers"].empty() &&
            status["workers"][0]["state"] == "busy")
            break;
        std::this_thread::sleep_for(20ms);
    }
    ::kill(server.pid(), SIGTERM);
    ASSERT_TRUE(server.wait_for_log("graceful stop"));
    auto ready = get(server.admin_url("/ready"));
    EXPECT_EQ(ready.status, 503) << ready.body;
    EXPECT_NE(parse(ready).value("reason", "").find("stopping"), std::string::npos) << ready.body;
    auto health = get(server.admin_url("/health"));
    EXPECT_EQ(health.status, 200) << health.body;
    EXPECT_EQ(parse(health)["status"], "stopping");
    slow.join();
    EXPECT_EQ(server.stop(), 0);
}

// On the main listeners the probe paths are answered before routing, over HTTP/1.1 and
// HTTP/2, without PHP (a file or route of the same name is not reached); other paths and
// a server without them configured go to the app as before.
TEST(Health, MainListenerProbesOverHttp1AndHttp2) {
    TempDir root;
    write_app(root);
    root.write("healthz", "a file that the probe shadows");
    Server server(root.path(),
                  {"--workers", "1", "--health-path", "/healthz", "--ready-path", "/readyz"});
    auto health = get(server.url("/healthz"));
    EXPECT_EQ(health.status, 200);
    EXPECT_EQ(health.body, "ok\n");
    EXPECT_EQ(health.header("content-type"), "text/plain; charset=utf-8");
    EXPECT_EQ(health.header("cache-control"), "no-store");
    auto ready = get(server.url("/readyz?from=lb"));
    EXPECT_EQ(ready.status, 200);
    EXPECT_EQ(ready.body, "ready\n");
    EXPECT_EQ(get(server.url("/healthz/more")).body, "app:/healthz/more");
    EXPECT_EQ(get(server.url("/other")).body, "app:/other");

    for (const std::string path : {"/healthz", "/readyz"}) {
        auto h2 = curl_fetch(server.url(path), "--http2-prior-knowledge", root.path() + "/h2");
        EXPECT_EQ(h2.status, 200) << path;
        EXPECT_EQ(h2.http_version, "2") << path;
        EXPECT_EQ(h2.body, path == "/healthz" ? "ok\n" : "ready\n");
    }
    RequestOptions head;
    head.method = "HEAD";
    auto r = request(server.url("/readyz"), head);
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(r.body.empty());
    RequestOptions post;
    post.method = "POST";
    post.body = "x";
    r = request(server.url("/healthz"), post);
    EXPECT_EQ(r.status, 405);
    EXPECT_EQ(r.header("allow"), "GET, HEAD");
    // A body announced with Expect: 100-continue is refused before it is sent.
    const std::string raw = raw_exchange(
        server.port(),
        "POST /readyz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    EXPECT_EQ(raw_status(raw), 405) << raw;

    TempDir plain_root;
    write_app(plain_root);
    Server plain(plain_root.path(), {"--workers", "1"});
    EXPECT_EQ(get(plain.url("/healthz")).body, "app:/healthz");
}

TEST(Health, BadProbePathsAreConfigErrors) {
    TempDir root;
    const std::string serve =
        std::string(ASKR_BINARY) + " serve --listen 127.0.0.1:0 --admin-listen off --root " +
        root.path();
    std::string out = command_output("timeout 20 " + serve + " --health-path healthz 2>&1");
    EXPECT_NE(out.find("--health-path healthz: expected"), std::string::npos) << out;
    EXPECT_NE(out.find("expected an absolute path such as /healthz"), std::string::npos) << out;
    out = command_output("timeout 20 " + serve + " --ready-path '/ready?x=1' 2>&1");
    EXPECT_NE(out.find("--ready-path /ready?x=1: expected"), std::string::npos) << out;
    out = command_output("timeout 20 " + serve + " --health-path /p --ready-path /p 2>&1");
    EXPECT_NE(out.find("the same path as [server] health_path"), std::string::npos) << out;
}

}  // namespace
}  // namespace askr::test
