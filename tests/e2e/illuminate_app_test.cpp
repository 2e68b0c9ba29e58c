// The Illuminate example app (examples/illuminate-app: Debian's php-illuminate-*
// container, events, routing, http and view) in classic mode and in worker mode. In
// worker mode the framework boots once per worker, and what a request leaves in it (a
// container instance, binding or scoped singleton, a view shared variable, an event
// listener, the matched route and its parameters) is not visible to the next request,
// also under concurrent load through two workers.
#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "harness.hpp"
#include "php_support.hpp"

namespace askr::test::php {
namespace {

using nlohmann::json;

const std::string app_dir = std::string(ASKR_SOURCE_DIR) + "/examples/illuminate-app";
const std::string app_root = app_dir + "/public";
const std::string app_worker = app_root + "/worker.php";

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

json state_of(const Server& server) {
    auto r = get(server.url("/probe/state"));
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body, nullptr, false);
}

// What a request that left nothing behind sees.
void expect_clean_state(const json& state, const std::string& context) {
    ASSERT_TRUE(state.is_object()) << context;
    EXPECT_TRUE(state["instance"].is_null()) << context << ": " << state.dump();
    EXPECT_TRUE(state["binding"].is_null()) << context << ": " << state.dump();
    EXPECT_TRUE(state["scoped"].is_null()) << context << ": " << state.dump();
    EXPECT_TRUE(state["page_last"].is_null()) << context << ": " << state.dump();
    EXPECT_EQ(state["shared"], json::array({"appName"})) << context << ": " << state.dump();
    EXPECT_EQ(state["flash"], "no flash") << context;
    EXPECT_EQ(state["listeners"], 1) << context << ": only the listener registered at boot";
    EXPECT_EQ(state["route"], "probe.state") << context;
    EXPECT_TRUE(state["route_parameters"].empty()) << context << ": " << state.dump();
    EXPECT_EQ(state["request_is_current"], true) << context;
}

void expect_framework_page(const Response& page, const std::string& greeting, const std::string& name) {
    ASSERT_EQ(page.status, 200) << page.body;
    EXPECT_EQ(page.header("content-type"), "text/html; charset=UTF-8");
    EXPECT_EQ(page.header("x-powered-by"), "illuminate-app");
    EXPECT_TRUE(contains(page.body, "<title>Hello " + name + " · Illuminate on Askr</title>")) << page.body;
    EXPECT_TRUE(contains(page.body, "<h1>" + greeting + ", " + name + "!</h1>")) << page.body;
    EXPECT_TRUE(contains(page.body, "<td>Lathe</td><td>42.00</td>")) << page.body;
}

TEST(IlluminateApp, ClassicModeServesThePages) {
    // One worker: its second request is the one that crashed when PHP_SAPI's string was
    // released by opcache (see php::startup); the footer prints PHP_SAPI.
    Server server(app_root, one_worker());
    expect_framework_page(get(server.url("/hello/ada?greeting=Hi")), "Hi", "ada");
    auto plain = get(server.url("/hello"));
    expect_framework_page(plain, "Hello", "world");
    EXPECT_TRUE(contains(plain.body, "Served by askr.</footer>")) << plain.body;
    auto home = get(server.url("/"));
    ASSERT_EQ(home.status, 200);
    EXPECT_TRUE(contains(home.body, "<h1>Welcome</h1>")) << home.body;
    EXPECT_TRUE(contains(home.body, "Served by askr.</footer>")) << home.body;
    auto missing = get(server.url("/no/such/page"));
    EXPECT_EQ(missing.status, 404);
    EXPECT_TRUE(contains(missing.body, "<h1>404</h1>")) << missing.body;
    // Classic mode boots per request: nothing can survive anyway.
    ASSERT_EQ(get(server.url("/probe/bind/classic")).status, 200);
    auto state = state_of(server);
    expect_clean_state(state, "classic");
    EXPECT_TRUE(state["worker"].is_null());
}

TEST(IlluminateApp, WorkerModeResetsTheFrameworkBetweenRequests) {
    Server server(app_root, one_worker({"--worker", app_worker}));
    const json first = state_of(server);
    expect_clean_state(first, "first request");
    EXPECT_EQ(first["worker"], "1");
    const auto pid = first["pid"];

    // The same page as in classic mode, from the booted app.
    auto page = get(server.url("/hello/ada?greeting=Hi"));
    expect_framework_page(page, "Hi", "ada");
    EXPECT_TRUE(contains(page.body, "in worker mode.</footer>"));
    // A route parameter and a query value of one request are not the next one's.
    expect_framework_page(get(server.url("/hello")), "Hello", "world");

    // A container instance, binding and scoped singleton.
    auto bind = get(server.url("/probe/bind/secret-1"));
    ASSERT_EQ(bind.status, 200) << bind.body;
    expect_clean_state(state_of(server), "after /probe/bind");
    // A view shared variable.
    ASSERT_EQ(get(server.url("/probe/share/secret-2")).status, 200);
    expect_clean_state(state_of(server), "after /probe/share");
    // An event listener registered during a request: it must not run for the next page.
    ASSERT_EQ(get(server.url("/probe/listen/secret-3")).status, 200);
    auto after_listen = get(server.url("/hello/bob"));
    expect_framework_page(after_listen, "Hello", "bob");
    EXPECT_FALSE(after_listen.has_header("x-leaked-listener")) << after_listen.header("x-leaked-listener");
    expect_clean_state(state_of(server), "after /probe/listen");
    // The route matched by the previous request and its parameters.
    auto other = get(server.url("/probe/other/42"));
    ASSERT_EQ(other.status, 200);
    EXPECT_EQ(json::parse(other.body)["id"], "42");
    const json last = state_of(server);
    expect_clean_state(last, "after /probe/other/42");
    EXPECT_EQ(last["pid"], pid) << "one worker served everything: the app booted once";
}

// Four clients through two workers, each request leaving its own mark; every response
// must show only its own request's data.
TEST(IlluminateApp, WorkerModeUnderLoadKeepsRequestsApart) {
    Server server(app_root, {"--workers", "2", "--worker", app_worker});
    constexpr int kClients = 4;
    constexpr int kRounds = 15;  // each round: 4 requests
    std::atomic<int> failures{0};
    std::atomic<int> served{0};
    std::vector<std::string> problems(kClients);
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) {
        clients.emplace_back([&, c] {
            for (int i = 0; i < kRounds; ++i) {
                const std::string tag = "c" + std::to_string(c) + "-" + std::to_string(i);
                const char* probe = i % 3 == 0 ? "bind" : i % 3 == 1 ? "share" : "listen";
                auto marked = get(server.url(std::string("/probe/") + probe + "/" + tag));
                auto page = get(server.url("/hello/" + tag + "?greeting=G" + tag));
                auto state = get(server.url("/probe/state?from=" + tag));
                auto plain = get(server.url("/hello"));
                served += 4;
                const json s = json::parse(state.body, nullptr, false);
                const bool ok = marked.status == 200 && page.status == 200 &&
                                contains(page.body, "<h1>G" + tag + ", " + tag + "!</h1>") &&
                                !page.has_header("x-leaked-listener") && state.status == 200 && s.is_object() &&
                                s["instance"].is_null() && s["binding"].is_null() && s["scoped"].is_null() &&
                                s["flash"] == "no flash" && s["listeners"] == 1 && s["query"]["from"] == tag &&
                                s["route_parameters"].empty() && plain.status == 200 &&
                                contains(plain.body, "<h1>Hello, world!</h1>") && !plain.has_header("x-leaked-listener");
                if (!ok) {
                    ++failures;
                    problems[c] += tag + ": " + std::to_string(page.status) + " " + state.body + "\n";
                }
            }
        });
    }
    for (auto& t : clients) t.join();
    std::string all;
    for (const auto& p : problems) all += p;
    EXPECT_EQ(failures.load(), 0) << all;
    EXPECT_EQ(served.load(), kClients * kRounds * 4);
}

}  // namespace
}  // namespace askr::test::php
