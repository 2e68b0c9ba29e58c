// The Symfony Runtime example (examples/symfony-runtime: Debian's php-symfony-* 5.4
// HttpKernel, Routing, EventDispatcher, Runtime). One unchanged front controller: classic
// mode boots the kernel per request; as a worker script (--worker public/index.php) the
// Askr runtime boots it once and loops on askr_handle_request(), resetting the app's
// per-request service after each request; with --cow the kernel is built in the zygote.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "php_support.hpp"

namespace askr::test::php {
namespace {

using nlohmann::json;

const std::string app_root = std::string(ASKR_SOURCE_DIR) + "/examples/symfony-runtime/public";
const std::string front_controller = app_root + "/index.php";

json state_of(const Server& server) {
    auto r = get(server.url("/state?probe=1"));
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body, nullptr, false);
}

TEST(SymfonyRuntimeExample, ClassicModeBootsPerRequest) {
    Server server(app_root);
    auto hello = get(server.url("/hello/ada"));
    ASSERT_EQ(hello.status, 200) << hello.body;
    EXPECT_NE(hello.body.find("<h1>Hello, ada!</h1>"), std::string::npos) << hello.body;
    EXPECT_NE(hello.body.find("prod environment, classic mode"), std::string::npos) << hello.body;
    for (int i = 0; i < 2; ++i) EXPECT_EQ(state_of(server)["handled"], 1);
    auto missing = get(server.url("/nope"));
    EXPECT_EQ(missing.status, 404);
    EXPECT_EQ(missing.body, "<h1>404</h1>\n");
}

TEST(SymfonyRuntimeExample, WorkerModeBootsOnceAndResetsServices) {
    Server server(app_root, one_worker({"--worker", front_controller}));
    auto hello = get(server.url("/hello/ada"));
    ASSERT_EQ(hello.status, 200) << hello.body << server.log();
    EXPECT_NE(hello.body.find("prod environment, worker mode"), std::string::npos) << hello.body;
    const json a = state_of(server);
    const json b = state_of(server);
    ASSERT_TRUE(a.is_object() && b.is_object()) << server.log();
    EXPECT_EQ(a["handled"], 2);
    EXPECT_EQ(b["handled"], 3) << "the kernel booted once and served every request";
    EXPECT_EQ(a["pid"], b["pid"]);
    EXPECT_EQ(b["visits"], json::array({"state"})) << "the previous requests' visits were reset";
    EXPECT_EQ(b["request_stack"], true);
    EXPECT_EQ(b["runtime_mode"], "web=1&worker=1");
    EXPECT_EQ(b["query"], json({{"probe", "1"}}));
    EXPECT_EQ(get(server.url("/nope")).status, 404);
    EXPECT_EQ(state_of(server)["handled"], 5);
}

TEST(SymfonyRuntimeExample, CowBuildsTheKernelInTheZygote) {
    Server server(app_root, {"--workers", "2", "--worker", front_controller, "--cow"});
    const json s = state_of(server);
    ASSERT_TRUE(s.is_object()) << server.log();
    EXPECT_NE(s["boot_pid"], std::to_string(s["pid"].get<int>())) << s.dump();
    EXPECT_EQ(s["visits"], json::array({"state"}));
}

}  // namespace
}  // namespace askr::test::php
