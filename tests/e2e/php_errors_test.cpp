// How scripts end: exit()/die() keep what was written, errors become 500s (details only
// when display_errors is on, always in the server log), and max_execution_time and
// memory_limit stop a script without taking the server down.
#include <gtest/gtest.h>

#include "harness.hpp"
#include "php_support.hpp"

namespace askr::test::php {
namespace {

TEST(PhpExit, ExitAndDieKeepOutput) {
    TempDir root;
    root.write("exit.php",
               R"(<?php header('X-Set: before-exit'); echo "before;"; exit("bye"); echo "after";)");
    root.write("die.php", R"(<?php echo "partial;"; if (true) { die(); } echo "never";)");
    root.write("status.php", R"(<?php echo "code;"; exit(3);)");
    root.write(
        "nested.php",
        R"(<?php function inner() { echo "in;"; exit; } ob_start(); echo "buffered;"; inner(); echo "no";)");
    Server server(root.path(), one_worker());
    auto r = get(server.url("/exit.php"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "before;bye");
    EXPECT_EQ(r.header("x-set"), "before-exit");
    r = get(server.url("/die.php"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "partial;");
    r = get(server.url("/status.php"));  // an exit status is not an HTTP status
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "code;");
    r = get(server.url("/nested.php"));  // user output buffers are flushed on exit
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "buffered;in;");
    // The server goes on serving after each.
    EXPECT_EQ(get(server.url("/exit.php")).body, "before;bye");
}

constexpr const char* throwing_script = R"(<?php
    echo "partial output;";
    throw new RuntimeException("secret-detail-4711");)";

TEST(PhpErrors, UncaughtExceptionIs500WithoutDetailsByDefault) {
    TempDir root;
    root.write("index.php", throwing_script);
    Server server(root.path(), one_worker());
    server.allow_error("secret-detail-4711");
    auto r = get(server.url("/index.php"));
    EXPECT_EQ(r.status, 500);
    EXPECT_EQ(r.body.find("secret-detail-4711"), std::string::npos)
        << "display_errors is off, yet:\n"
        << r.body;
    EXPECT_TRUE(server.wait_for_log("Uncaught RuntimeException: secret-detail-4711"))
        << server.log();
    EXPECT_EQ(get(server.url("/index.php")).status, 500);  // and again: nothing stuck
}

TEST(PhpErrors, UncaughtExceptionShownWithDisplayErrors) {
    TempDir root;
    root.write("index.php", throwing_script);
    Server server(root.path(), one_worker({"-d", "display_errors=1"}));
    server.allow_error("secret-detail-4711");
    auto r = get(server.url("/index.php"));
    EXPECT_EQ(r.status, 500);
    EXPECT_NE(r.body.find("partial output;"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("Uncaught RuntimeException: secret-detail-4711"), std::string::npos)
        << r.body;
    EXPECT_TRUE(server.wait_for_log("secret-detail-4711")) << server.log();
}

TEST(PhpErrors, FatalErrorIs500AndServerGoesOn) {
    TempDir root;
    root.write("fatal.php", R"(<?php echo "x"; this_function_does_not_exist_42();)");
    root.write("syntax.php", "<?php echo 'unterminated;\n function (");
    root.write("ok.php", R"(<?php echo "fine";)");
    Server server(root.path(), one_worker());
    server.allow_error("this_function_does_not_exist_42");
    server.allow_error("syntax error");
    auto r = get(server.url("/fatal.php"));
    EXPECT_EQ(r.status, 500);
    EXPECT_EQ(r.body.find("this_function_does_not_exist_42"), std::string::npos) << r.body;
    EXPECT_TRUE(server.wait_for_log("Call to undefined function this_function_does_not_exist_42()"))
        << server.log();
    r = get(server.url("/syntax.php"));
    EXPECT_EQ(r.status, 500);
    EXPECT_TRUE(server.wait_for_log("syntax error")) << server.log();
    r = get(server.url("/ok.php"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "fine");
}

// A warning is not an error: the page is a 200 and the warning goes to the log.
TEST(PhpErrors, WarningKeeps200) {
    TempDir root;
    root.write(
        "index.php",
        R"(<?php $a = []; echo "value:" . @$a['x'] . ($a['missing'] ?? 'default'); echo $undefined_var_77 ?? ''; trigger_error("custom-warning-99", E_USER_WARNING); echo ";done";)");
    Server server(root.path());
    auto r = get(server.url("/"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "value:default;done");
    EXPECT_TRUE(server.wait_for_log("custom-warning-99")) << server.log();
}

TEST(PhpLimits, MaxExecutionTimeEndsBusyLoop) {
    TempDir root;
    root.write("loop.php", R"(<?php echo "start"; while (true) {})");
    root.write("ok.php", R"(<?php echo "alive";)");
    Server server(root.path(), one_worker({"-d", "max_execution_time=1"}));
    server.allow_error("Maximum execution time of 1 second exceeded");
    const auto start = Clock::now();
    auto r = request(server.url("/loop.php"), {.timeout_ms = 10000});
    const auto took =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    // The limit is CPU time: at least a second, and on a loaded machine any wall time
    // after that (the 10 s client timeout would show a limit that never fired).
    EXPECT_EQ(r.status, 500) << r.error << " after " << took << " ms";
    EXPECT_GE(took, 900);
    EXPECT_TRUE(server.wait_for_log("Maximum execution time of 1 second exceeded")) << server.log();
    r = get(server.url("/ok.php"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "alive");
}

// max_execution_time counts the script's CPU time (as PHP does on Linux, with
// ITIMER_PROF): sleeping longer than the limit is fine.
TEST(PhpLimits, SleepDoesNotCountAsExecutionTime) {
    TempDir root;
    root.write("sleep.php", R"(<?php set_time_limit(1); usleep(1500000); echo "ok";)");
    root.write("sleep2.php", R"(<?php set_time_limit(2); usleep(1500000); echo "ok";)");
    Server server(root.path());
    auto r = request(server.url("/sleep.php"), {.timeout_ms = 10000});
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "ok");
    r = request(server.url("/sleep2.php"), {.timeout_ms = 10000});
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "ok");
}

// The limit applies to each request on its own: three requests burning 0.6 s of CPU
// each pass a 1 s limit (they would not if the time added up across requests).
TEST(PhpLimits, ExecutionTimeIsPerRequest) {
    TempDir root;
    root.write("burn.php", R"(<?php
        $until = hrtime(true) + 600000000;
        $n = 0;
        while (hrtime(true) < $until) { $n++; }
        echo "burned";)");
    Server server(root.path(), one_worker({"-d", "max_execution_time=1"}));
    server.allow_error("Maximum execution time");
    for (int i = 0; i < 3; ++i) {
        auto r = request(server.url("/burn.php"), {.timeout_ms = 10000});
        EXPECT_EQ(r.status, 200) << "request " << i << ": " << r.body;
        EXPECT_EQ(r.body, "burned");
    }
}

TEST(PhpLimits, MemoryLimitIs500AndServerSurvives) {
    TempDir root;
    root.write("hog.php",
               R"(<?php echo "start"; $s = str_repeat("x", 64 * 1024 * 1024); echo strlen($s);)");
    root.write(
        "ok.php",
        R"(<?php echo ini_get('memory_limit'), ";", strlen(str_repeat("y", 4 * 1024 * 1024));)");
    Server server(root.path(), one_worker({"-d", "memory_limit=16M"}));
    server.allow_error("Allowed memory size of 16777216 bytes exhausted");
    auto r = get(server.url("/hog.php"));
    EXPECT_EQ(r.status, 500);
    EXPECT_TRUE(server.wait_for_log("Allowed memory size of 16777216 bytes exhausted"))
        << server.log();
    for (int i = 0; i < 2; ++i) {
        r = get(server.url("/ok.php"));
        EXPECT_EQ(r.status, 200);
        EXPECT_EQ(r.body, "16M;4194304");
    }
}

}  // namespace
}  // namespace askr::test::php
