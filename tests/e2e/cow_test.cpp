// --cow: the zygote runs the worker script up to askr_cow_ready() once per
// generation and forks warm workers from there. The boot code runs once per generation
// (the fixture appends a line to boot.log at boot), a killed worker or one whose script
// ended is replaced by a fork (no boot), random generators differ per worker, a reload
// boots the new code once, and a boot failure is a clear error at start and leaves the
// old generation serving during a reload.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <thread>

#include "harness.hpp"
#include "php_support.hpp"

namespace askr::test::php {
namespace {

using nlohmann::json;

// VERSION and BOOT_EXTRA are replaced by the tests.
constexpr const char* kCowScript = R"PHP(<?php
$dir = __DIR__;
$version = 'VERSION';
$boot_pid = getmypid();
file_put_contents("$dir/boot.log", "$version $boot_pid\n", FILE_APPEND);
mt_rand();  // seeds the generator in the template: each worker must be re-seeded
BOOT_EXTRA
$ready = askr_cow_ready();
$count = 0;
$handler = function () use (&$count, $version, $boot_pid, $ready) {
    ++$count;
    switch ($_GET['op'] ?? '') {
        case 'exit':
            echo 'bye';
            exit;
        case 'sleep':
            usleep(300000);
            break;
        case 'burn':
            set_time_limit(1);
            while (true) {
            }
    }
    echo json_encode(['version' => $version, 'pid' => getmypid(), 'boot_pid' => $boot_pid, 'count' => $count,
                      'rand' => mt_rand(), 'ready' => $ready, 'worker' => $_SERVER['ASKR_WORKER'] ?? null]);
};
while (askr_handle_request($handler)) {
}
)PHP";

std::string cow_script(const std::string& version, const std::string& boot_extra = "") {
    std::string s = kCowScript;
    s.replace(s.find("VERSION"), 7, version);
    s.replace(s.find("BOOT_EXTRA"), 10, boot_extra);
    return s;
}

std::size_t lines_in(const std::string& path) {
    const std::string text = slurp(path);
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

json get_json(const Server& server, const std::string& path = "/") {
    auto r = get(server.url(path));
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body, nullptr, false);
}

// The first successful response from a worker other than `old_pid` (the replacement).
std::optional<json> wait_for_replacement(const Server& server, int old_pid,
                                         std::chrono::milliseconds timeout) {
    const auto until = Clock::now() + timeout;
    while (Clock::now() < until) {
        auto r = request(server.url("/"), {.timeout_ms = 2000});
        if (r.status == 200) {
            json j = json::parse(r.body, nullptr, false);
            if (j.is_object() && j["pid"] != old_pid) return j;
        }
        std::this_thread::sleep_for(5ms);
    }
    return std::nullopt;
}

TEST(Cow, BootsOncePerGenerationAndForksWarmWorkers) {
    TempDir root;
    const std::string script = root.write("worker.php", cow_script("v1"));
    Server server(root.path(), {"--workers", "2", "--worker", script, "--cow"});
    EXPECT_EQ(lines_in(root.path() + "/boot.log"), 1u) << slurp(root.path() + "/boot.log");

    // Two slow requests at once reach both workers.
    json a, b;
    std::thread other([&] { a = get_json(server, "/?op=sleep"); });
    std::this_thread::sleep_for(50ms);
    b = get_json(server, "/?op=sleep");
    other.join();
    ASSERT_TRUE(a.is_object() && b.is_object());
    EXPECT_NE(a["pid"], b["pid"]) << a.dump() << b.dump();
    for (const json* j : {&a, &b}) {
        EXPECT_EQ((*j)["version"], "v1");
        EXPECT_EQ((*j)["ready"], true) << "askr_cow_ready() returns true in a forked worker";
        EXPECT_EQ((*j)["worker"], "1");
        EXPECT_EQ((*j)["boot_pid"], a["boot_pid"]) << "both booted in the same template";
        EXPECT_NE((*j)["boot_pid"], (*j)["pid"]) << "the boot ran in the zygote, not in the worker";
    }
    EXPECT_NE(a["rand"], b["rand"]) << "mt_rand() must be re-seeded in each forked worker";
    EXPECT_EQ(lines_in(root.path() + "/boot.log"), 1u)
        << "the boot code ran once for the generation";
}

TEST(Cow, KilledOrEndedWorkerIsReplacedWarm) {
    TempDir root;
    const std::string script =
        root.write("worker.php", cow_script("v1", "usleep(300000);  // a slow boot"));
    Server server(root.path(), one_worker({"--worker", script, "--cow"}));
    server.allow_error("killed by signal 9");
    const json first = get_json(server);
    ASSERT_TRUE(first.is_object());
    EXPECT_EQ(get_json(server)["count"], 2) << "the worker keeps its state between requests";

    // kill -9: the replacement is a fork of the template (no boot: boot.log unchanged,
    // and faster than the 300 ms the boot takes).
    const int victim = first["pid"];
    const auto killed_at = Clock::now();
    ASSERT_EQ(::kill(victim, SIGKILL), 0);
    auto replacement = wait_for_replacement(server, victim, 5s);
    ASSERT_TRUE(replacement) << server.log();
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - killed_at).count();
    std::printf(
        "[ measure  ] --cow: kill -9 -> replacement served a request in %.1f ms (boot takes 300+ "
        "ms)\n",
        ms);
    EXPECT_LT(ms, 300.0) << "the replacement booted instead of forking";
    EXPECT_EQ((*replacement)["count"], 1) << "a fresh copy of the template";
    EXPECT_EQ((*replacement)["boot_pid"], first["boot_pid"]);
    EXPECT_EQ(lines_in(root.path() + "/boot.log"), 1u) << slurp(root.path() + "/boot.log");

    // exit() in the handler ends the script: the worker exits and a new one is forked.
    auto bye = get(server.url("/?op=exit"));
    EXPECT_EQ(bye.status, 200);
    EXPECT_EQ(bye.body, "bye");
    auto next = wait_for_replacement(server, (*replacement)["pid"], 5s);
    ASSERT_TRUE(next) << server.log();
    EXPECT_EQ((*next)["count"], 1);
    EXPECT_EQ(lines_in(root.path() + "/boot.log"), 1u) << slurp(root.path() + "/boot.log");
}

// max_execution_time works in a forked worker (its PHP thread's CPU timer is created
// after the fork): a runaway request gets a 500, the worker is replaced by a fork.
TEST(Cow, TimeLimitWorksInForkedWorkers) {
    TempDir root;
    const std::string script = root.write("worker.php", cow_script("v1"));
    Server server(root.path(), one_worker({"--worker", script, "--cow"}));
    server.allow_error("Maximum execution time");
    const auto started = Clock::now();
    // The limit counts CPU time: on a loaded machine one CPU second can take many wall
    // seconds, so the wall-clock bound only says "it ended".
    auto r = request(server.url("/?op=burn"), {.timeout_ms = 60000});
    EXPECT_EQ(r.status, 500) << r.body;
    EXPECT_LT(Clock::now() - started, 50s);
    auto next = get_json(server);
    ASSERT_TRUE(next.is_object()) << server.log();
    EXPECT_EQ(next["count"], 1) << "a new fork of the template";
    EXPECT_EQ(lines_in(root.path() + "/boot.log"), 1u);
}

// --max-requests: the script's loop ends, the worker exits, the next is a fork.
TEST(Cow, MaxRequestsRecyclesIntoForksOfTheTemplate) {
    TempDir root;
    const std::string script = root.write("worker.php", cow_script("v1"));
    Server server(root.path(), one_worker({"--worker", script, "--cow", "--max-requests", "5"}));
    std::set<int> pids;
    for (int i = 0; i < 30; ++i) {
        auto r = request(server.url("/"), {.timeout_ms = 5000});
        ASSERT_EQ(r.status, 200) << i << ": " << r.body << server.log();
        pids.insert(json::parse(r.body)["pid"].get<int>());
    }
    EXPECT_GE(pids.size(), 3u) << "workers were not recycled: " << server.log();
    EXPECT_EQ(lines_in(root.path() + "/boot.log"), 1u) << slurp(root.path() + "/boot.log");
}

TEST(Cow, ReloadBootsTheNewCodeOnce) {
    TempDir root;
    const std::string script = root.write("worker.php", cow_script("v1"));
    Server server(root.path(), {"--workers", "2", "--worker", script, "--cow", "-d",
                                "opcache.validate_timestamps=0"});
    EXPECT_EQ(get_json(server)["version"], "v1");
    root.write("worker.php", cow_script("v2"));
    ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
    ASSERT_TRUE(server.wait_for_log("reload finished: generation 2", 10s)) << server.log();
    for (int i = 0; i < 5; ++i) EXPECT_EQ(get_json(server)["version"], "v2");
    const std::string boots = slurp(root.path() + "/boot.log");
    EXPECT_EQ(lines_in(root.path() + "/boot.log"), 2u) << boots;
    EXPECT_EQ(boots.rfind("v1 ", 0), 0u) << boots;
    EXPECT_NE(boots.find("\nv2 "), std::string::npos) << boots;
}

TEST(Cow, BootFailureAtStartIsAClearError) {
    TempDir root;
    const std::string script = root.write(
        "worker.php", cow_script("v1", "throw new RuntimeException('boot-failure-4711');"));
    int status = 0;
    const std::string output =
        run_command("timeout 30 " ASKR_BINARY " serve --root " + root.path() +
                        " --listen 127.0.0.1:0 --workers 1 --cow --worker " + script + " 2>&1",
                    &status);
    EXPECT_NE(status, 0) << output;
    EXPECT_NE(status, 124) << "askr kept running: " << output;
    EXPECT_NE(output.find("boot-failure-4711"), std::string::npos) << output;
    EXPECT_NE(output.find("ended before askr_cow_ready()"), std::string::npos) << output;
    EXPECT_NE(output.find("cannot start"), std::string::npos) << output;
    EXPECT_EQ(output.find("listening on"), std::string::npos) << output;
}

TEST(Cow, BootFailureDuringReloadKeepsTheOldGeneration) {
    TempDir root;
    const std::string script = root.write("worker.php", cow_script("v1"));
    Server server(root.path(), {"--workers", "2", "--worker", script, "--cow", "-d",
                                "opcache.validate_timestamps=0"});
    server.allow_error("boot-failure-4711");
    server.allow_error("ended before askr_cow_ready()");
    server.allow_error("generation 2: zygote");
    server.allow_error("reload failed");
    EXPECT_EQ(get_json(server)["version"], "v1");
    root.write("worker.php", cow_script("v2", "throw new RuntimeException('boot-failure-4711');"));
    ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
    ASSERT_TRUE(server.wait_for_log("reload failed", 10s)) << server.log();
    for (int i = 0; i < 5; ++i) EXPECT_EQ(get_json(server)["version"], "v1");
    // Fixed code: the next reload works.
    root.write("worker.php", cow_script("v3"));
    ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
    ASSERT_TRUE(server.wait_for_log("reload finished: generation 3", 10s)) << server.log();
    EXPECT_EQ(get_json(server)["version"], "v3");
}

// A FrankenPHP-style script (no askr_cow_ready() call): the first askr_handle_request()
// is the point the workers are forked from.
TEST(Cow, ScriptWithoutCowReadyForksAtTheFirstHandleRequest) {
    TempDir root;
    const std::string script = root.write("worker.php", R"PHP(<?php
file_put_contents(__DIR__ . '/boot.log', getmypid() . "\n", FILE_APPEND);
$boot = getmypid();
while (askr_handle_request(function () use ($boot) { echo $boot, ' ', getmypid(); })) {
}
)PHP");
    Server server(root.path(), {"--workers", "2", "--worker", script, "--cow"});
    auto r = get(server.url("/"));
    ASSERT_EQ(r.status, 200);
    const auto space = r.body.find(' ');
    EXPECT_NE(r.body.substr(0, space), r.body.substr(space + 1)) << r.body;
    EXPECT_EQ(lines_in(root.path() + "/boot.log"), 1u);
}

}  // namespace
}  // namespace askr::test::php
