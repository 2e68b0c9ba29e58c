// A request's life beyond the response: a client that hangs up is seen by the script
// (connection_aborted(), ignore_user_abort() as under php-fpm), and
// fastcgi_finish_request()/askr_finish_request() complete the response while the script
// goes on.
#include <gtest/gtest.h>

#include "harness.hpp"
#include "php_support.hpp"

namespace askr::test::php {
namespace {

// 50 steps of echo + flush + 100 ms, about 5 s in all; the shutdown function records how
// the script ended. MARKER is replaced by a path in the test's directory.
std::string abort_script(bool ignore_user_abort, const std::string& marker) {
    return R"(<?php
ignore_user_abort()" +
           std::string(ignore_user_abort ? "true" : "false") + R"();
$marker = ')" +
           marker + R"(';
register_shutdown_function(function () use ($marker) {
    file_put_contents($marker, connection_aborted() ? "aborted" : "not-aborted", FILE_APPEND);
});
while (ob_get_level()) ob_end_flush();
for ($i = 0; $i < 50; $i++) {
    echo "tick $i\n";
    flush();
    usleep(100000);
}
file_put_contents($marker, "completed;", FILE_APPEND);
)";
}

// Connects, reads the first chunk, hangs up.
void hang_up_after_first_chunk(std::uint16_t port) {
    RawClient client(port);
    ASSERT_TRUE(client.connected());
    client.send("GET /work.php HTTP/1.1\r\nHost: localhost\r\n\r\n");
    ASSERT_TRUE(client.read_until("tick 0", std::chrono::seconds(3))) << client.received();
    client.close();
}

TEST(PhpAbort, ClientDisconnectStopsScript) {
    TempDir root;
    const std::string marker = root.path() + "/marker.txt";
    root.write("work.php", abort_script(false, marker));
    root.write("ok.php", "<?php echo 'next';");
    Server server(root.path(), one_worker());
    const auto start = Clock::now();
    hang_up_after_first_chunk(server.port());
    auto content = wait_for_file(marker, std::chrono::seconds(4));
    ASSERT_TRUE(content.has_value())
        << "no marker: the script did not notice the hang-up within 4 s";
    const auto took =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    EXPECT_EQ(*content, "aborted");  // not "completed;": the loop was cut short
    EXPECT_LT(took, 3000);
    // The PHP thread is free again.
    auto r = get(server.url("/ok.php"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "next");
}

TEST(PhpAbort, IgnoreUserAbortRunsToTheEnd) {
    TempDir root;
    const std::string marker = root.path() + "/marker.txt";
    root.write("work.php", abort_script(true, marker));
    Server server(root.path(), one_worker());
    const auto start = Clock::now();
    hang_up_after_first_chunk(server.port());
    auto content = wait_for_file(marker, std::chrono::seconds(10));
    ASSERT_TRUE(content.has_value()) << "no marker within 10 s";
    const auto took =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    // It ran all 50 steps, and still knows the client went away (as php-fpm reports
    // connection_aborted() once a write to the gone client failed).
    EXPECT_EQ(*content, "completed;aborted");
    EXPECT_GE(took, 4500);
}

// The script finishes the response, then works on for a second and writes a marker.
void check_finish_request(const std::string& function) {
    TempDir root;
    const std::string marker = root.path() + "/after.txt";
    root.write("index.php", R"(<?php
        header('X-Early: yes');
        echo "response body";
        $r = )" + function + R"(();
        echo "discarded";
        sleep(1);
        file_put_contents(')" + marker +
                                R"(', "after:" . var_export($r, true));)");
    Server server(root.path(), one_worker());
    const auto start = Clock::now();
    auto r = get(server.url("/index.php"));
    const auto took =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    EXPECT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.body, "response body");
    EXPECT_EQ(r.header("x-early"), "yes");
    EXPECT_LT(took, 500) << "the client waited for the script's sleep";
    auto content = wait_for_file(marker, std::chrono::seconds(3));
    ASSERT_TRUE(content.has_value()) << "the script did not go on after " << function;
    EXPECT_EQ(*content, "after:true");
    // And again: the PHP thread is free once the first script is done.
    std::filesystem::remove(marker);
    r = get(server.url("/index.php"));
    EXPECT_EQ(r.body, "response body");
    EXPECT_TRUE(wait_for_file(marker, std::chrono::seconds(3)).has_value());
}

TEST(PhpFinishRequest, FastcgiFinishRequest) {
    check_finish_request("fastcgi_finish_request");
}

TEST(PhpFinishRequest, AskrFinishRequest) {
    check_finish_request("askr_finish_request");
}

// After finishing, a keep-alive client can send its next request on the same
// connection, and it is answered once the script is done.
TEST(PhpFinishRequest, KeepAliveConnectionGoesOn) {
    TempDir root;
    root.write("index.php", R"(<?php echo "first"; fastcgi_finish_request(); usleep(300000);)");
    root.write("two.php", R"(<?php echo "second";)");
    Server server(root.path(), one_worker());
    RawClient client(server.port());
    client.send("GET /index.php HTTP/1.1\r\nHost: localhost\r\n\r\n");
    ASSERT_TRUE(client.read_until("first", std::chrono::seconds(2))) << client.received();
    client.send("GET /two.php HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    client.read_all(std::chrono::seconds(3));
    EXPECT_NE(client.received().find("second"), std::string::npos) << client.received();
}

}  // namespace
}  // namespace askr::test::php
