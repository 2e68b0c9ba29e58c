// A reload to code that cannot serve (docs/reload.md): in worker mode with and without
// --cow and in classic mode, a new generation whose script has a syntax error or throws at
// boot (or never gets to askr_handle_request() within --boot-timeout) fails the reload;
// the old generation answers every request during and after it, the log, `askr status`
// and /api/status say it failed, and once the file is fixed the next SIGHUP reloads.
#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "php_support.hpp"

namespace askr::test::reload {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using test::php::run_command;

// A worker script answering "VERSION|pid"; BOOT runs once per boot, before the loop.
std::string worker_script(const std::string& version, const std::string& boot = "") {
    return "<?php\n" + boot + "\n$v = '" + version +
           "';\nwhile (askr_handle_request(function () use ($v) { echo $v, '|', getmypid(); "
           "})) {\n}\n";
}

// Requests on fresh connections until stopped; every answer is recorded.
class Load {
  public:
    explicit Load(const Server& server) : url_(server.url("/")) {
        thread_ = std::thread([this] {
            while (!stop_) {
                auto r = request(url_, {.timeout_ms = 5000});
                std::lock_guard lock(mutex_);
                answers_.push_back(r.status == 200 ? r.body.substr(0, 3)
                                                   : "status " + std::to_string(r.status) + " " +
                                                         r.error + " " + r.body);
            }
        });
    }
    ~Load() { finish(); }
    /// Stops the load; returns every answer ("v1|" for a served one).
    std::vector<std::string> finish() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
        std::lock_guard lock(mutex_);
        return answers_;
    }

  private:
    std::string url_;
    std::atomic<bool> stop_{false};
    std::mutex mutex_;
    std::vector<std::string> answers_;
    std::thread thread_;
};

json api_status(const Server& server) {
    return json::parse(get(server.admin_url("/api/status")).body, nullptr, false);
}

std::string askr_status(const std::string& socket) {
    return run_command(std::string(ASKR_BINARY) + " status --socket " + socket + " 2>&1");
}

// The whole story: v1 serves; `break_code` then SIGHUP fails the reload while a load
// runs, and only v1 ever answers; `fix_code` then SIGHUP gives v3 (generation 3).
void expect_failed_reload_then_fixed(const TempDir& root, std::vector<std::string> args,
                                     const std::function<void()>& break_code,
                                     const std::function<void()>& fix_code,
                                     const std::vector<std::string>& expected_errors,
                                     const std::string& failure_text) {
    const std::string socket = root.path() + "/control.sock";
    args.insert(args.end(), {"--workers", "2", "--control-socket", socket});
    Server server(root.path(), args);
    for (const auto& e : expected_errors) server.allow_error(e);
    server.allow_error("reload failed");
    server.allow_error("generation 2");
    ASSERT_EQ(get(server.url("/")).body.substr(0, 3), "v1|") << server.log();

    Load load(server);
    std::this_thread::sleep_for(200ms);
    break_code();
    ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
    ASSERT_TRUE(server.wait_for_log("reload failed", 15s)) << server.log();
    std::this_thread::sleep_for(1s);  // the old workers would be retiring now
    const auto during = load.finish();
    ASSERT_FALSE(during.empty());
    for (const auto& answer : during) ASSERT_EQ(answer, "v1|") << server.log();

    const std::string log = server.log();
    EXPECT_NE(log.find(failure_text), std::string::npos) << log;
    EXPECT_EQ(log.find("reload finished"), std::string::npos) << log;
    const json status = api_status(server);
    EXPECT_EQ(status["generation"], 1) << status.dump(2);
    EXPECT_EQ(status["reload"]["state"], "idle") << status.dump(2);
    EXPECT_EQ(status["reload"]["last"]["result"], "failed") << status.dump(2);
    EXPECT_EQ(status["reload"]["last"]["generation"], 2) << status.dump(2);
    EXPECT_NE(status["reload"]["last"]["error"].get<std::string>().find(failure_text),
              std::string::npos)
        << status.dump(2);
    const std::string text = askr_status(socket);
    EXPECT_NE(text.find("generation 1,"), std::string::npos) << text;
    EXPECT_NE(text.find("last reload failed: generation 2"), std::string::npos) << text;
    for (int i = 0; i < 5; ++i) EXPECT_EQ(get(server.url("/")).body.substr(0, 3), "v1|");

    fix_code();
    ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
    ASSERT_TRUE(server.wait_for_log("reload finished: generation 3", 15s)) << server.log();
    for (int i = 0; i < 5; ++i) EXPECT_EQ(get(server.url("/")).body.substr(0, 3), "v3|");
    const json after = api_status(server);
    EXPECT_EQ(after["generation"], 3) << after.dump(2);
    EXPECT_EQ(after["reload"]["last"]["result"], "succeeded") << after.dump(2);
    EXPECT_EQ(askr_status(socket).find("last reload failed"), std::string::npos);
}

struct WorkerCase {
    const char* name;
    bool cow;
    const char* broken;   // the script that cannot serve
    const char* error;    // what the log says about it
    const char* failure;  // what the reload failure says
};

void PrintTo(const WorkerCase& c, std::ostream* out) {
    *out << c.name;
}

class ReloadToBrokenWorkerScript : public ::testing::TestWithParam<WorkerCase> {};

TEST_P(ReloadToBrokenWorkerScript, FailsAndTheOldGenerationServesOn) {
    const WorkerCase& c = GetParam();
    TempDir root;
    const std::string script = root.write("worker.php", worker_script("v1"));
    std::vector<std::string> args{"--worker", script};
    if (c.cow) args.push_back("--cow");
    expect_failed_reload_then_fixed(
        root, args, [&] { root.write("worker.php", c.broken); },
        [&] { root.write("worker.php", worker_script("v3")); }, {c.error, "ended before"},
        c.failure);
}

INSTANTIATE_TEST_SUITE_P(
    Reload, ReloadToBrokenWorkerScript,
    ::testing::Values(WorkerCase{"SyntaxError", false, "<?php\n$x = ;\n", "syntax error",
                                 "ended before reaching askr_handle_request()"},
                      WorkerCase{"ThrowsAtBoot", false,
                                 "<?php\nthrow new RuntimeException('boot-failure-4711');\n",
                                 "boot-failure-4711",
                                 "ended before reaching askr_handle_request()"},
                      WorkerCase{"CowSyntaxError", true, "<?php\n$x = ;\n", "syntax error",
                                 "ended before askr_cow_ready()"},
                      WorkerCase{"CowThrowsAtBoot", true,
                                 "<?php\nthrow new RuntimeException('boot-failure-4711');\n",
                                 "boot-failure-4711", "ended before askr_cow_ready()"}),
    [](const auto& info) { return std::string(info.param.name); });

// A script that is still booting after --boot-timeout fails the reload as well (it would
// have served nothing all that while).
TEST(Reload, WorkerStillBootingAfterBootTimeoutFailsTheReload) {
    TempDir root;
    const std::string script = root.write("worker.php", worker_script("v1"));
    expect_failed_reload_then_fixed(
        root, {"--worker", script, "--boot-timeout", "1"},
        [&] { root.write("worker.php", worker_script("v2", "sleep(30);")); },
        [&] { root.write("worker.php", worker_script("v3")); }, {},
        "was still starting after --boot-timeout 1 s");
}

// Classic mode: a preloaded file that throws stops PHP's start in the new zygote.
TEST(Reload, ClassicModePreloadThatThrowsFailsTheReload) {
    TempDir root;
    const std::string preload =
        root.write("preload.php", "<?php function version() { return 'v1'; }\n");
    root.write("index.php", "<?php echo version(), '|', getmypid();");
    expect_failed_reload_then_fixed(
        root,
        {"-d", "opcache.preload=" + preload, "-d",
         "opcache.preload_user=" + std::string(::getpwuid(::geteuid())->pw_name)},
        [&] {
            root.write("preload.php",
                       "<?php throw new RuntimeException('preload-failure-4711');\n");
        },
        [&] { root.write("preload.php", "<?php function version() { return 'v3'; }\n"); },
        {"preload-failure-4711", "PHP failed to start"}, "did not start");
}

}  // namespace
}  // namespace askr::test::reload
