// What PHP sees of the environment: as php-fpm's clear_env, a clean environment with only
// what [php] env and [php] pass_env give it; never the server's own secrets or ASKR_*
// settings; and getenv() answers the request's CGI variables, as under fpm and mod_php.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "harness.hpp"

namespace askr::test {
namespace {

using nlohmann::json;

// Everything a script can read of the environment, as JSON.
constexpr const char* probe = R"PHP(<?php
ob_start();
phpinfo(INFO_ENVIRONMENT | INFO_VARIABLES);
$info = ob_get_clean();
header('Content-Type: application/json');
echo json_encode([
    'token' => getenv('ASKR_ADMIN_TOKEN'),
    'secret' => getenv('SERVER_ONLY_SECRET'),
    'passed' => getenv('PASSED_THROUGH'),
    'app_env' => getenv('APP_ENV'),
    'path' => getenv('PATH'),
    'remote_addr' => getenv('REMOTE_ADDR'),
    'http_host' => getenv('HTTP_HOST'),
    'request_method' => getenv('REQUEST_METHOD'),
    'all' => getenv(),
    'env' => $_ENV,
    'phpinfo_has_secret' => str_contains($info, 'hunter2') || str_contains($info, 'topsecret'),
]);
)PHP";

constexpr const char* worker_script = R"PHP(<?php
$boot_secret = getenv('SERVER_ONLY_SECRET');
while (askr_handle_request(function () use ($boot_secret) {
    if (($_GET['op'] ?? '') === 'boot') {
        echo json_encode(['boot_secret' => $boot_secret]);
        return;
    }
    require __DIR__ . '/probe.php';
})) {}
)PHP";

const std::vector<std::pair<std::string, std::string>> server_environment = {
    {"ASKR_ADMIN_TOKEN", "hunter2hunter2hunter2"},
    {"SERVER_ONLY_SECRET", "topsecret"},
    {"PASSED_THROUGH", "visible"},
};

void expect_clean_environment(const Server& server) {
    const Response response = get(server.url("/probe.php"));
    ASSERT_EQ(response.status, 200) << response.body;
    const json seen = json::parse(response.body, nullptr, false);
    ASSERT_TRUE(seen.is_object()) << response.body;
    EXPECT_EQ(seen["token"], false) << "the admin token must never reach PHP";
    EXPECT_EQ(seen["secret"], false) << "a variable not passed on stays the server's";
    EXPECT_EQ(seen["passed"], "visible") << "[php] pass_env";
    EXPECT_EQ(seen["app_env"], "production") << "[php] env";
    EXPECT_TRUE(seen["path"].is_string()) << "PATH is passed on by default";
    EXPECT_EQ(seen["remote_addr"], "127.0.0.1") << "getenv() answers CGI variables";
    EXPECT_EQ(seen["http_host"], "127.0.0.1:" + std::to_string(server.port()));
    EXPECT_EQ(seen["request_method"], "GET");
    for (const auto& [name, value] : seen["all"].items()) {
        EXPECT_FALSE(name.starts_with("ASKR_")) << name;
        EXPECT_NE(name, "SERVER_ONLY_SECRET");
    }
    for (const auto& [name, value] : seen["env"].items()) EXPECT_FALSE(name.starts_with("ASKR_"));
    EXPECT_EQ(seen["phpinfo_has_secret"], false) << "phpinfo() shows no secret";
}

TEST(PhpEnvironment, ClassicScriptsSeeACleanEnvironment) {
    TempDir root;
    root.write("probe.php", probe);
    Server server(root.path(),
                  {"--php-env", "APP_ENV=production", "--php-pass-env", "PATH", "--php-pass-env",
                   "PASSED_THROUGH", "-d", "variables_order=EGPCS"},
                  server_environment);
    expect_clean_environment(server);
}

TEST(PhpEnvironment, WorkerScriptsSeeACleanEnvironmentFromBootOn) {
    TempDir root;
    root.write("probe.php", probe);
    root.write("worker.php", worker_script);
    Server server(root.path(),
                  {"--worker", root.path() + "/worker.php", "--php-env", "APP_ENV=production",
                   "--php-pass-env", "PATH", "--php-pass-env", "PASSED_THROUGH", "-d",
                   "variables_order=EGPCS"},
                  server_environment);
    expect_clean_environment(server);
    const Response boot = get(server.url("/?op=boot"));
    EXPECT_EQ(json::parse(boot.body, nullptr, false)["boot_secret"], false) << boot.body;
}

// Askr's own settings are never handed to PHP, even when asked for.
TEST(PhpEnvironment, PassingAskrVariablesIsAConfigurationError) {
    TempDir root;
    root.write("index.php", "<?php echo 1;");
    const std::string output =
        command_output(std::string(ASKR_BINARY) + " serve --root " + root.path() +
                       " --listen 127.0.0.1:0 --php-pass-env "
                       "ASKR_ADMIN_TOKEN 2>&1; echo exit=$?");
    EXPECT_NE(output.find("--php-pass-env ASKR_ADMIN_TOKEN"), std::string::npos) << output;
    EXPECT_NE(output.find("never passed to PHP"), std::string::npos) << output;
    EXPECT_NE(output.find("exit=2"), std::string::npos) << output;
}

}  // namespace
}  // namespace askr::test
