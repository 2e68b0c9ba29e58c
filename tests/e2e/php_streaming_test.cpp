// Output is streamed: flush() reaches the client when the script calls it (chunked, as
// no length is known), and a large output flows through without being held in memory.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "harness.hpp"
#include "php_support.hpp"

namespace askr::test::php {
namespace {

// Resident set size of a process, in KiB (/proc/PID/status VmRSS or VmHWM).
long proc_status_kib(pid_t pid, const std::string& field) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
    }
    return -1;
}

TEST(PhpStreaming, FlushReachesClientBeforeScriptEnds) {
    TempDir root;
    // Debian's php.ini has output_buffering = 4096: as under php-fpm, a streaming script
    // ends PHP's own buffer first, then flush() hands the output to the server.
    root.write("stream.php", R"(<?php
        while (ob_get_level()) ob_end_flush();
        echo "first-part\n";
        flush();
        usleep(300000);
        echo "second-part\n";)");
    Server server(root.path());
    RawClient client(server.port());
    ASSERT_TRUE(client.connected());
    const auto sent = Clock::now();
    client.send("GET /stream.php HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    client.read_all(std::chrono::seconds(5));
    const std::string& response = client.received();
    ASSERT_EQ(raw_status(response), 200) << response;

    const std::string head = raw_head(response);
    EXPECT_NE(head.find("\r\nTransfer-Encoding: chunked\r\n"), std::string::npos) << head;
    EXPECT_EQ(head.find("Content-Length"), std::string::npos) << head;
    auto body = dechunk(std::string_view(response).substr(head.size() + 2));
    ASSERT_TRUE(body.has_value()) << "malformed chunked body:\n" << response;
    EXPECT_EQ(*body, "first-part\nsecond-part\n");

    auto first = client.arrival_of("first-part");
    auto second = client.arrival_of("second-part");
    ASSERT_TRUE(first && second);
    using std::chrono::milliseconds;
    EXPECT_LT(std::chrono::duration_cast<milliseconds>(*first - sent).count(), 200)
        << "the flushed part arrived only after the script's sleep";
    EXPECT_GE(std::chrono::duration_cast<milliseconds>(*second - *first).count(), 250)
        << "both parts arrived together: flush() did not send the first one";
}

// An HTTP/1.0 client cannot take chunks: the streamed response ends with the connection.
TEST(PhpStreaming, Http10StreamEndsWithConnection) {
    TempDir root;
    root.write("stream.php", R"(<?php
        while (ob_get_level()) ob_end_flush();
        echo "a"; flush(); usleep(100000); echo "b";)");
    Server server(root.path());
    RawClient client(server.port());
    client.send("GET /stream.php HTTP/1.0\r\nHost: localhost\r\n\r\n");
    client.read_all(std::chrono::seconds(5));
    const std::string& response = client.received();
    ASSERT_EQ(raw_status(response), 200) << response;
    const std::string head = raw_head(response);
    EXPECT_EQ(head.find("chunked"), std::string::npos) << head;
    EXPECT_EQ(response.substr(head.size() + 2), "ab");
}

// 20 MB of output arrives complete and in order, while the server's memory stays far
// below the size of the response: output is passed on, not collected.
TEST(PhpStreaming, LargeOutputIsNotBufferedWhole) {
    TempDir root;
    // 320 blocks of 64 KiB, each a different letter followed by its block number, so that
    // a lost, repeated or reordered block shows.
    root.write("big.php", R"(<?php
        for ($i = 0; $i < 320; $i++) {
            $tag = sprintf('[%05d]', $i);
            echo $tag, str_repeat(chr(65 + $i % 26), 65536 - strlen($tag));
        })");
    std::string expected;
    expected.reserve(320 * 65536);
    for (int i = 0; i < 320; ++i) {
        char tag[16];
        std::snprintf(tag, sizeof tag, "[%05d]", i);
        expected.append(tag).append(65536 - std::strlen(tag), static_cast<char>('A' + i % 26));
    }
    Server server(root.path(), one_worker());
    // Warm up (PHP and opcache allocate on first use). Then, for every process of the
    // server (master and worker), note its RSS and reset its peak counter (proc(5):
    // writing 5 to clear_refs resets VmHWM), so that VmHWM afterwards is the peak while
    // the 20 MB went through.
    ASSERT_EQ(get(server.url("/big.php")).body.size(), expected.size());
    std::map<pid_t, long> baseline;
    for (pid_t pid : process_group_members(server.pid())) {
        baseline[pid] = proc_status_kib(pid, "VmRSS");
        std::ofstream("/proc/" + std::to_string(pid) + "/clear_refs") << "5";
    }
    ASSERT_FALSE(baseline.empty());

    auto r = request(server.url("/big.php"), {.timeout_ms = 30000});
    ASSERT_EQ(r.status, 200) << r.error;
    long growth = 0;
    std::string detail;
    for (const auto& [pid, before] : baseline) {
        const long peak = proc_status_kib(pid, "VmHWM");
        if (peak < 0) continue;  // gone
        growth += std::max(0L, peak - before);
        detail += " pid " + std::to_string(pid) + ": " + std::to_string(before) + " -> peak " +
                  std::to_string(peak) + " KiB;";
    }
    EXPECT_EQ(r.body.size(), expected.size());
    EXPECT_TRUE(r.body == expected) << "the 20 MB body differs from what the script wrote";
    EXPECT_EQ(r.header("transfer-encoding"), "chunked");
    EXPECT_FALSE(r.has_header("content-length"));
    EXPECT_LT(growth, 8 * 1024) << "RSS grew by " << growth << " KiB:" << detail;
    std::printf("[ info     ] RSS growth while streaming 20 MB: %ld KiB (%s)\n", growth,
                detail.c_str());
}

// What big.php sends: 320 blocks of 64 KiB, each one letter (A, B, ... Z, A, ...).
std::string big_body() {
    std::string body;
    for (int i = 0; i < 320; ++i) body.append(65536, static_cast<char>('A' + i % 26));
    return body;
}

void write_big_app(const TempDir& root) {
    root.write("big.php", R"(<?php
        for ($i = 0; $i < 320; $i++) { echo str_repeat(chr(65 + $i % 26), 65536); }
        file_put_contents(__DIR__ . '/done.txt', 'done');)");
    root.write("fast.php", "<?php echo 'fast';");
}

void expect_big_response(RawClient& client) {
    client.read_all(std::chrono::seconds(10));
    const std::string head = raw_head(client.received());
    ASSERT_EQ(raw_status(client.received()), 200);
    auto body = dechunk(std::string_view(client.received()).substr(head.size() + 2));
    ASSERT_TRUE(body.has_value()) << "incomplete chunked body, " << client.received().size()
                                  << " bytes received";
    EXPECT_EQ(body->size(), 320u * 65536);
    EXPECT_TRUE(*body == big_body()) << "the body arrived altered or out of order";
}

// A client that does not read a large response: past 1 MiB in memory the rest waits in a
// temporary file, so the script runs to its end and the one PHP thread serves the next
// request, while the server's memory stays flat; the slow client still gets every byte,
// in order.
TEST(PhpStreaming, SlowClientsResponseIsSpooledSoPhpGoesOn) {
    TempDir root;
    write_big_app(root);
    Server server(root.path(), one_worker());
    ASSERT_EQ(get(server.url("/big.php")).body.size(), 320u * 65536);  // warm-up
    std::filesystem::remove(root.path() + "/done.txt");
    std::map<pid_t, long> baseline;
    for (pid_t pid : process_group_members(server.pid()))
        baseline[pid] = proc_status_kib(pid, "VmRSS");

    RawClient client(server.port());
    client.send("GET /big.php HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    EXPECT_TRUE(wait_for_file(root.path() + "/done.txt", std::chrono::seconds(5)).has_value())
        << "the script is held back by a client that does not read";
    RequestOptions options;
    options.timeout_ms = 5000;
    auto other = request(server.url("/fast.php"), options);
    EXPECT_EQ(other.body, "fast") << "the PHP thread is still held: " << other.error;
    long growth = 0;
    for (const auto& [pid, before] : baseline)
        growth += std::max(0L, proc_status_kib(pid, "VmRSS") - before);
    EXPECT_LT(growth, 8 * 1024) << "RSS grew by " << growth << " KiB while the client did not read";
    expect_big_response(client);
}

// --response-spool-max bounds the file: past it the script is held back again, and with
// 0 it is held once 1 MiB waits, never collecting the 20 MB anywhere.
TEST(PhpStreaming, SpoolLimitHoldsTheScriptBack) {
    for (const std::string limit : {"4M", "0"}) {
        TempDir root;
        write_big_app(root);
        auto args = one_worker();
        args.insert(args.end(), {"--response-spool-max", limit});
        Server server(root.path(), args);
        RawClient client(server.port());
        client.send("GET /big.php HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // the client reads nothing
        EXPECT_FALSE(std::filesystem::exists(root.path() + "/done.txt"))
            << limit << ": the script ran to its end although the client read nothing";
        expect_big_response(client);
        EXPECT_TRUE(wait_for_file(root.path() + "/done.txt", std::chrono::seconds(3)).has_value());
    }
}

}  // namespace
}  // namespace askr::test::php
