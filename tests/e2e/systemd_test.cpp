// Running under systemd (docs/production.md): the Type=notify protocol on a real
// datagram socket named by NOTIFY_SOCKET, as systemd passes it, and the unit file checked
// by systemd-analyze.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "harness.hpp"

namespace askr::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// The service manager's end: a bound datagram socket, read one notification at a time.
class NotifySocket {
  public:
    explicit NotifySocket(const std::string& path)
        : path_(path), fd_(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
        bound_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    }
    ~NotifySocket() { ::close(fd_); }
    NotifySocket(const NotifySocket&) = delete;
    NotifySocket& operator=(const NotifySocket&) = delete;
    bool bound() const { return bound_; }
    const std::string& path() const { return path_; }

    // The next notification containing `text` (others are kept in seen()), or "".
    std::string wait_for(const std::string& text, std::chrono::milliseconds timeout = 10s) {
        const auto until = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                until - std::chrono::steady_clock::now());
            if (left.count() <= 0) return "";
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
            char buffer[4096];
            const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
            if (n <= 0) continue;
            std::string message(buffer, static_cast<std::size_t>(n));
            seen_.push_back(message);
            if (message.find(text) != std::string::npos) return message;
        }
    }
    const std::vector<std::string>& seen() const { return seen_; }

  private:
    std::string path_;
    int fd_;
    bool bound_ = false;
    std::vector<std::string> seen_;
};

TEST(Systemd, NotifiesReadyReloadingStoppingAndPingsTheWatchdog) {
    TempDir root;
    root.write("index.php", "<?php var_export([getenv('NOTIFY_SOCKET'), getenv('WATCHDOG_USEC')]);");
    NotifySocket manager(root.path() + "/notify.sock");
    ASSERT_TRUE(manager.bound());
    Server server(root.path(), {"--workers", "1", "--php-pass-env", "NOTIFY_SOCKET"},
                  {{"NOTIFY_SOCKET", manager.path()}, {"WATCHDOG_USEC", "1000000"}});
    const std::string ready = manager.wait_for("READY=1");
    EXPECT_NE(ready.find("STATUS=serving with 1 worker(s), generation 1"), std::string::npos)
        << ready;
    // Pinged at half the interval, from the master's loop.
    EXPECT_NE(manager.wait_for("WATCHDOG=1", 3s), "");
    EXPECT_NE(manager.wait_for("WATCHDOG=1", 3s), "");
    // PHP never sees the service manager's variables.
    EXPECT_EQ(get(server.url("/")).body, "array (\n  0 => false,\n  1 => false,\n)");

    ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
    const std::string reloading = manager.wait_for("RELOADING=1");
    EXPECT_TRUE(std::regex_search(reloading, std::regex("MONOTONIC_USEC=[0-9]+"))) << reloading;
    const std::string again = manager.wait_for("READY=1");
    EXPECT_NE(again.find("generation 2"), std::string::npos) << again;

    ASSERT_EQ(::kill(server.pid(), SIGTERM), 0);
    const std::string stopping = manager.wait_for("STOPPING=1");
    EXPECT_NE(stopping.find("STATUS=graceful stop"), std::string::npos) << stopping;
    EXPECT_EQ(server.stop(), 0);
}

// The unit the packages install passes systemd's own checker (with ExecStart pointing at
// this build, as the packaged /usr/bin/askr is not installed here).
TEST(Systemd, TheUnitFileVerifies) {
    if (command_output("command -v systemd-analyze").empty())
        GTEST_SKIP() << "systemd-analyze is not installed";
    TempDir dir;
    std::string unit = slurp(std::string(ASKR_SOURCE_DIR) + "/packaging/askr.service");
    ASSERT_FALSE(unit.empty());
    unit = std::regex_replace(unit, std::regex("/usr/bin/askr"), std::string(ASKR_BINARY));
    dir.write("askr.service", unit);
    const std::string out =
        command_output("systemd-analyze verify --man=no " + dir.path() + "/askr.service 2>&1; echo status=$?");
    EXPECT_NE(out.find("status=0"), std::string::npos) << out;
    EXPECT_EQ(out.find("askr.service:"), std::string::npos) << "warnings about the unit:\n" << out;
}

TEST(Systemd, VersionNamesTheCommitAndTheLibraries) {
    const std::string out = command_output(std::string(ASKR_BINARY) + " version");
    EXPECT_TRUE(std::regex_search(out, std::regex(R"(^askr \d+\.\d+\.\d+ \(commit [0-9a-f]{12}(-dirty)?\)\n)")))
        << out;
    EXPECT_TRUE(std::regex_search(out, std::regex(R"(\nPHP 8\.\d+\.\d+)"))) << out;
    EXPECT_NE(out.find("OpenSSL 3"), std::string::npos) << out;
    EXPECT_TRUE(std::regex_search(out, std::regex(R"(\nnghttp2 1\.\d+)"))) << out;
    EXPECT_NE(out.find("zstd 1."), std::string::npos) << out;
    const std::string flag = command_output(std::string(ASKR_BINARY) + " --version");
    EXPECT_EQ(flag.substr(0, flag.find('\n')), out.substr(0, out.find('\n')));
}

}  // namespace
}  // namespace askr::test
