#pragma once
// A real redis-server for end-to-end tests (cache_redis_test.cpp, dashboard_test.cpp).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace askr::test {

/// A loopback TCP port nobody listens on now.
inline std::uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    ::close(fd);
    return ntohs(address.sin_port);
}

/// A redis-server of its own for one test: no persistence, loopback only, in a temporary
/// directory; stopped (SIGTERM, then waited for) at the end.
struct RedisOptions {
    std::string password;    // --requirepass
    bool unix_only = false;  // a unix socket and no TCP port
};

class RedisServer {
  public:
    explicit RedisServer(RedisOptions options = {})
        : options_(std::move(options)), port_(free_port()) {
        socket_path_ = dir_.path() + "/redis.sock";
        start();
    }
    ~RedisServer() { stop(); }
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;

    std::uint16_t port() const { return port_; }
    const std::string& socket_path() const { return socket_path_; }
    /// The URL askr's [cache] redis takes for it.
    std::string url(const std::string& password = "") const {
        if (options_.unix_only)
            return "unix:" + socket_path_ + (password.empty() ? "" : "?password=" + password);
        return "redis://" + (password.empty() ? "" : ":" + password + "@") +
               "127.0.0.1:" + std::to_string(port_);
    }

    /// Starts it (again, on the same port) and waits until it answers.
    void start() {
        std::vector<std::string> args = {"redis-server",
                                         "--save",
                                         "",
                                         "--appendonly",
                                         "no",
                                         "--bind",
                                         "127.0.0.1",
                                         "--port",
                                         options_.unix_only ? "0" : std::to_string(port_),
                                         "--dir",
                                         dir_.path(),
                                         "--logfile",
                                         dir_.path() + "/redis.log"};
        if (options_.unix_only) {
            args.insert(args.end(), {"--unixsocket", socket_path_, "--unixsocketperm", "700"});
        }
        if (!options_.password.empty())
            args.insert(args.end(), {"--requirepass", options_.password});
        pid_ = ::fork();
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            std::vector<char*> argv;
            for (auto& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execvp("redis-server", argv.data());
            ::_exit(127);
        }
        ASSERT_GT(pid_, 0);
        for (int attempt = 0; attempt < 250; ++attempt) {
            if (answers()) {
                started_once_ = true;
                return;
            }
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                // The port was taken between free_port() and the bind (tests run in
                // parallel): a first start moves to another one.
                pid_ = -1;
                if (!started_once_ && !options_.unix_only && moves_++ < 3) {
                    port_ = free_port();
                    start();
                    return;
                }
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        FAIL() << "redis-server did not start: " << slurp(dir_.path() + "/redis.log");
    }

    /// Stops it and waits for it to exit.
    void stop() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGTERM);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
    }

    /// Runs one command with redis-cli and returns what it printed (raw, no quoting).
    std::string cli(const std::string& command) const {
        std::string connection =
            options_.unix_only ? "-s " + socket_path_ : "-h 127.0.0.1 -p " + std::to_string(port_);
        if (!options_.password.empty()) connection += " --no-auth-warning -a " + options_.password;
        return command_output("redis-cli " + connection + " --raw " + command + " 2>&1");
    }

  private:
    bool answers() const {
        const std::string reply = cli("PING");
        return reply.find("PONG") != std::string::npos;
    }

    RedisOptions options_;
    TempDir dir_;
    std::uint16_t port_;
    std::string socket_path_;
    pid_t pid_ = -1;
    bool started_once_ = false;  // a restart keeps its port (the test reconnects to it)
    int moves_ = 0;
};

}  // namespace askr::test
