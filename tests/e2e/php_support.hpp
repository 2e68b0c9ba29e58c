#pragma once
// Helpers shared by the PHP end-to-end tests (php_*_test.cpp, dokuwiki_test.cpp), beside
// harness.hpp: a raw TCP client that records when bytes arrive, small file helpers, and
// the nginx + php-fpm reference that Askr's PHP behaviour is compared against.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

// The PHP tests describe requests with designated initializers
// (`{.method = "POST", .body = ...}`), leaving the other RequestOptions fields at their
// defaults on purpose; GCC 12's -Wextra flags every such omission.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace askr::test::php {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

using askr::test::slurp;

/// Arguments for a server with one worker process: for tests whose second request must
/// reach the same PHP instance as the first (state left behind, the PHP thread being free).
inline std::vector<std::string> one_worker(std::vector<std::string> more = {}) {
    more.insert(more.begin(), {"--workers", "1"});
    return more;
}

/// Processes of a server started by the harness (its process group: the master and
/// every worker it forked).
inline std::vector<pid_t> process_group_members(pid_t group) {
    std::vector<pid_t> pids;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator("/proc", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
        const std::string name = it->path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        // /proc/PID/stat: "pid (comm) state ppid pgrp ..."; comm may contain spaces.
        const std::string stat = slurp(it->path().string() + "/stat");
        const auto close = stat.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream fields(stat.substr(close + 2));
        std::string state;
        long ppid = 0, pgrp = 0;
        fields >> state >> ppid >> pgrp;
        if (pgrp == group && state != "Z") pids.push_back(static_cast<pid_t>(std::stol(name)));
    }
    return pids;
}

/// Waits until `path` exists and is non-empty; returns its content, or nullopt after
/// `timeout`.
inline std::optional<std::string> wait_for_file(const std::string& path,
                                                std::chrono::milliseconds timeout) {
    const auto until = Clock::now() + timeout;
    do {
        std::error_code ec;
        if (std::filesystem::file_size(path, ec) > 0 && !ec) return slurp(path);
        std::this_thread::sleep_for(20ms);
    } while (Clock::now() < until);
    return std::nullopt;
}

/// Runs a shell command; returns its stdout and sets `status` to the exit code.
inline std::string run_command(const std::string& command, int* status = nullptr) {
    std::string output;
    FILE* pipe = ::popen(command.c_str(), "r");
    if (!pipe) {
        if (status) *status = -1;
        return output;
    }
    char buffer[4096];
    while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
    const int rc = ::pclose(pipe);
    if (status) *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    return output;
}

/// One TCP connection to 127.0.0.1:port driven by hand, for tests that care about *when*
/// bytes arrive or that hang up in the middle of a response.
class RawClient {
  public:
    explicit RawClient(std::uint16_t port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(port);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
        sockaddr_in local{};
        socklen_t length = sizeof local;
        if (connected_ && ::getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &length) == 0) {
            local_port_ = ntohs(local.sin_port);
        }
    }
    ~RawClient() { close(); }
    RawClient(const RawClient&) = delete;
    RawClient& operator=(const RawClient&) = delete;

    bool connected() const { return connected_; }
    /// The client's own port (what the server should report as REMOTE_PORT).
    std::uint16_t local_port() const { return local_port_; }

    bool send(const std::string& bytes) {
        std::size_t sent = 0;
        while (sent < bytes.size()) {
            ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
            if (n <= 0) return false;
            sent += static_cast<std::size_t>(n);
        }
        return true;
    }

    /// Reads until `received()` contains `text` or `timeout` passes; true if it does.
    bool read_until(const std::string& text, std::chrono::milliseconds timeout) {
        const auto until = Clock::now() + timeout;
        while (received_.find(text) == std::string::npos) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
            if (left.count() <= 0 || !read_some(left)) return false;
        }
        return true;
    }

    /// Reads until the server closes or `timeout` passes without data.
    void read_all(std::chrono::milliseconds timeout) {
        while (read_some(timeout)) {
        }
    }

    /// Everything read so far.
    const std::string& received() const { return received_; }
    /// When `received()` first contained `text` (steady clock), if it did.
    std::optional<Clock::time_point> arrival_of(const std::string& text) const {
        for (const auto& [size, when] : arrivals_) {
            if (received_.substr(0, size).find(text) != std::string::npos) return when;
        }
        return std::nullopt;
    }

    /// Closes the connection (the client "hangs up").
    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

  private:
    bool read_some(std::chrono::milliseconds timeout) {
        if (fd_ < 0) return false;
        pollfd pfd{fd_, POLLIN, 0};
        if (::poll(&pfd, 1, static_cast<int>(timeout.count())) <= 0) return false;
        char buffer[65536];
        ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
        if (n <= 0) return false;
        received_.append(buffer, static_cast<std::size_t>(n));
        arrivals_.emplace_back(received_.size(), Clock::now());
        return true;
    }

    int fd_ = -1;
    bool connected_ = false;
    std::uint16_t local_port_ = 0;
    std::string received_;
    std::vector<std::pair<std::size_t, Clock::time_point>> arrivals_;
};

/// The head of a raw HTTP/1.1 response (up to the blank line), "" if incomplete.
inline std::string raw_head(const std::string& response) {
    auto end = response.find("\r\n\r\n");
    return end == std::string::npos ? std::string() : response.substr(0, end + 2);
}

/// Decodes a chunked body (RFC 9112 section 7.1); nullopt when malformed or incomplete.
inline std::optional<std::string> dechunk(std::string_view body) {
    std::string out;
    for (;;) {
        auto line_end = body.find("\r\n");
        if (line_end == std::string_view::npos) return std::nullopt;
        std::size_t size = 0;
        try {
            size = std::stoul(std::string(body.substr(0, line_end)), nullptr, 16);
        } catch (...) {
            return std::nullopt;
        }
        body.remove_prefix(line_end + 2);
        if (size == 0) return out;
        if (body.size() < size + 2) return std::nullopt;
        out.append(body.substr(0, size));
        body.remove_prefix(size + 2);
    }
}

/// nginx + php-fpm from Debian's packages, the reference Askr is compared against.
///
/// php-fpm and a first nginx come from bench/lib/anchors.sh (`start-nginx-fpm`: the
/// benchmark anchor, try_files $uri $uri/ /INDEX?$query_string). That nginx has no
/// PATH_INFO split, which a PHP developer's nginx has: Debian ships it as
/// /etc/nginx/snippets/fastcgi-php.conf. So a second nginx, `stock_port()`, runs in front
/// of the same php-fpm pool with exactly that snippet's directives (inlined: an `include`
/// resolves relative to our own config file). Both run as www-data, so DOCROOT must be
/// world-readable. Nothing under /etc is changed.
class NginxFpm {
  public:
    NginxFpm(const std::string& docroot, const std::string& index) {
        // anchors.sh exits after starting its daemons: their reaping shells are orphaned.
        // Adopt orphans, so that stop() reaps them instead of leaving zombies (pid 1
        // does not reap on this machine).
        ::prctl(PR_SET_CHILD_SUBREAPER, 1);
        char pattern[] = "/tmp/askr-e2e-nginx-XXXXXX";
        workdir_ = ::mkdtemp(pattern);
        std::filesystem::permissions(workdir_, std::filesystem::perms(0755));
        anchor_port_ = free_port();
        int status = 0;
        std::string out = run_command(anchors() + " start-nginx-fpm '" + docroot + "' " +
                                          std::to_string(anchor_port_) + " '" + index + "' '" +
                                          workdir_ + "/anchor' 1 2>&1",
                                      &status);
        if (status != 0) {
            ADD_FAILURE() << "anchors.sh start-nginx-fpm failed:\n" << out;
            anchor_port_ = 0;
            return;
        }
        start_stock_nginx(docroot, index);
    }

    ~NginxFpm() { stop(); }
    NginxFpm(const NginxFpm&) = delete;
    NginxFpm& operator=(const NginxFpm&) = delete;

    /// Both servers answer.
    bool ok() const { return anchor_port_ != 0 && stock_port_ != 0; }
    /// The anchors.sh nginx (try_files to the front controller, no PATH_INFO split).
    std::uint16_t anchor_port() const { return anchor_port_; }
    /// nginx configured like Debian's snippets/fastcgi-php.conf.
    std::uint16_t stock_port() const { return stock_port_; }
    std::string anchor_url(const std::string& path) const {
        return "http://127.0.0.1:" + std::to_string(anchor_port_) + path;
    }
    std::string stock_url(const std::string& path) const {
        return "http://127.0.0.1:" + std::to_string(stock_port_) + path;
    }
    /// PHP's error log of the fpm pool (for diagnostics).
    std::string php_errors() const { return slurp(workdir_ + "/anchor/php-errors.log"); }

    void stop() {
        if (stopped_) return;
        stopped_ = true;
        if (nginx_pid_ > 0) {
            ::kill(nginx_pid_, SIGQUIT);  // graceful: workers finish, then the master exits
            int st = 0;
            for (int i = 0; i < 500 && ::waitpid(nginx_pid_, &st, WNOHANG) == 0; ++i)
                std::this_thread::sleep_for(10ms);
            if (::kill(nginx_pid_, 0) == 0) {
                ::kill(nginx_pid_, SIGKILL);
                ::waitpid(nginx_pid_, &st, 0);
            }
        }
        std::vector<pid_t> reapers;
        std::error_code ec;
        for (auto it = std::filesystem::directory_iterator(workdir_ + "/anchor/pids", ec);
             !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
            reapers.push_back(static_cast<pid_t>(std::atoi(slurp(it->path()).c_str())));
        }
        run_command(anchors() + " stop '" + workdir_ + "/anchor' 2>&1");
        for (pid_t p : reapers) {
            if (p > 0) ::waitpid(p, nullptr, WNOHANG);
        }
        std::filesystem::remove_all(workdir_, ec);
    }

    static std::uint16_t free_port() {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
        socklen_t length = sizeof address;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
        ::close(fd);
        return ntohs(address.sin_port);
    }

  private:
    static std::string anchors() {
        return std::string("bash '") + ASKR_SOURCE_DIR + "/bench/lib/anchors.sh'";
    }

    void start_stock_nginx(const std::string& docroot, const std::string& index) {
        const std::string dir = workdir_ + "/stock";
        std::filesystem::create_directories(dir + "/logs");
        const std::uint16_t port = free_port();
        const std::string socket = workdir_ + "/anchor/php-fpm.sock";
        std::ofstream(dir + "/nginx.conf")
            << "daemon off;\nmaster_process on;\nworker_processes 1;\n"
            << "user www-data www-data;\npid " << dir << "/nginx.pid;\n"
            << "error_log " << dir << "/error.log warn;\n"
            << "events { worker_connections 64; }\nhttp {\n"
            << "  include /etc/nginx/mime.types;\n  access_log off;\n"
            << "  client_body_temp_path " << dir << "/body;\n"
            << "  fastcgi_temp_path " << dir << "/fastcgi;\n"
            << "  proxy_temp_path " << dir << "/proxy;\n"
            << "  uwsgi_temp_path " << dir << "/uwsgi;\n"
            << "  scgi_temp_path " << dir << "/scgi;\n"
            << "  server {\n    listen 127.0.0.1:" << port << ";\n"
            << "    server_name localhost;\n    root " << docroot << ";\n"
            << "    index " << index << " index.html;\n"
            << "    location / { try_files $uri $uri/ /" << index
            << "?$query_string; }\n"
            // Debian's /etc/nginx/snippets/fastcgi-php.conf, inlined.
            << "    location ~ [^/]\\.php(/|$) {\n"
            << "      fastcgi_split_path_info ^(.+?\\.php)(/.*)$;\n"
            << "      try_files $fastcgi_script_name =404;\n"
            << "      set $path_info $fastcgi_path_info;\n"
            << "      fastcgi_param PATH_INFO $path_info;\n"
            << "      fastcgi_index index.php;\n"
            << "      include /etc/nginx/fastcgi.conf;\n"
            << "      fastcgi_pass unix:" << socket << ";\n    }\n  }\n}\n";
        nginx_pid_ = ::fork();
        if (nginx_pid_ == 0) {
            std::freopen((dir + "/nginx.out").c_str(), "w", stderr);
            ::execlp("nginx", "nginx", "-c", (dir + "/nginx.conf").c_str(), "-p",
                     (dir + "/").c_str(), nullptr);
            ::_exit(127);
        }
        for (int i = 0; i < 500; ++i) {
            if (::waitpid(nginx_pid_, nullptr, WNOHANG) == nginx_pid_) break;
            if (askr::test::get("http://127.0.0.1:" + std::to_string(port) + "/").status != 0) {
                stock_port_ = port;
                return;
            }
            std::this_thread::sleep_for(20ms);
        }
        nginx_pid_ = -1;
        ADD_FAILURE() << "the stock-config nginx did not start:\n"
                      << slurp(dir + "/nginx.out") << slurp(dir + "/error.log");
    }

    std::string workdir_;
    std::uint16_t anchor_port_ = 0;
    std::uint16_t stock_port_ = 0;
    pid_t nginx_pid_ = -1;
    bool stopped_ = false;
};

}  // namespace askr::test::php
