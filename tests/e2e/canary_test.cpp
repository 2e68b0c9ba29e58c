// Canary reloads (--canary, docs/reload.md): the new generation's first worker is watched
// before the others roll; a deploy that fails at boot or answers 500s stops there.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness.hpp"

namespace askr::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// A worker-mode app whose code is loaded once at boot: a reload runs what app.php says
// then, while the old generation keeps the code it booted with.
void write_app(const TempDir& root, const std::string& handler_body) {
    root.write("app.php", "<?php\nfunction handle() { " + handler_body + " }\n");
}

std::vector<std::string> canary_args(const TempDir& root) {
    root.write("worker.php",
               "<?php\nrequire __DIR__ . '/app.php';\nwhile (askr_handle_request('handle')) {}\n");
    return {"--workers", "2", "--worker", root.path() + "/worker.php", "--canary",
            "--canary-seconds", "2"};
}

// Clients requesting in a loop until stopped (bounded), counting answers by body.
class Load {
  public:
    explicit Load(const Server& server, int clients = 3) {
        for (int c = 0; c < clients; ++c) {
            threads_.emplace_back([this, &server] {
                for (int i = 0; i < 20000 && !stop_; ++i) {
                    const auto r = get(server.url("/"));
                    std::lock_guard lock(mutex_);
                    ++answers_[std::to_string(r.status) + " " + r.body.substr(0, 2)];
                }
            });
        }
    }
    ~Load() { finish(); }
    // Stops the clients; the answers by "STATUS BODY-PREFIX".
    std::map<std::string, int> finish() {
        stop_ = true;
        for (auto& t : threads_) {
            if (t.joinable()) t.join();
        }
        std::lock_guard lock(mutex_);
        return answers_;
    }

  private:
    std::atomic<bool> stop_{false};
    std::mutex mutex_;
    std::map<std::string, int> answers_;
    std::vector<std::thread> threads_;
};

// POST /api/reload?wait=1: answered once the reload has ended.
Response reload_and_wait(const Server& server) {
    RequestOptions post;
    post.method = "POST";
    post.timeout_ms = 40000;
    return request(server.admin_url("/api/reload?wait=1"), post);
}

json last_reload(const Server& server) {
    return json::parse(get(server.admin_url("/api/status")).body, nullptr, false)["reload"]["last"];
}

std::string dump(const std::map<std::string, int>& answers) {
    std::string out;
    for (const auto& [what, n] : answers) out += what + ": " + std::to_string(n) + "\n";
    return out;
}

TEST(Canary, AGoodReloadUnderLoadFailsNoRequest) {
    TempDir root;
    write_app(root, "echo 'v1';");
    Server server(root.path(), canary_args(root));
    Load load(server);
    std::this_thread::sleep_for(300ms);
    write_app(root, "echo 'v2';");
    const Response reload = reload_and_wait(server);
    EXPECT_EQ(reload.status, 200) << reload.body;
    EXPECT_EQ(json::parse(reload.body, nullptr, false)["reload"], "succeeded") << reload.body;
    ASSERT_TRUE(server.wait_for_log("reload finished", 20s)) << server.log();
    std::this_thread::sleep_for(300ms);
    const auto answers = load.finish();
    EXPECT_TRUE(server.wait_for_log("canary passed")) << server.log();
    int ok = 0;
    for (const auto& [what, n] : answers) {
        EXPECT_TRUE(what == "200 v1" || what == "200 v2") << dump(answers);
        ok += n;
    }
    EXPECT_GT(answers.count("200 v2"), 0u) << dump(answers);
    std::printf("[ INFO     ] %d requests during the reload, none failed\n", ok);
    EXPECT_EQ(last_reload(server)["result"], "succeeded");
    EXPECT_EQ(get(server.url("/")).body, "v2");
}

// New code that answers 500: the canary is retired, the old generation serves on, and
// the failure says why (in the log and in /api/status).
TEST(Canary, NewCodeThatAnswers500sIsNotRolledOut) {
    TempDir root;
    write_app(root, "echo 'v1';");
    Server server(root.path(), canary_args(root));
    server.allow_error("reload failed");
    Load load(server);
    write_app(root, "http_response_code(500); echo 'v2 broken';");
    // A deploy script's view: the reload's answer says it failed, and why.
    const Response reload = reload_and_wait(server);
    EXPECT_EQ(reload.status, 409) << reload.body;
    const json answer = json::parse(reload.body, nullptr, false);
    EXPECT_EQ(answer["reload"], "failed") << reload.body;
    EXPECT_NE(answer.value("error", "").find("100.0% 5xx"), std::string::npos) << reload.body;
    ASSERT_TRUE(server.wait_for_log("reload failed", 20s)) << server.log();
    const auto answers = load.finish();
    EXPECT_TRUE(server.wait_for_log("100.0% 5xx")) << server.log();
    EXPECT_GT(answers.count("200 v1"), 0u) << dump(answers);
    const json last = last_reload(server);
    EXPECT_EQ(last["result"], "failed");
    EXPECT_NE(last["error"].get<std::string>().find("canary worker"), std::string::npos)
        << last.dump();
    // Every worker left is the old generation's, with its code.
    std::this_thread::sleep_for(300ms);
    for (int i = 0; i < 20; ++i) EXPECT_EQ(get(server.url("/")).body, "v1");
    const json status = json::parse(get(server.admin_url("/api/status")).body, nullptr, false);
    for (const auto& w : status["workers"]) {
        if (w["state"] != "draining") {
            EXPECT_EQ(w["generation"], 1) << status.dump(2);
        }
    }
}

TEST(Canary, NewCodeThatFailsAtBootIsNotRolledOut) {
    TempDir root;
    write_app(root, "echo 'v1';");
    Server server(root.path(), canary_args(root));
    server.allow_error("reload failed");
    server.allow_error("syntax error");
    server.allow_error("ended before serving a request");
    Load load(server, 2);
    root.write("app.php", "<?php\nfunction handle( { echo 'v2'; }\n");
    ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
    ASSERT_TRUE(server.wait_for_log("reload failed", 20s)) << server.log();
    const auto answers = load.finish();
    for (const auto& [what, n] : answers) EXPECT_EQ(what, "200 v1") << dump(answers);
    EXPECT_EQ(get(server.url("/")).body, "v1");
}

// A canary that no client reached proves nothing: the reload fails and says so.
TEST(Canary, ACanaryThatServedNothingFails) {
    TempDir root;
    write_app(root, "echo 'v1';");
    Server server(root.path(), canary_args(root));
    server.allow_error("reload failed");
    write_app(root, "echo 'v2';");
    ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
    ASSERT_TRUE(server.wait_for_log("served no request in 2 s", 20s)) << server.log();
    EXPECT_EQ(last_reload(server)["result"], "failed");
    EXPECT_EQ(get(server.url("/")).body, "v1");
}

}  // namespace
}  // namespace askr::test
