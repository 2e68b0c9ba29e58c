// Worker mode: the worker script boots once per worker process and loops on
// askr_handle_request(). Each bleed the issue lists (status, headers, cookies,
// superglobals, php://input, uploaded temp files, session, output buffers,
// max_execution_time, memory limit) is a request sequence through ONE worker
// (--workers 1): request 1 leaves something behind, request 2 must not see it. Beside
// them: the state that must persist does (the point of worker mode), fatal error /
// uncaught exception / exit() recovery, boot failure with a growing delay and no spin,
// FrankenPHP worker scripts with and without --frankenphp-compat, static files without
// PHP, --max-requests and SIGTERM ending the script cleanly, and flat RSS.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "harness.hpp"
#include "php_support.hpp"

namespace askr::test::php {
namespace {

using nlohmann::json;

// One worker script for the bleed tests. `?op=` picks what a request does; the default
// (`dump`) reports everything a request can observe, as JSON. $count and $boot live in
// the script's scope: they persist across requests and restart with the script.
constexpr const char* kWorkerScript = R"PHP(<?php
ignore_user_abort(true);
$boot = bin2hex(random_bytes(6));
$count = 0;
$dir = __DIR__;

function cpu_seconds(): float {
    $u = getrusage();
    return $u['ru_utime.tv_sec'] + $u['ru_utime.tv_usec'] / 1e6 + $u['ru_stime.tv_sec'] + $u['ru_stime.tv_usec'] / 1e6;
}

$handler = function () use (&$count, $boot) {
    ++$count;
    switch ($_GET['op'] ?? 'dump') {
        case 'status404':
            http_response_code(404);
            echo 'not found here';
            return;
        case 'header':
            header('X-A: 1');
            echo 'header set';
            return;
        case 'cookie':
            setcookie('bleed', 'yes');
            echo 'cookie set';
            return;
        case 'ob_open':
            ob_start();
            echo 'LEFT-OPEN';
            return;
        case 'ob_swallow':
            ob_start(function ($buffer) { return ''; });
            echo 'SWALLOWED';
            return;
        case 'upload':
            $f = $_FILES['f'] ?? [];
            echo json_encode(['tmp' => $f['tmp_name'] ?? '', 'exists' => isset($f['tmp_name']) && is_file($f['tmp_name']),
                              'content' => isset($f['tmp_name']) ? file_get_contents($f['tmp_name']) : null]);
            return;
        case 'session':
            session_start();
            if (isset($_GET['set'])) $_SESSION['v'] = $_GET['set'];
            echo json_encode(['id' => session_id(), 'session' => $_SESSION]);
            return;
        case 'burn':  // CPU time, not wall time: the limit counts CPU
            $until = cpu_seconds() + (int)$_GET['ms'] / 1000;
            while (cpu_seconds() < $until) {}
            echo 'burnt';
            return;
        case 'alloc':
            $s = str_repeat('x', (int)$_GET['mb'] << 20);
            echo strlen($s);
            return;
        case 'fatal':
            undefined_function_w4711();
            return;
        case 'throw':
            throw new RuntimeException('worker-boom-4711');
        case 'exit':
            http_response_code(203);
            exit('partial');
        case 'sleep':
            usleep((int)$_GET['ms'] * 1000);
            echo 'slept';
            return;
    }
    $http = array_filter($_SERVER, fn ($k) => str_starts_with($k, 'HTTP_X_'), ARRAY_FILTER_USE_KEY);
    ksort($http);
    echo json_encode([
        'status' => http_response_code(),
        'headers' => headers_list(),
        'get' => $_GET, 'post' => $_POST, 'request' => $_REQUEST, 'cookie' => $_COOKIE, 'files' => $_FILES,
        'uri' => $_SERVER['REQUEST_URI'] ?? null, 'method' => $_SERVER['REQUEST_METHOD'] ?? null,
        'http' => (object)$http,
        'input' => file_get_contents('php://input'),
        'ob' => ob_get_level(),
        'session_status' => session_status(), 'session_var' => isset($_SESSION),
        'count' => $count, 'boot' => $boot, 'pid' => getmypid(),
        'worker' => $_SERVER['ASKR_WORKER'] ?? null,
    ]);
};
while (askr_handle_request($handler)) {
}
file_put_contents("$dir/ended.txt", "ended after $count\n", FILE_APPEND);
)PHP";

// Writes the worker script, and an index.php as a trap: in worker mode the worker script
// is the front controller, so if a request ran index.php classically the test sees 599.
// (Without any index.php: WorkerMode.EveryDynamicPathReachesTheWorkerWithoutIndexPhp.)
std::string write_worker(const TempDir& root, const std::string& script = kWorkerScript) {
    root.write(
        "index.php",
        "<?php http_response_code(599); echo 'classic index.php ran instead of the worker';");
    return root.write("worker.php", script);
}

std::vector<std::string> worker_args(const TempDir& root, std::vector<std::string> more = {}) {
    std::vector<std::string> args{"--worker", root.path() + "/worker.php", "--workers", "1"};
    args.insert(args.end(), more.begin(), more.end());
    return args;
}

json parse(const Response& r) {
    json j = json::parse(r.body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        ADD_FAILURE() << "not a JSON object (status " << r.status << " " << r.error << "): ["
                      << r.body << "]";
        return json::object();
    }
    return j;
}

json dump(const Server& server, const std::string& path = "/dump",
          const RequestOptions& options = {}) {
    auto r = request(server.url(path), options);
    EXPECT_EQ(r.status, 200) << r.error << " " << r.body;
    return parse(r);
}

bool has_line_starting(const json& list, const std::string& prefix) {
    for (const auto& h : list) {
        if (h.is_string() && h.get<std::string>().rfind(prefix, 0) == 0) return true;
    }
    return false;
}

// VmRSS of a process in kB (0 when unreadable).
long rss_kb(pid_t pid) {
    const std::string status = slurp("/proc/" + std::to_string(pid) + "/status");
    const auto at = status.find("VmRSS:");
    return at == std::string::npos ? 0 : std::stol(status.substr(at + 6));
}

// utime + stime of a process in seconds.
double cpu_seconds(pid_t pid) {
    const std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
    const auto close = stat.rfind(')');
    if (close == std::string::npos) return 0;
    std::istringstream fields(stat.substr(close + 2));
    std::string skip;
    for (int i = 0; i < 11; ++i) fields >> skip;  // state .. cmajflt (fields 3-13)
    long utime = 0, stime = 0;
    fields >> utime >> stime;
    return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double group_cpu_seconds(pid_t group) {
    double total = 0;
    for (pid_t p : process_group_members(group)) total += cpu_seconds(p);
    return total;
}

// ---------------------------------------------------------------------------------------
// What must persist, and the basics.

TEST(WorkerMode, ScriptStatePersistsAcrossRequestsAndAskrWorkerIsSet) {
    TempDir root;
    write_worker(root);
    Server server(root.path(), worker_args(root));
    auto first = dump(server);
    auto second = dump(server, "/again");
    auto third = dump(server, "/");
    EXPECT_EQ(first["worker"], "1");
    EXPECT_EQ(first["count"], 1);
    EXPECT_EQ(second["count"], 2) << "a variable of the worker script must keep its value";
    EXPECT_EQ(third["count"], 3);
    EXPECT_EQ(first["boot"], third["boot"]) << "the script booted again";
    EXPECT_EQ(first["pid"], third["pid"]);
}

// opcache serves a worker's code as it serves a classic request's: the worker script and
// what it includes, per request (a Blade view, a template) are cached, and an include is a
// hit, not a fresh compile. The files are dated an hour back: opcache caches no file
// modified less than file_update_protection (2 s) before the request started.
TEST(WorkerMode, OpcacheCachesTheWorkerScriptAndWhatItIncludes) {
    TempDir root;
    root.write("view.php", "<?php return 'rendered';\n");
    root.write("worker.php", R"PHP(<?php
while (askr_handle_request(function () {
    $view = include __DIR__ . '/view.php';
    $s = opcache_get_status(false);
    echo json_encode([
        'view' => $view,
        'worker_cached' => opcache_is_script_cached(__FILE__),
        'view_cached' => opcache_is_script_cached(__DIR__ . '/view.php'),
        'hits' => $s['opcache_statistics']['hits'],
    ]);
})) {}
)PHP");
    const auto an_hour_ago = std::filesystem::file_time_type::clock::now() - std::chrono::hours(1);
    for (const char* name : {"view.php", "worker.php"})
        std::filesystem::last_write_time(root.path() + "/" + name, an_hour_ago);
    Server server(root.path(), worker_args(root));
    json first = parse(get(server.url("/")));
    json later;
    for (int i = 0; i < 3; ++i) later = parse(get(server.url("/")));
    EXPECT_EQ(first["view"], "rendered");
    EXPECT_EQ(later["worker_cached"], true) << "the worker script is not in opcache";
    EXPECT_EQ(later["view_cached"], true) << "a file the worker includes is not in opcache";
    EXPECT_GE(later["hits"].get<int>(), first["hits"].get<int>() + 3)
        << "each include should be an opcache hit";
}

// The documented layout (docs/worker-mode.md: `--root public --worker public/worker.php`)
// has no index.php: every request that is not a static file is the worker's.
TEST(WorkerMode, EveryDynamicPathReachesTheWorkerWithoutIndexPhp) {
    TempDir root;
    root.write("worker.php", kWorkerScript);
    Server server(root.path(), worker_args(root));
    for (const std::string path : {"/", "/some/route?a=1", "/worker.php"}) {
        auto r = get(server.url(path));
        EXPECT_EQ(r.status, 200) << path << ": " << r.body.substr(0, 200);
        if (r.status == 200) {
            EXPECT_EQ(parse(r)["worker"], "1") << path;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Bleeds: request 1 leaves something behind, request 2 must not see it.

TEST(WorkerMode, StatusCodeDoesNotBleed) {
    TempDir root;
    write_worker(root);
    Server server(root.path(), worker_args(root));
    auto r = get(server.url("/x?op=status404"));
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(r.body, "not found here");
    auto next = request(server.url("/x"));
    EXPECT_EQ(next.status, 200);
    EXPECT_EQ(parse(next)["status"], 200) << "http_response_code() inside request 2";
}

TEST(WorkerMode, HeadersDoNotBleed) {
    TempDir root;
    write_worker(root);
    Server server(root.path(), worker_args(root));
    auto r = get(server.url("/x?op=header"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("x-a"), "1");
    auto next = get(server.url("/x"));
    EXPECT_EQ(next.status, 200);
    EXPECT_FALSE(next.has_header("x-a")) << "request 1's header sent again";
    auto j = parse(next);
    EXPECT_FALSE(has_line_starting(j["headers"], "X-A")) << j["headers"].dump();
}

TEST(WorkerMode, CookiesDoNotBleed) {
    TempDir root;
    write_worker(root);
    Server server(root.path(), worker_args(root));
    auto r = request(server.url("/x?op=cookie"), {.headers = {"Cookie: first=1"}});
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("set-cookie"), "bleed=yes");
    auto next = request(server.url("/x"), {.headers = {"Cookie: second=2"}});
    EXPECT_EQ(next.status, 200);
    EXPECT_FALSE(next.has_header("set-cookie")) << next.header("set-cookie");
    auto j = parse(next);
    EXPECT_FALSE(has_line_starting(j["headers"], "Set-Cookie")) << j["headers"].dump();
    EXPECT_EQ(j["cookie"], json({{"second", "2"}}))
        << "$_COOKIE of request 2 only has request 2's cookies";
    auto none = parse(get(server.url("/x")));
    EXPECT_EQ(none["cookie"], json::array()) << "a request without cookies sees an empty $_COOKIE";
}

TEST(WorkerMode, SuperglobalsAreTheCurrentRequests) {
    TempDir root;
    write_worker(root);
    Server server(root.path(), worker_args(root));
    auto first = dump(server, "/first?x=1",
                      {.method = "POST",
                       .body = "p=2",
                       .headers = {"Content-Type: application/x-www-form-urlencoded", "X-One: one",
                                   "Cookie: c1=v1"}});
    EXPECT_EQ(first["method"], "POST");
    EXPECT_EQ(first["get"], json({{"x", "1"}}));
    EXPECT_EQ(first["post"], json({{"p", "2"}}));
    EXPECT_EQ(first["request"], json({{"x", "1"}, {"p", "2"}}));
    EXPECT_EQ(first["uri"], "/first?x=1");
    EXPECT_EQ(first["http"], json({{"HTTP_X_ONE", "one"}}));
    EXPECT_EQ(first["cookie"], json({{"c1", "v1"}}));

    auto second = dump(server, "/second?y=3", {.headers = {"X-Two: two", "Cookie: c2=v2"}});
    EXPECT_EQ(second["method"], "GET") << "stale $_SERVER: request 1 was a POST";
    EXPECT_EQ(second["get"], json({{"y", "3"}}));
    EXPECT_EQ(second["post"], json::array());
    EXPECT_EQ(second["request"], json({{"y", "3"}}));
    EXPECT_EQ(second["uri"], "/second?y=3");
    EXPECT_EQ(second["http"], json({{"HTTP_X_TWO", "two"}})) << "X-One of request 1 must be gone";
    EXPECT_EQ(second["cookie"], json({{"c2", "v2"}}));
    EXPECT_EQ(second["files"], json::array());
}

TEST(WorkerMode, PhpInputIsTheCurrentRequests) {
    TempDir root;
    write_worker(root);
    Server server(root.path(), worker_args(root));
    auto first = dump(server, "/in",
                      {.method = "POST",
                       .body = "raw-body-one",
                       .headers = {"Content-Type: application/octet-stream"}});
    EXPECT_EQ(first["input"], "raw-body-one");
    auto second = dump(server, "/in");
    EXPECT_EQ(second["input"], "") << "a request without a body reads php://input as empty";
    auto third = dump(server, "/in",
                      {.method = "PUT", .body = "two", .headers = {"Content-Type: text/plain"}});
    EXPECT_EQ(third["input"], "two");
}

TEST(WorkerMode, UploadedTempFilesAreRemovedAndFilesDoNotBleed) {
    TempDir root;
    write_worker(root);
    const std::string upload = root.write("data/upload.txt", "upload-content-4711");
    Server server(root.path(), worker_args(root));
    auto r = request(server.url("/up?op=upload"),
                     {.method = "POST", .multipart = {{"f", "@" + upload}}});
    ASSERT_EQ(r.status, 200) << r.body;
    auto j = parse(r);
    ASSERT_TRUE(j["tmp"].is_string() && !j["tmp"].get<std::string>().empty()) << r.body;
    EXPECT_EQ(j["exists"], true);
    EXPECT_EQ(j["content"], "upload-content-4711");
    const std::string tmp = j["tmp"];
    // The temp file is deleted when the request ends, before its response is complete.
    bool gone = !std::filesystem::exists(tmp);
    for (int i = 0; i < 50 && !gone; ++i) {
        std::this_thread::sleep_for(20ms);
        gone = !std::filesystem::exists(tmp);
    }
    EXPECT_TRUE(gone) << tmp << " is still there after the request";
    auto next = dump(server, "/up");
    EXPECT_EQ(next["files"], json::array()) << "request 2 sees request 1's upload";
    EXPECT_EQ(next["post"], json::array());
}

TEST(WorkerMode, SessionsWorkEveryRequestAndStayWithTheirClient) {
    TempDir root;
    write_worker(root);
    root.mkdir("sessions");
    Server server(root.path(),
                  worker_args(root, {"-d", "session.save_path=" + root.path() + "/sessions"}));
    auto a1 = request(server.url("/s?op=session&set=alpha"));
    ASSERT_EQ(a1.status, 200) << a1.body;
    auto ja1 = parse(a1);
    const std::string id_a = ja1["id"].is_string() ? ja1["id"].get<std::string>() : "";
    ASSERT_FALSE(id_a.empty());
    EXPECT_EQ(ja1["session"], json({{"v", "alpha"}}));
    EXPECT_NE(a1.header("set-cookie").find("PHPSESSID=" + id_a), std::string::npos)
        << a1.header("set-cookie");

    // Client B, no cookie: a new, empty session (session_start() works again).
    auto b1 = request(server.url("/s?op=session"));
    ASSERT_EQ(b1.status, 200) << b1.body;
    auto jb1 = parse(b1);
    EXPECT_NE(jb1["id"], id_a) << "client B got client A's session";
    EXPECT_EQ(jb1["session"], json::array()) << "client B sees client A's data";

    // A plain request after session requests: no session open, no $_SESSION left.
    auto plain = dump(server, "/s");
    EXPECT_EQ(plain["session_status"], 1) << "PHP_SESSION_NONE expected";
    EXPECT_EQ(plain["session_var"], false) << "$_SESSION of the previous request is still set";

    // B writes its own data; A, with its cookie, still has exactly its own.
    auto b2 = request(server.url("/s?op=session&set=beta"),
                      {.headers = {"Cookie: PHPSESSID=" + jb1["id"].get<std::string>()}});
    EXPECT_EQ(parse(b2)["session"], json({{"v", "beta"}}));
    auto a2 = request(server.url("/s?op=session"), {.headers = {"Cookie: PHPSESSID=" + id_a}});
    ASSERT_EQ(a2.status, 200) << a2.body;
    auto ja2 = parse(a2);
    EXPECT_EQ(ja2["id"], id_a);
    EXPECT_EQ(ja2["session"], json({{"v", "alpha"}})) << "A's data did not persist for A";
}

TEST(WorkerMode, OutputBuffersLeftOpenDoNotReachTheNextRequest) {
    TempDir root;
    write_worker(root);
    Server server(root.path(), worker_args(root));
    auto baseline = dump(server, "/ob");
    auto open = get(server.url("/ob?op=ob_open"));
    EXPECT_EQ(open.status, 200);
    EXPECT_EQ(open.body, "LEFT-OPEN") << "a buffer left open is flushed at the end of its request";
    auto after_open = get(server.url("/ob"));
    EXPECT_EQ(after_open.status, 200);
    EXPECT_EQ(after_open.body.substr(0, 1), "{")
        << "request 2 prefixed: " << after_open.body.substr(0, 80);
    EXPECT_EQ(parse(after_open)["ob"], baseline["ob"]) << "ob_get_level() grew across requests";

    auto swallow = get(server.url("/ob?op=ob_swallow"));
    EXPECT_EQ(swallow.status, 200);
    EXPECT_EQ(swallow.body, "");
    auto after_swallow = get(server.url("/ob"));
    EXPECT_EQ(after_swallow.status, 200);
    EXPECT_FALSE(after_swallow.body.empty())
        << "request 1's swallowing buffer ate request 2's output";
    EXPECT_EQ(parse(after_swallow)["ob"], baseline["ob"]);
}

TEST(WorkerMode, MaxExecutionTimeCountsPerRequest) {
    TempDir root;
    write_worker(root);
    Server server(root.path(), worker_args(root, {"-d", "max_execution_time=1"}));
    server.allow_error("Maximum execution time of 1 second exceeded");
    // 3 x 0.6 s of CPU: over the limit if it counted across requests.
    for (int i = 0; i < 3; ++i) {
        auto r = request(server.url("/t?op=burn&ms=600"), {.timeout_ms = 8000});
        EXPECT_EQ(r.status, 200) << "request " << i + 1 << ": " << r.error << r.body.substr(0, 200);
        EXPECT_EQ(r.body, "burnt");
    }
    // Not stopped by the 1 s limit, it would answer 200 "burnt".
    auto over = request(server.url("/t?op=burn&ms=2000"), {.timeout_ms = 8000});
    EXPECT_EQ(over.status, 500) << over.error << over.body.substr(0, 200);
    EXPECT_TRUE(server.wait_for_log("Maximum execution time of 1 second exceeded")) << server.log();
    auto next = request(server.url("/t"));
    EXPECT_EQ(next.status, 200) << next.error;
}

TEST(WorkerMode, MemoryLimitHoldsPerRequestAndRecovers) {
    TempDir root;
    write_worker(root);
    Server server(root.path(), worker_args(root, {"-d", "memory_limit=32M"}));
    server.allow_error("Allowed memory size");
    auto ok = get(server.url("/m?op=alloc&mb=16"));
    EXPECT_EQ(ok.status, 200);
    EXPECT_EQ(ok.body, "16777216");
    auto over = get(server.url("/m?op=alloc&mb=64"));
    EXPECT_EQ(over.status, 500) << over.body.substr(0, 200);
    EXPECT_TRUE(server.wait_for_log("Allowed memory size of 33554432 bytes exhausted"))
        << server.log();
    auto again = get(server.url("/m?op=alloc&mb=16"));
    EXPECT_EQ(again.status, 200) << again.body.substr(0, 200);
    EXPECT_EQ(again.body, "16777216");
    auto plain = dump(server, "/m");
    EXPECT_EQ(plain["worker"], "1");
}

// ---------------------------------------------------------------------------------------
// Failures inside the handler: that request fails, the script restarts, the worker serves.

TEST(WorkerMode, FatalErrorIs500AndTheScriptRestarts) {
    TempDir root;
    write_worker(root);
    Server server(root.path(), worker_args(root));
    server.allow_error("undefined_function_w4711");
    auto before1 = dump(server);
    auto before2 = dump(server);
    EXPECT_EQ(before2["count"], 2);
    auto r = get(server.url("/f?op=fatal"));
    EXPECT_EQ(r.status, 500);
    EXPECT_TRUE(server.wait_for_log("undefined_function_w4711")) << server.log();
    auto after = dump(server);
    EXPECT_EQ(after["count"], 1) << "the counter did not restart: the script was not started again";
    EXPECT_NE(after["boot"], before2["boot"]);
    EXPECT_EQ(after["pid"], before2["pid"]) << "the script restarts inside the same worker process";
    EXPECT_EQ(dump(server)["count"], 2) << "the restarted script serves on";
}

TEST(WorkerMode, UncaughtExceptionIs500AndTheWorkerRecovers) {
    TempDir root;
    write_worker(root);
    Server server(root.path(), worker_args(root));
    server.allow_error("worker-boom-4711");
    auto before = dump(server);
    auto r = get(server.url("/e?op=throw"));
    EXPECT_EQ(r.status, 500);
    EXPECT_EQ(r.body.find("worker-boom-4711"), std::string::npos)
        << "details shown without display_errors";
    EXPECT_TRUE(server.wait_for_log("worker-boom-4711")) << server.log();
    auto after = dump(server);
    EXPECT_EQ(after["count"], 1);
    EXPECT_NE(after["boot"], before["boot"]);
    EXPECT_EQ(dump(server)["count"], 2);
}

TEST(WorkerMode, ExitSendsWhatWasSentAndTheScriptRestarts) {
    TempDir root;
    write_worker(root);
    Server server(root.path(), worker_args(root));
    auto before = dump(server);
    dump(server);
    auto r = get(server.url("/x?op=exit"));
    EXPECT_EQ(r.status, 203);
    EXPECT_EQ(r.body, "partial");
    auto after = dump(server);
    EXPECT_EQ(after["status"], 200);
    EXPECT_EQ(after["count"], 1) << "exit() ends the worker script: it starts again";
    EXPECT_NE(after["boot"], before["boot"]);
    EXPECT_EQ(server.log().find("[error]"), std::string::npos) << "exit() is not an error:\n"
                                                               << server.log();
}

// A script that cannot boot: restarted with a growing delay, the error in the log each
// time, and no spinning (the two servers run side by side to share the 3.5 s wait).
TEST(WorkerMode, BootFailureRestartsWithGrowingDelayWithoutSpinning) {
    TempDir syntax_root, throw_root;
    write_worker(syntax_root, "<?php\n$x = ;\nwhile (askr_handle_request(function () {})) {}\n");
    write_worker(throw_root, "<?php\nthrow new RuntimeException('boot-failure-4711');\n");
    const std::vector<std::string> fast_stop{"--shutdown-timeout", "3"};
    Server syntax(syntax_root.path(), worker_args(syntax_root, fast_stop));
    Server thrower(throw_root.path(), worker_args(throw_root, fast_stop));
    for (Server* s : {&syntax, &thrower}) {
        s->allow_error("ended before serving a request; restarting in");
        s->allow_error("syntax error");
        s->allow_error("boot-failure-4711");
    }
    std::this_thread::sleep_for(500ms);  // past the start of the worker process
    const double cpu_syntax = group_cpu_seconds(syntax.pid());
    const double cpu_thrower = group_cpu_seconds(thrower.pid());
    std::this_thread::sleep_for(3000ms);
    const double spent_syntax = group_cpu_seconds(syntax.pid()) - cpu_syntax;
    const double spent_thrower = group_cpu_seconds(thrower.pid()) - cpu_thrower;
    std::printf("[ INFO     ] CPU over 3 s: syntax error %.2f s, throw at boot %.2f s\n",
                spent_syntax, spent_thrower);
    EXPECT_LT(spent_syntax, 0.5) << "the worker spins on a syntax error";
    EXPECT_LT(spent_thrower, 0.5) << "the worker spins on a boot exception";

    const std::regex restart_line(
        R"(\[error\] worker script \S*worker\.php ended before serving a request; restarting in (\d+) ms)");
    for (auto [server, cause] :
         {std::pair{&syntax, "syntax error"}, std::pair{&thrower, "boot-failure-4711"}}) {
        const std::string log = server->log();
        EXPECT_NE(log.find(cause), std::string::npos) << "the cause is not in the log:\n" << log;
        std::vector<long> delays;
        for (auto it = std::sregex_iterator(log.begin(), log.end(), restart_line);
             it != std::sregex_iterator(); ++it)
            delays.push_back(std::stol((*it)[1]));
        EXPECT_GE(delays.size(), 3u) << cause << ":\n" << log;
        EXPECT_LE(delays.size(), 8u) << cause << ": too many restarts in 3.5 s:\n" << log;
        for (std::size_t i = 1; i < delays.size(); ++i)
            EXPECT_GT(delays[i], delays[i - 1]) << cause << ": the delay does not grow:\n" << log;
        if (!delays.empty()) {
            EXPECT_GE(delays[0], 50) << cause;
        }
    }
    // A worker that never booted still stops promptly (both stopped at once; the
    // explicit time check below says more than the harness's "killing them" error would).
    std::vector<std::thread> stoppers;
    for (Server* s : {&syntax, &thrower}) {
        s->allow_error("still running after the shutdown timeout");
        stoppers.emplace_back([s] {
            const auto start = Clock::now();
            EXPECT_EQ(s->stop(SIGTERM, 15s), 0);
            const auto took =
                std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
            EXPECT_LT(took, 2500) << "stopping a server whose worker script cannot boot took "
                                  << took << " ms:\n"
                                  << s->log();
        });
    }
    for (auto& t : stoppers) t.join();
}

// ---------------------------------------------------------------------------------------
// FrankenPHP worker scripts, written the way Symfony Runtime's FrankenPhpWorkerRunner and
// Laravel Octane's frankenphp-worker.php are (loop max, gc between requests, $_SERVER
// snapshot merged into each request, frankenphp_finish_request()).

constexpr const char* kFrankenPhpScript = R"PHP(<?php
ignore_user_abort(true);
$server = array_filter($_SERVER, static fn (string $key) => !str_starts_with($key, 'HTTP_'), ARRAY_FILTER_USE_KEY);
$server['APP_RUNTIME_MODE'] = 'web=1&worker=1';
$booted = 0;
$count = 0;
$handler = static function () use ($server, &$count): void {
    $_SERVER += $server;
    ++$count;
    header('Content-Type: application/json');
    echo json_encode(['fw' => $_SERVER['FRANKENPHP_WORKER'] ?? null, 'askr' => $_SERVER['ASKR_WORKER'] ?? null,
                      'mode' => $_SERVER['APP_RUNTIME_MODE'], 'count' => $count, 'get' => $_GET,
                      'uri' => $_SERVER['REQUEST_URI']]);
    frankenphp_finish_request();
    $count += 0;  // terminate-style work after the response
};
$max = (int) ($_SERVER['FRANKENPHP_LOOP_MAX'] ?? $_SERVER['MAX_REQUESTS'] ?? 500);
for ($n = 0; $n < $max; ++$n) {
    $keep = \frankenphp_handle_request($handler);
    gc_collect_cycles();
    if (!$keep) break;
}
)PHP";

TEST(WorkerMode, FrankenPhpWorkerScriptRunsUnmodifiedWithCompat) {
    TempDir root;
    write_worker(root, kFrankenPhpScript);
    Server server(root.path(), worker_args(root, {"--frankenphp-compat"}));
    auto first = dump(server, "/fp?a=1");
    auto second = dump(server, "/other/route?b=2");
    EXPECT_EQ(first["fw"], "1");
    EXPECT_EQ(first["askr"], "1");
    EXPECT_EQ(first["mode"], "web=1&worker=1");
    EXPECT_EQ(first["get"], json({{"a", "1"}}));
    EXPECT_EQ(second["get"], json({{"b", "2"}}));
    EXPECT_EQ(second["uri"], "/other/route?b=2");
    EXPECT_EQ(first["count"], 1);
    EXPECT_EQ(second["count"], 2);
}

TEST(WorkerMode, FrankenPhpWorkerScriptFailsWithoutCompat) {
    TempDir root;
    write_worker(root, kFrankenPhpScript);
    Server server(root.path(), worker_args(root, {"--shutdown-timeout", "3"}));
    server.allow_error("frankenphp_handle_request");
    server.allow_error("ended before serving a request");
    auto r = request(server.url("/fp"), {.timeout_ms = 3000});
    EXPECT_NE(r.status, 200) << r.body;
    EXPECT_TRUE(server.wait_for_log("Call to undefined function frankenphp_handle_request()"))
        << server.log();
    // The client is told, not left waiting for a worker that cannot boot.
    EXPECT_TRUE(r.status == 500 || r.status == 503)
        << "status " << r.status << " (" << r.error << ")";
}

// ---------------------------------------------------------------------------------------
// Static files, recycling, shutdown, memory.

TEST(WorkerMode, StaticFilesAreServedWithoutPhp) {
    TempDir root;
    write_worker(root);
    root.write("assets/app.css", "body{color:red}\n");
    Server server(root.path(), worker_args(root));
    EXPECT_EQ(dump(server)["count"], 1);
    for (int i = 0; i < 3; ++i) {
        auto r = get(server.url("/assets/app.css"));
        EXPECT_EQ(r.status, 200);
        EXPECT_EQ(r.body, "body{color:red}\n");
        EXPECT_EQ(r.header("content-type"), "text/css");
    }
    EXPECT_EQ(dump(server)["count"], 2) << "a static request went through the worker script";
}

TEST(WorkerMode, MaxRequestsEndsTheScriptCleanlyAndRecycles) {
    TempDir root;
    write_worker(root);
    Server server(root.path(), worker_args(root, {"--max-requests", "3"}));
    auto first = dump(server);
    dump(server);
    auto third = dump(server);
    EXPECT_EQ(third["count"], 3);
    auto marker = wait_for_file(root.path() + "/ended.txt", 5s);
    ASSERT_TRUE(marker.has_value())
        << "askr_handle_request() did not return false at --max-requests:\n"
        << server.log();
    EXPECT_EQ(*marker, "ended after 3\n");
    auto fresh = dump(server);
    EXPECT_EQ(fresh["count"], 1);
    EXPECT_NE(fresh["pid"], first["pid"]) << "a recycled worker is a new process";
}

TEST(WorkerMode, SigtermDrainsTheRequestInFlightAndEndsTheScript) {
    TempDir root;
    write_worker(root);
    Server server(root.path(), worker_args(root));
    EXPECT_EQ(dump(server)["count"], 1);
    Response slow;
    std::thread client(
        [&] { slow = request(server.url("/slow?op=sleep&ms=1500"), {.timeout_ms = 10000}); });
    std::this_thread::sleep_for(400ms);  // the request is in the handler
    EXPECT_EQ(server.stop(SIGTERM), 0);
    client.join();
    EXPECT_EQ(slow.status, 200) << slow.error;
    EXPECT_EQ(slow.body, "slept");
    EXPECT_EQ(slurp(root.path() + "/ended.txt"), "ended after 2\n")
        << "the code after the loop did not run:\n"
        << server.log();
}

TEST(WorkerMode, RssIsFlatOver3000Requests) {
    TempDir root;
    write_worker(root);
    Server server(root.path(), worker_args(root));
    long rss_300 = 0;
    pid_t pid = 0;
    for (int i = 1; i <= 3000; ++i) {
        const std::string n = std::to_string(i);
        Response r = i % 10 == 0
                         ? request(server.url("/rss?i=" + n),
                                   {.method = "POST",
                                    .body = "field=" + n + "&other=" + std::string(200, 'v'),
                                    .headers = {"Content-Type: application/x-www-form-urlencoded",
                                                "Cookie: c=" + n, "X-Loop: " + n}})
                         : request(server.url("/rss?i=" + n),
                                   {.headers = {"Cookie: c=" + n, "X-Loop: " + n}});
        if (r.status != 200) {
            ADD_FAILURE() << "request " << i << ": " << r.status << " " << r.error;
            break;
        }
        if (i == 1) pid = parse(r)["pid"].get<pid_t>();
        if (i == 300) rss_300 = rss_kb(pid);
    }
    const long rss_3000 = rss_kb(pid);
    std::printf(
        "[ INFO     ] worker %d VmRSS after request 300: %ld kB, after request 3000: %ld kB (%+ld "
        "kB)\n",
        pid, rss_300, rss_3000, rss_3000 - rss_300);
    ASSERT_GT(rss_300, 0);
    EXPECT_LT(rss_3000 - rss_300, 2048) << "the worker grows";
    EXPECT_EQ(parse(get(server.url("/")))["count"], 3001) << "the script restarted during the run";
}

}  // namespace
}  // namespace askr::test::php
