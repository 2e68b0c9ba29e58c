// The admin dashboard in a real browser: Debian's Chromium, headless.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <regex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "browser_support.hpp"
#include "harness.hpp"
#include "redis_support.hpp"

namespace askr::test {
namespace {

namespace fs = std::filesystem;

long attribute(const std::string& dom, const std::string& pattern) {
    std::smatch m;
    if (!std::regex_search(dom, m, std::regex(pattern))) return -1;
    return std::stol(m[1]);
}

TEST(Dashboard, RendersChartsAndUpdatesUnderLoad) {
    if (browser().empty())
        GTEST_SKIP() << "Chromium is not installed (scripts/install-deps.sh installs it)";
    TempDir root;
    root.write("hello.php", "<?php askr_cache_increment('n'); askr_cache_get('n'); echo 'hello';");
    root.write("style.css", std::string(1024, 'x'));
    root.write("fail.php", "<?php http_response_code(503);");
    TempDir profile;
    Server server(root.path(), {"--workers", "2"});

    // A bounded load: a few hundred requests a second, mixed PHP, static and errors.
    std::atomic<bool> stop{false};
    std::atomic<int> sent{0};
    std::thread load([&] {
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(40);
        while (!stop && std::chrono::steady_clock::now() < until) {
            const int i = sent++;
            get(server.url(i % 10 == 0 ? "/fail.php" : i % 3 == 0 ? "/style.css" : "/hello.php"));
            std::this_thread::sleep_for(std::chrono::milliseconds(3));
        }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));

    const std::string first =
        run_browser(profile.path(), "--dump-dom", server.admin_url("/"), 5000);
    const std::string second =
        run_browser(profile.path(), "--dump-dom", server.admin_url("/"), 5000);
    const std::string screenshot = (fs::path(ASKR_BINARY).parent_path() / "dashboard.png").string();
    fs::remove(screenshot);
    run_browser(profile.path(), "--screenshot=" + screenshot, server.admin_url("/"), 6000);
    stop = true;
    load.join();

    for (const auto* dom : {&first, &second}) {
        ASSERT_NE(dom->find("<canvas id=\"throughput\""), std::string::npos) << *dom;
        // Several samples taken, both charts drawn from them, the worker table filled.
        EXPECT_GE(attribute(*dom, R"re(data-samples="(\d+)")re"), 2) << *dom;
        EXPECT_GE(attribute(*dom, R"re(id="throughput" data-points="(\d+)")re"), 2) << *dom;
        EXPECT_GE(attribute(*dom, R"re(id="latency" data-points="(\d+)")re"), 2) << *dom;
        EXPECT_EQ(attribute(*dom, R"re(id="workers" data-rows="(\d+)")re"), 2) << *dom;
        EXPECT_NE(dom->find("id=\"message\"></span>"), std::string::npos)
            << "the page reported an error";
        // The load shows: a rate above zero, PHP vs I/O drawn, 5xx in the status bar.
        EXPECT_NE(dom->find("id=\"cpu-bar\"><div"), std::string::npos) << *dom;
        EXPECT_NE(dom->find("title=\"5xx:"), std::string::npos) << *dom;
        EXPECT_EQ(dom->find("id=\"t-rps\">–<"), std::string::npos) << *dom;
        EXPECT_NE(dom->find("id=\"t-cache-detail\">cache hits · "), std::string::npos) << *dom;
    }
    const long before = attribute(first, R"re(data-total-requests="(\d+)")re");
    const long after = attribute(second, R"re(data-total-requests="(\d+)")re");
    EXPECT_GT(before, 0);
    EXPECT_GT(after, before) << "the dashboard did not follow the load";
    ASSERT_TRUE(fs::exists(screenshot)) << "no screenshot at " << screenshot;
    EXPECT_GT(fs::file_size(screenshot), 20000u) << "the screenshot looks empty";
    std::printf("dashboard screenshot: %s\n", screenshot.c_str());
}

// The sidecars' table and the last failed reload's reason, in the page as a user sees it.
TEST(Dashboard, ShowsSidecarsAndAFailedReload) {
    if (browser().empty())
        GTEST_SKIP() << "Chromium is not installed (scripts/install-deps.sh installs it)";
    TempDir root;
    root.write("worker.php", "<?php while (askr_handle_request(function () { echo 'ok'; })) {}");
    root.write("queue.php", "<?php while (!askr_sidecar_should_stop()) usleep(50000);");
    TempDir profile;
    Server server(root.path(), {"--workers", "1", "--worker", root.path() + "/worker.php",
                                "--queue", "1", "--queue-script", root.path() + "/queue.php"});
    server.allow_error("reload failed");
    server.allow_error("deploy-broke-<b>it</b>");
    server.allow_error("ended before serving a request");
    root.write("worker.php", "<?php throw new RuntimeException('deploy-broke-<b>it</b>');");
    ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
    ASSERT_TRUE(server.wait_for_log("reload failed", std::chrono::seconds(20))) << server.log();
    const std::string dom = run_browser(profile.path(), "--dump-dom", server.admin_url("/"), 3000);
    EXPECT_NE(dom.find("<td>queue:0</td>"), std::string::npos) << dom;
    EXPECT_NE(dom.find("<td>running</td>"), std::string::npos) << dom;
    EXPECT_NE(dom.find("id=\"reload-last\">· last reload failed: generation 2"), std::string::npos)
        << dom;
}

// With [cache] redis the metrics carry only the backend's name: the page says so rather
// than failing on counters that are not there.
TEST(Dashboard, NamesARedisCache) {
    if (browser().empty())
        GTEST_SKIP() << "Chromium is not installed (scripts/install-deps.sh installs it)";
    RedisServer redis;
    TempDir root;
    root.write("hello.php", "<?php askr_cache_increment('n'); echo 'hello';");
    TempDir profile;
    Server server(root.path(), {"--workers", "1", "--cache-redis", redis.url()});
    server.allow_worker_fds(1);
    EXPECT_EQ(get(server.url("/hello.php")).body, "hello");
    const std::string dom = run_browser(profile.path(), "--dump-dom", server.admin_url("/"), 3000);
    ASSERT_NE(dom.find("<canvas id=\"throughput\""), std::string::npos) << dom;
    EXPECT_GE(attribute(dom, R"re(data-samples="(\d+)")re"), 1) << dom;
    EXPECT_NE(dom.find("id=\"t-cache\">Redis<"), std::string::npos) << dom;
    EXPECT_NE(dom.find("id=\"message\"></span>"), std::string::npos)
        << "the page reported an error";
}

// With broadcasting on, the Broadcast card lists the subscribers of each channel.
TEST(Dashboard, ListsBroadcastSubscribersPerChannel) {
    if (browser().empty())
        GTEST_SKIP() << "Chromium is not installed (scripts/install-deps.sh installs it)";
    TempDir root;
    TempDir profile;
    // A heartbeat a second: the closed streams are noticed before the server's checks.
    Server server(root.path(), {"--workers", "2", "--broadcast", "--broadcast-heartbeat", "1"});
    std::vector<int> streams;
    for (const char* query : {"news", "news", "news&channel=chat"}) {
        const int fd = connect_loopback(server.port());
        ASSERT_GE(fd, 0);
        const std::string request = std::string("GET /askr/events?channel=") + query +
                                    " HTTP/1.1\r\nHost: localhost\r\n\r\n";
        ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
        streams.push_back(fd);
    }
    bool counted = false;
    for (int i = 0; i < 200 && !counted; ++i) {
        const auto m = nlohmann::json::parse(get(server.admin_url("/api/metrics")).body);
        counted = m["broadcast"]["channels"].size() == 2;
        if (!counted) std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    ASSERT_TRUE(counted);
    const std::string dom = run_browser(profile.path(), "--dump-dom", server.admin_url("/"), 3000);
    for (const int fd : streams) ::close(fd);
    bool gone = false;
    for (int i = 0; i < 200 && !gone; ++i) {
        const auto m = nlohmann::json::parse(get(server.admin_url("/api/metrics")).body);
        gone = m["broadcast"]["subscribers"] == 0;
        if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    EXPECT_TRUE(gone);
    EXPECT_NE(dom.find("id=\"broadcast-card\">"), std::string::npos) << "the card is hidden";
    EXPECT_EQ(attribute(dom, R"re(id="broadcast-channels" data-rows="(\d+)")re"), 2) << dom;
    EXPECT_NE(dom.find("<tr><td>news</td><td>3</td></tr><tr><td>chat</td><td>1</td></tr>"),
              std::string::npos)
        << dom;
    EXPECT_NE(dom.find("subscribers 3 · "), std::string::npos) << dom;
}

}  // namespace
}  // namespace askr::test
