// --paranoid: the state-bleed detector names what a worker script leaks from
// request to request (a static property that grows, a global that changes, a watched
// container's bindings) after its warm-up, and says nothing about clean apps: the plain
// worker example and the Illuminate example app.
#include <gtest/gtest.h>

#include "harness.hpp"
#include "php_support.hpp"

namespace askr::test::php {
namespace {

const std::string examples = std::string(ASKR_SOURCE_DIR) + "/examples";

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

void send(const Server& server, const std::vector<std::string>& paths, int rounds) {
    for (int i = 0; i < rounds; ++i) {
        for (const auto& path : paths) {
            auto r = get(server.url(path));
            ASSERT_EQ(r.status, 200) << path << ": " << r.body;
        }
    }
}

TEST(Paranoid, NamesTheLeakingStaticGlobalAndWatchedBindings) {
    TempDir root;
    const std::string script = root.copy_fixture("paranoid/leaky-worker.php", "worker.php");
    Server server(root.path(), one_worker({"--worker", script, "--paranoid"}));
    EXPECT_TRUE(contains(server.log(), "[warning] --paranoid is on")) << server.log();
    for (int i = 0; i < 45; ++i) {
        auto r = get(server.url("/page/" + std::to_string(i)));
        ASSERT_EQ(r.status, 200) << r.body;
        ASSERT_EQ(r.body, "ok " + std::to_string(i + 1));
    }
    ASSERT_TRUE(server.wait_for_log("static property Registry::$seen keeps growing", 3s))
        << server.log();
    ASSERT_TRUE(server.wait_for_log("global $last_uri changes from request to request", 3s))
        << server.log();
    ASSERT_TRUE(server.wait_for_log("watched 'bindings' keeps growing", 3s)) << server.log();
    ASSERT_TRUE(server.wait_for_log("the number of global variables keeps growing", 3s))
        << server.log();
    const std::string log = server.log();
    EXPECT_TRUE(contains(log, "[warning] paranoid: worker")) << log;
    // A cache filled at boot and a constant global are not leaks.
    EXPECT_FALSE(contains(log, "Registry::$config")) << log;
    EXPECT_FALSE(contains(log, "global $booted")) << log;
    // Each leak is reported once, not at every check.
    EXPECT_EQ(log.find("Registry::$seen keeps growing"), log.rfind("Registry::$seen keeps growing"))
        << log;
}

// The Illuminate app with a worker script that forgets to reset: the container's
// instances grow, found through Container::$instance without any help from the app.
TEST(Paranoid, FindsAGrowingIlluminateContainer) {
    TempDir root;
    const std::string script = root.write("worker.php", R"PHP(<?php
$kernel = require ')PHP" + examples + R"PHP(/illuminate-app/bootstrap/app.php';
while (askr_handle_request(function () use ($kernel) {
    $kernel->app->instance('report.' . bin2hex(random_bytes(4)), true);  // never forgotten
    $kernel->handle(Illuminate\Http\Request::capture())->send();
})) {
    // no $kernel->reset()
}
)PHP");
    Server server(root.path(), one_worker({"--worker", script, "--paranoid"}));
    send(server, {"/hello/ada"}, 35);
    ASSERT_TRUE(server.wait_for_log(
        "static property Illuminate\\Container\\Container::$instance->instances keeps growing", 3s))
        << server.log();
}

TEST(Paranoid, QuietOnThePlainWorkerExample) {
    const std::string dir = examples + "/worker-plain/public";
    Server server(dir, one_worker({"--worker", dir + "/worker.php", "--paranoid"}));
    send(server, {"/?name=ada", "/?name=bob&lang=fr", "/health", "/?lang=de"}, 15);
    get(server.url("/"));  // the check runs before waiting for the next request
    EXPECT_FALSE(contains(server.log(), "paranoid: worker")) << server.log();
}

TEST(Paranoid, QuietOnTheIlluminateExampleApp) {
    const std::string dir = examples + "/illuminate-app/public";
    Server server(dir, one_worker({"--worker", dir + "/worker.php", "--paranoid"}));
    send(server,
         {"/hello/ada", "/hello", "/", "/probe/bind/x", "/probe/share/y", "/probe/listen/z",
          "/probe/state", "/hello/bob?greeting=Hi"},
         8);
    get(server.url("/"));
    EXPECT_FALSE(contains(server.log(), "paranoid: worker")) << server.log();
}

}  // namespace
}  // namespace askr::test::php
