// Operating the server: load-following accept, privilege drop, `askr status` (issue 3).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <future>
#include <thread>

#include "harness.hpp"

namespace askr::test {
namespace {

using Clock = std::chrono::steady_clock;

std::string run_command(const std::string& command) {
    std::string out;
    FILE* pipe = ::popen(command.c_str(), "r");
    if (!pipe) return out;
    char buffer[4096];
    while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
    ::pclose(pipe);
    return out;
}

// A slow request pinned on one worker must not delay fast requests from other clients:
// the busy worker stops accepting, so new connections go to the idle one.
TEST(Operations, FastRequestsAreNotQueuedBehindASlowOne) {
    TempDir root;
    root.write("index.php", R"(<?php usleep((int)($_GET['ms'] ?? 0) * 1000); echo getmypid();)");
    Server server(root.path(), {"--workers", "2"});
    auto slow = std::async(std::launch::async, [&] { return request(server.url("/?ms=2500")); });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the slow request is running
    double worst_ms = 0;
    for (int i = 0; i < 20; ++i) {
        const auto start = Clock::now();
        auto fast = get(server.url("/?ms=0"));
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
        EXPECT_EQ(fast.status, 200);
        worst_ms = std::max(worst_ms, ms);
    }
    // Behind the slow request a fast one would take more than 2 s.
    EXPECT_LT(worst_ms, 1000.0) << "a fast request waited behind the slow one";
    auto slow_response = slow.get();
    EXPECT_EQ(slow_response.status, 200);
}

TEST(Operations, UserDropsPrivilegesOfPhp) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch users";
    TempDir root;
    root.write("index.php", R"(<?php echo posix_getpwuid(posix_geteuid())['name'];)");
    Server server(root.path(), {"--workers", "1", "--user", "nobody"});
    auto r = get(server.url("/"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "nobody");
    EXPECT_EQ(server.log().find("PHP scripts run as root"), std::string::npos);
}

TEST(Operations, RootWithoutUserIsWarnedAbout) {
    if (::geteuid() != 0) GTEST_SKIP() << "only root gets the warning";
    TempDir root;
    root.write("index.php", "<?php echo 'x';");
    Server server(root.path(), {"--workers", "1"});
    EXPECT_TRUE(server.wait_for_log("PHP scripts run as root"));
}

TEST(Operations, StatusPrintsTheWorkerTable) {
    TempDir root;
    root.write("index.php", "<?php echo 'x';");
    const std::string socket = root.path() + "/control.sock";
    Server server(root.path(), {"--workers", "2", "--control-socket", socket});
    for (int i = 0; i < 10; ++i) EXPECT_EQ(get(server.url("/")).status, 200);
    std::string table;
    // Workers report "idle" once their I/O thread runs.
    for (int i = 0; i < 50 && table.find("idle") == std::string::npos; ++i) {
        table = run_command(std::string(ASKR_BINARY) + " status --socket " + socket + " 2>&1");
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_NE(table.find("master " + std::to_string(server.pid())), std::string::npos) << table;
    EXPECT_NE(table.find("2 worker(s)"), std::string::npos) << table;
    std::size_t rows = 0;
    for (std::size_t at = table.find("idle"); at != std::string::npos; at = table.find("idle", at + 1)) ++rows;
    for (std::size_t at = table.find("busy"); at != std::string::npos; at = table.find("busy", at + 1)) ++rows;
    EXPECT_EQ(rows, 2u) << table;
    EXPECT_EQ(server.stop(), 0);
    // After the stop nobody answers, and the command says so with a non-zero status.
    int status = std::system((std::string(ASKR_BINARY) + " status --socket " + socket + " >/dev/null 2>&1").c_str());
    EXPECT_NE(WEXITSTATUS(status), 0);
}

// max_execution_time must count the PHP thread's own CPU time, not the I/O thread's: each
// worker has a POSIX timer delivering SIGPROF to its PHP (main) thread. Timers do not
// survive fork(), so a timer created only in the zygote would leave the workers on PHP's
// process-wide ITIMER_PROF.
TEST(Operations, ExecutionTimerIsOnTheWorkersPhpThread) {
    TempDir root;
    root.write("index.php", "<?php echo getmypid();");
    Server server(root.path(), {"--workers", "2", "-d", "max_execution_time=5"});
    for (int i = 0; i < 10; ++i) {
        auto r = get(server.url("/"));
        ASSERT_EQ(r.status, 200);
        const std::string pid = r.body;
        std::ifstream timers("/proc/" + pid + "/timers");
        std::stringstream text;
        text << timers.rdbuf();
        EXPECT_NE(text.str().find("signal: 27/"), std::string::npos) << "no SIGPROF timer in worker " << pid << ":\n"
                                                                  << text.str();
        EXPECT_NE(text.str().find("notify: signal/tid." + pid), std::string::npos)
            << "the timer must target the PHP thread (the worker's main thread):\n"
            << text.str();
    }
}

// Bad command lines end with a message naming the option and exit status 2, never a crash.
TEST(Operations, InvalidOptionsAreClearErrors) {
    TempDir root;
    const std::string askr = std::string(ASKR_BINARY);
    struct Case {
        std::string args, expected;
    } cases[] = {
        {"serve --root " + root.path() + " --listen 127.0.0.1:99999", "--listen 127.0.0.1:99999: the port must be"},
        {"serve --root " + root.path() + " --listen nonsense", "--listen nonsense: expected HOST:PORT"},
        {"serve --root /nonexistent-askr-root", "--root /nonexistent-askr-root"},
        {"serve --root " + root.path() + " --max-body-size 12X", "--max-body-size"},
        {"serve --root " + root.path() + " --worker /nonexistent/worker.php", "--worker /nonexistent/worker.php"},
        {"serve --root " + root.path() + " --cow", "--cow needs worker mode"},
        {"serve --root " + root.path() + " --paranoid", "--paranoid needs worker mode"},
    };
    for (const auto& c : cases) {
        const std::string output = run_command(askr + " " + c.args + " 2>&1; echo \"exit=$?\"");
        EXPECT_NE(output.find(c.expected), std::string::npos) << c.args << "\n" << output;
        EXPECT_EQ(output.find("terminate"), std::string::npos) << c.args << "\n" << output;
        const bool status_ok = output.find("exit=2") != std::string::npos || output.find("exit=105") != std::string::npos ||
                               output.find("exit=106") != std::string::npos;
        EXPECT_TRUE(status_ok) << c.args << "\n" << output;
    }
}

}  // namespace
}  // namespace askr::test
