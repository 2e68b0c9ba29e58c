// A slowloris attack: hundreds of connections sending their headers a byte at
// a time. Normal clients must still be served fast, the attack's connections are closed
// at the header timeout, and the workers' memory stays bounded. And its mirror, the slow
// reader: a response taken a few bytes at a time is cut at the minimum send rate.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace askr::test {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Resident memory of the server: master and every process it has adopted (workers).
long server_rss_kb(pid_t master) {
    std::vector<pid_t> pids{master};
    std::ifstream children("/proc/" + std::to_string(master) + "/task/" + std::to_string(master) +
                           "/children");
    for (pid_t p; children >> p;) pids.push_back(p);
    long total = 0;
    for (pid_t p : pids) {
        std::ifstream status("/proc/" + std::to_string(p) + "/status");
        for (std::string line; std::getline(status, line);) {
            if (line.rfind("VmRSS:", 0) == 0) total += std::stol(line.substr(6));
        }
    }
    return total;
}

TEST(Slowloris, NormalClientsAreServedWhileHundredsOfConnectionsTrickleHeaders) {
    TempDir root;
    root.write("index.php", "<?php echo 'fast';");
    Server server(root.path(), {"--workers", "2", "--header-timeout", "3"});
    const long rss_before = server_rss_kb(server.pid());

    constexpr int attackers = 300;
    std::vector<int> sockets;
    for (int i = 0; i < attackers; ++i) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(server.port());
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::connect(fd, reinterpret_cast<sockaddr*>(&address),
                  sizeof address);  // completes in the background
        sockets.push_back(fd);
    }
    // The attack: one byte of an endless header block per connection every 100 ms, for
    // at most 6 s (bounded), counting connections the server closed.
    std::atomic<bool> stop{false};
    std::atomic<int> closed_by_server{0};
    std::thread attack([&] {
        const std::string trickle = "GET / HTTP/1.1\r\nHost: x\r\nX-a: ";
        std::vector<std::size_t> sent(sockets.size(), 0);
        std::vector<bool> open(sockets.size(), true);
        const auto end = Clock::now() + std::chrono::seconds(6);
        while (!stop && Clock::now() < end) {
            for (std::size_t i = 0; i < sockets.size(); ++i) {
                if (!open[i]) continue;
                const char byte = sent[i] < trickle.size() ? trickle[sent[i]] : 'a';
                if (::send(sockets[i], &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1) ++sent[i];
                char sink[256];
                const ssize_t n = ::recv(sockets[i], sink, sizeof sink, MSG_DONTWAIT);
                if (n == 0 ||
                    (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOTCONN)) {
                    open[i] = false;
                    ++closed_by_server;
                }
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    });

    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the attack is under way
    double worst_ms = 0;
    for (int i = 0; i < 40; ++i) {
        const auto start = Clock::now();
        const auto r = get(server.url("/"));
        worst_ms = std::max(
            worst_ms, std::chrono::duration<double, std::milli>(Clock::now() - start).count());
        EXPECT_EQ(r.status, 200);
        EXPECT_EQ(r.body, "fast");
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    const long rss_during = server_rss_kb(server.pid());
    attack.join();
    for (int fd : sockets) ::close(fd);

    EXPECT_LT(worst_ms, 500.0) << "a normal request waited behind the slow connections";
    // Every attacking connection was cut at the 3 s header timeout (the attack ran 6 s).
    EXPECT_GE(closed_by_server.load(), attackers * 9 / 10);
    // 300 connections with a partial request each: buffers, not megabytes each.
    EXPECT_LT(rss_during - rss_before, 40 * 1024)
        << "RSS before " << rss_before << " kB, during " << rss_during << " kB";
}

// A client that reads the response it asked for, at most `chunk` bytes every `interval`,
// for at most `for_how_long`. How many bytes it got, and whether the server ended the
// connection (EOF or reset) before the time was up.
struct SlowRead {
    std::size_t received = 0;
    bool cut = false;
};
SlowRead read_slowly(std::uint16_t port, const std::string& path, std::size_t chunk,
                     std::chrono::milliseconds interval, std::chrono::seconds for_how_long) {
    SlowRead result;
    // A small receive window: the server's writes wait on this reader.
    const int fd = connect_loopback(port, 4096);
    if (fd < 0) {
        result.cut = true;
        return result;
    }
    const std::string request = "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n";
    (void)::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    std::string buffer(chunk, '\0');
    bool in_body = false;
    std::string head;
    const auto end = Clock::now() + for_how_long;
    while (Clock::now() < end) {
        std::this_thread::sleep_for(interval);
        const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
            result.cut = true;
            break;
        }
        if (n < 0) continue;
        std::string_view got(buffer.data(), static_cast<std::size_t>(n));
        if (!in_body) {
            head.append(got);
            const auto blank = head.find("\r\n\r\n");
            if (blank == std::string::npos) continue;
            in_body = true;
            got = std::string_view(head).substr(blank + 4);
        }
        result.received += got.size();
    }
    ::close(fd);
    return result;
}

// A slow-read attack: a client asks for a large response and takes a few hundred bytes a
// second, never enough to be a stall. It is cut once it has been waited on for a window
// (20 s) below --min-send-rate, and its connection reset; a client reading faster than
// the minimum is served on. Both responses come from PHP and are spooled.
TEST(SlowReaders, AReaderBelowTheMinimumSendRateIsCutAndAFasterOneIsNot) {
    TempDir root;
    root.write("big.php",
               "<?php header('Content-Type: application/octet-stream'); "
               "echo str_repeat('x', 48 << 20);");
    Server server(root.path(), {"--workers", "1", "--min-send-rate", "8K"});
    SlowRead slow, fast;
    std::thread slow_reader(
        [&] { slow = read_slowly(server.port(), "/big.php", 512, 500ms, 34s); });
    std::thread fast_reader(
        [&] { fast = read_slowly(server.port(), "/big.php", 65536, 20ms, 34s); });
    slow_reader.join();
    fast_reader.join();
    EXPECT_TRUE(slow.cut) << "a reader at 1 KB/s kept its connection for 34 s";
    EXPECT_FALSE(fast.cut) << "a fast reader was cut; it got " << fast.received;
    EXPECT_GT(fast.received, 1u << 20);
    EXPECT_TRUE(server.wait_for_log("less than 8192 bytes/s over 20 s (min_send_rate)"));
}

// The header timeout bounds reading a request, not answering it: a script that runs
// longer is answered (PHP's own limits and --request-timeout bound it).
TEST(SlowReaders, AScriptMayRunLongerThanTheHeaderTimeout) {
    TempDir root;
    root.write("slow.php", "<?php sleep(3); echo 'done';");
    Server server(root.path(), {"--header-timeout", "1", "--body-timeout", "1"});
    const auto r = get(server.url("/slow.php"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "done");
}

}  // namespace
}  // namespace askr::test
