// A slowloris attack: hundreds of connections sending their headers a byte at
// a time. Normal clients must still be served fast, the attack's connections are closed
// at the header timeout, and the workers' memory stays bounded.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
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

}  // namespace
}  // namespace askr::test
