// Sidecars (docs/sidecars.md): queue workers and the scheduler, supervised by the master
// beside the web workers, with the real binary and real PHP scripts.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "redis_support.hpp"

namespace askr::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// A queue sidecar: records how it was started, then runs "jobs" (each logged when it starts
// and when it is done, `job_ms` long) until askr_sidecar_should_stop() says to return.
std::string queue_script(int job_ms) {
    return R"PHP(<?php
$role = $_SERVER['ASKR_SIDECAR'];
file_put_contents(__DIR__ . "/started-$role.json", json_encode([
    'role' => $role,
    'argv' => $argv,
    'argc' => $argc,
    'stdin' => is_resource(STDIN) && is_resource(STDOUT) && is_resource(STDERR),
    'max_execution_time' => ini_get('max_execution_time'),
    'http' => isset($_SERVER['REQUEST_METHOD']) || isset($_SERVER['HTTP_HOST']),
    'sapi' => PHP_SAPI,
    'pid' => getmypid(),
]));
askr_cache_increment('sidecar-starts');
$job = 0;
while (!askr_sidecar_should_stop()) {
    ++$job;
    file_put_contents(__DIR__ . '/jobs.log', "$role start $job\n", FILE_APPEND);
    usleep()PHP" +
           std::to_string(job_ms * 1000) + R"PHP();
    file_put_contents(__DIR__ . '/jobs.log', "$role done $job\n", FILE_APPEND);
    askr_sidecar_job_done();
}
echo "returning after $job jobs\n";
)PHP";
}

json status_of(const Server& server) {
    return json::parse(get(server.admin_url("/api/status")).body, nullptr, false);
}

// The sidecars in /api/status once `done` holds for them (bounded), by name.
std::map<std::string, json> wait_for_sidecars(const Server& server,
                                              const std::function<bool(const json&)>& done) {
    std::map<std::string, json> by_name;
    for (int i = 0; i < 300; ++i) {
        by_name.clear();
        json status = status_of(server);
        bool all = status.is_object() && !status["sidecars"].empty();
        for (const auto& s : status["sidecars"]) {
            by_name[s["name"].get<std::string>()] = s;
            all = all && done(s);
        }
        if (all) break;
        std::this_thread::sleep_for(20ms);
    }
    return by_name;
}

bool running(const json& s) {
    return s["state"] == "running";
}

TEST(Sidecars, QueueSidecarsRunLikeCliScriptsAndShareTheCache) {
    TempDir root;
    root.write("index.php", "<?php echo askr_cache_get('sidecar-starts', 0);");
    const std::string script = root.write("queue.php", queue_script(50));
    Server server(root.path(), {"--workers", "1", "--queue", "2", "--queue-script", script});
    auto sidecars = wait_for_sidecars(server, running);
    ASSERT_EQ(sidecars.size(), 2u);
    for (const std::string name : {"queue:0", "queue:1"}) {
        ASSERT_EQ(sidecars.count(name), 1u) << name;
        EXPECT_EQ(sidecars[name]["generation"], 1);
        EXPECT_EQ(sidecars[name]["restarts"], 0);
        EXPECT_TRUE(sidecars[name]["pid"].is_number());
    }
    EXPECT_NE(sidecars["queue:0"]["pid"], sidecars["queue:1"]["pid"]);
    for (const std::string role : {"queue:0", "queue:1"}) {
        const std::string path = root.path() + "/started-" + role + ".json";
        json started;
        for (int i = 0; i < 100 && started.is_null(); ++i) {
            started = json::parse(slurp(path), nullptr, false);
            if (started.is_discarded()) started = nullptr;
            std::this_thread::sleep_for(20ms);
        }
        ASSERT_TRUE(started.is_object()) << path;
        EXPECT_EQ(started["role"], role);
        EXPECT_EQ(started["argv"], json::array({script}));
        EXPECT_EQ(started["argc"], 1);
        EXPECT_EQ(started["stdin"], true);
        EXPECT_EQ(started["max_execution_time"], "0");
        EXPECT_EQ(started["http"], false) << "a sidecar has no HTTP request";
        EXPECT_EQ(started["pid"], sidecars[role]["pid"]);
    }
    // Both started and counted in the cache the web workers read.
    std::string starts;
    for (int i = 0; i < 100 && starts != "2"; ++i) {
        starts = get(server.url("/")).body;
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_EQ(starts, "2");
    const std::string status =
        command_output(std::string(ASKR_BINARY) + " status --socket /tmp/askr-" +
                       std::to_string(server.port()) + ".sock 2>&1");
    EXPECT_NE(status.find("queue:0"), std::string::npos) << status;
    EXPECT_NE(status.find("SIDECAR"), std::string::npos) << status;
}

TEST(Sidecars, AKilledSidecarIsReplaced) {
    TempDir root;
    const std::string script = root.write("queue.php", queue_script(50));
    Server server(root.path(), {"--workers", "1", "--queue", "1", "--queue-script", script});
    server.allow_error("queue:0");
    // Killed once it has counted jobs (askr_sidecar_job_done()): the count survives it.
    auto before = wait_for_sidecars(server, [](const json& s) {
        return running(s) && s["jobs_done"].get<std::uint64_t>() >= 2;
    })["queue:0"];
    ASSERT_TRUE(before["pid"].is_number()) << before.dump();
    ASSERT_GE(before["jobs_done"].get<std::uint64_t>(), 2u) << before.dump();
    ASSERT_EQ(::kill(before["pid"].get<pid_t>(), SIGKILL), 0);
    auto after = wait_for_sidecars(
        server, [&](const json& s) { return running(s) && s["pid"] != before["pid"]; })["queue:0"];
    EXPECT_TRUE(running(after)) << after.dump();
    EXPECT_NE(after["pid"], before["pid"]);
    EXPECT_EQ(after["restarts"], 1);
    EXPECT_EQ(after["last_exit"], "killed by signal 9 (SIGKILL)");
    EXPECT_GE(after["jobs_done"], before["jobs_done"]) << "the count started again at 0";
    // Every job the script finished is counted, and nothing else (the count follows the
    // "done" line it writes).
    const std::string log = slurp(root.path() + "/jobs.log");
    std::uint64_t done_lines = 0;
    for (std::size_t at = 0; (at = log.find(" done ", at)) != std::string::npos; ++at) ++done_lines;
    const auto counted = status_of(server)["sidecars"][0]["jobs_done"].get<std::uint64_t>();
    EXPECT_LE(counted, done_lines) << log;
    EXPECT_GE(counted + 1, done_lines) << log;
}

// SIGTERM while a job runs: the job finishes, no new one starts, the script returns, and
// the server exits 0.
TEST(Sidecars, AStopLetsTheJobUnderWayFinish) {
    TempDir root;
    const std::string script = root.write("queue.php", queue_script(1500));
    Server server(root.path(), {"--workers", "1", "--queue", "1", "--queue-script", script});
    const std::string jobs = root.path() + "/jobs.log";
    for (int i = 0; i < 200 && slurp(jobs).find("start 1") == std::string::npos; ++i)
        std::this_thread::sleep_for(20ms);
    ASSERT_NE(slurp(jobs).find("queue:0 start 1"), std::string::npos);
    EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
    EXPECT_EQ(slurp(jobs), "queue:0 start 1\nqueue:0 done 1\n");
    EXPECT_NE(server.log().find("queue:0: returning after 1 jobs"), std::string::npos)
        << server.log();
}

TEST(Sidecars, ASidecarThatIgnoresTheStopIsKilledAfterTheTimeout) {
    TempDir root;
    const std::string script = root.write("queue.php", "<?php\nwhile (true) { usleep(100000); }\n");
    Server server(root.path(), {"--workers", "1", "--queue", "1", "--queue-script", script,
                                "--queue-stop-timeout", "1"});
    server.allow_error("did not stop within [queue] stop_timeout 1 s; killing it");
    ASSERT_TRUE(running(wait_for_sidecars(server, running)["queue:0"]));
    EXPECT_EQ(server.stop(SIGTERM, 10s), 0) << server.log();
    EXPECT_NE(server.log().find("did not stop within [queue] stop_timeout 1 s"), std::string::npos)
        << server.log();
}

TEST(Sidecars, AReloadRollsThemToTheNewGeneration) {
    TempDir root;
    const std::string script = root.write("queue.php", queue_script(100));
    Server server(root.path(), {"--workers", "1", "--queue", "2", "--queue-script", script});
    auto first = wait_for_sidecars(server, running);
    ASSERT_EQ(first.size(), 2u);
    ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
    ASSERT_TRUE(server.wait_for_log("reload finished")) << server.log();
    auto rolled =
        wait_for_sidecars(server, [](const json& s) { return running(s) && s["generation"] == 2; });
    for (const auto& [name, s] : rolled) {
        EXPECT_EQ(s["generation"], 2) << name << ": " << s.dump();
        EXPECT_NE(s["pid"], first[name]["pid"]) << name;
        EXPECT_EQ(s["restarts"], 0) << "a roll is not a restart";
    }
    // Each stopped between jobs, at the reload and at the stop: every job that started is done.
    std::this_thread::sleep_for(150ms);  // the new ones are mid-job now
    EXPECT_EQ(server.stop(SIGTERM), 0);
    std::istringstream lines(slurp(root.path() + "/jobs.log"));
    std::map<std::string, int> open;
    for (std::string line; std::getline(lines, line);) {
        const auto role = line.substr(0, line.find(' '));
        open[role] += line.find(" start ") != std::string::npos ? 1 : -1;
    }
    for (const auto& [role, n] : open) EXPECT_EQ(n, 0) << role << " left a job unfinished";
}

// A script that ends at once is started again later and later, not in a loop.
TEST(Sidecars, AScriptThatKeepsEndingBacksOff) {
    TempDir root;
    const std::string script = root.write(
        "queue.php", "<?php\nfile_put_contents(__DIR__ . '/runs', 'x', FILE_APPEND);\nexit(3);\n");
    Server server(root.path(), {"--workers", "1", "--queue", "1", "--queue-script", script});
    server.allow_error("queue:0");
    std::this_thread::sleep_for(3s);
    const auto runs = slurp(root.path() + "/runs").size();
    EXPECT_GE(runs, 3u);
    EXPECT_LE(runs, 8u) << "a failing sidecar is restarted in a loop";
    EXPECT_NE(server.log().find("it keeps ending right after start"), std::string::npos)
        << server.log();
    auto s = status_of(server)["sidecars"][0];
    EXPECT_EQ(s["last_exit"], "exit status 3");
    EXPECT_GE(s["restarts"], 2);
}

// The scheduler runs at each interval boundary in a fresh process; a run still going at
// the next boundary makes that one skipped: runs never overlap.
TEST(Sidecars, SchedulerRunsAtEachIntervalAndNeverOverlaps) {
    TempDir root;
    const std::string script = root.write("scheduler.php", R"PHP(<?php
$t = microtime(true);
file_put_contents(__DIR__ . '/runs.log', sprintf("%d %.3f start %s\n", getmypid(), $t, $_SERVER['ASKR_SIDECAR']), FILE_APPEND);
if (!file_exists(__DIR__ . '/slow-done')) {  // the first run takes longer than an interval
    touch(__DIR__ . '/slow-done');
    sleep(3);
}
file_put_contents(__DIR__ . '/runs.log', sprintf("%d %.3f end\n", getmypid(), microtime(true)), FILE_APPEND);
)PHP");
    Server server(root.path(),
                  {"--workers", "1", "--scheduler-script", script, "--scheduler-interval", "1"});
    ASSERT_TRUE(server.wait_for_log("this run is skipped", 8s)) << server.log();
    for (int i = 0; i < 300; ++i) {
        std::istringstream count(slurp(root.path() + "/runs.log"));
        int ends = 0;
        for (std::string line; std::getline(count, line);) ends += line.ends_with(" end");
        if (ends >= 3) break;
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_EQ(server.stop(SIGTERM), 0);
    std::istringstream lines(slurp(root.path() + "/runs.log"));
    int depth = 0, runs = 0;
    std::set<std::string> pids;
    for (std::string line; std::getline(lines, line);) {
        std::istringstream fields(line);
        std::string pid, time, what;
        fields >> pid >> time >> what;
        if (what == "start") {
            ++depth;
            ++runs;
            pids.insert(pid);
            std::string role;
            fields >> role;
            EXPECT_EQ(role, "scheduler");
        } else {
            --depth;
        }
        EXPECT_LE(depth, 1) << "two runs overlapped:\n" << slurp(root.path() + "/runs.log");
    }
    EXPECT_GE(runs, 3);
    EXPECT_EQ(pids.size(), static_cast<std::size_t>(runs)) << "each run is a fresh process";
}

// With --cow the sidecars are forked from the booted template's generation as well.
TEST(Sidecars, CowServersRunThemToo) {
    TempDir root;
    const std::string worker = root.write("worker.php", R"PHP(<?php
askr_cache_set('booted', 'yes');
askr_cow_ready();
while (askr_handle_request(function () { echo 'web'; })) {}
)PHP");
    const std::string script = root.write("queue.php", R"PHP(<?php
file_put_contents(__DIR__ . '/seen', askr_cache_get('booted', 'no') . ' ' . $_SERVER['ASKR_SIDECAR']);
while (!askr_sidecar_should_stop()) usleep(50000);
)PHP");
    Server server(root.path(), {"--workers", "1", "--worker", worker, "--cow", "--queue", "1",
                                "--queue-script", script});
    ASSERT_TRUE(running(wait_for_sidecars(server, running)["queue:0"]));
    for (int i = 0; i < 100 && slurp(root.path() + "/seen").empty(); ++i)
        std::this_thread::sleep_for(20ms);
    EXPECT_EQ(slurp(root.path() + "/seen"), "yes queue:0");
    EXPECT_EQ(get(server.url("/")).body, "web");
}

TEST(Sidecars, ConfigErrorsSayWhatIsMissing) {
    TempDir root;
    const std::string serve = std::string(ASKR_BINARY) +
                              " serve --listen 127.0.0.1:0 --admin-listen off --root " +
                              root.path();
    std::string out = command_output("timeout 20 " + serve + " --queue 2 2>&1");
    EXPECT_NE(out.find("needs [queue] script (--queue-script)"), std::string::npos) << out;
    out =
        command_output("timeout 20 " + serve + " --queue 1 --queue-script /nonexistent/q.php 2>&1");
    EXPECT_NE(out.find("/nonexistent/q.php: no such file"), std::string::npos) << out;
    root.write("q.php", "<?php");
    out = command_output("timeout 20 " + serve + " --queue-script " + root.path() + "/q.php 2>&1");
    EXPECT_NE(out.find("[queue] workers (--queue N) is 0"), std::string::npos) << out;
}

// Two servers sharing the cache on a real redis-server: each tick of the scheduler runs on
// one of them, never on both.
TEST(Sidecars, SchedulerRunsOnceAcrossServersSharingRedis) {
    RedisServer redis;
    TempDir shared;
    const std::string script = shared.write("scheduler.php", R"PHP(<?php
file_put_contents(__DIR__ . '/runs.log', sprintf("%d %d\n", $_SERVER['ASKR_SCHEDULED_AT'], getmypid()), FILE_APPEND | LOCK_EX);
)PHP");
    std::vector<std::string> args{
        "--workers",     "1",        "--scheduler-script", script, "--scheduler-interval", "1",
        "--cache-redis", redis.url()};
    TempDir root_a, root_b;
    Server a(root_a.path(), args);
    Server b(root_b.path(), args);
    const auto skipped = [&] {
        return a.log().find("another server runs this tick") != std::string::npos ||
               b.log().find("another server runs this tick") != std::string::npos;
    };
    for (int i = 0; i < 200 && !skipped(); ++i) std::this_thread::sleep_for(50ms);
    ASSERT_TRUE(skipped()) << a.log() << b.log();
    std::this_thread::sleep_for(2s);
    EXPECT_EQ(a.stop(), 0);
    EXPECT_EQ(b.stop(), 0);
    std::istringstream lines(slurp(shared.path() + "/runs.log"));
    std::map<long, int> runs_per_second;  // by the tick's scheduled second
    int runs = 0;
    for (std::string line; std::getline(lines, line);) {
        ++runs_per_second[std::stol(line.substr(0, line.find(' ')))];
        ++runs;
    }
    EXPECT_GE(runs, 3) << slurp(shared.path() + "/runs.log");
    for (const auto& [second, n] : runs_per_second)
        EXPECT_EQ(n, 1) << "second " << second << " ran " << n << " times:\n"
                        << slurp(shared.path() + "/runs.log");
}

}  // namespace
}  // namespace askr::test
