// --listen unix:/PATH: HTTP over a unix socket, for a proxy on the same machine. The
// socket file gets the configured mode, a stale one is replaced, a live one or a file
// that is not a socket stops the start with a message, and the file goes on stop.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "harness.hpp"
#include "php_support.hpp"

namespace askr::test {
namespace {

constexpr const char* vars_php = R"(<?php
foreach (['REMOTE_ADDR', 'REMOTE_PORT', 'SERVER_ADDR', 'SERVER_PORT', 'HTTPS'] as $name) {
    echo isset($_SERVER[$name]) ? "$name={$_SERVER[$name]}\n" : "$name\n";
})";

bool has(const std::string& body, const std::string& line) {
    return ("\n" + body).find("\n" + line + "\n") != std::string::npos;
}

bool exists(const std::string& path) {
    struct stat info{};
    return ::lstat(path.c_str(), &info) == 0;
}

unsigned mode_of(const std::string& path) {
    struct stat info{};
    if (::lstat(path.c_str(), &info) != 0) return 0;
    return info.st_mode & 0777;
}

// A unix socket bound at `path`; listening unless `listen` is false. -1 on failure.
int bind_unix(const std::string& path, bool listen) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        (listen && ::listen(fd, 4) != 0)) {
        ::close(fd);
        return -1;
    }
    return fd;
}

// curl through the socket: "STATUS\nBODY".
std::string curl_unix(const std::string& socket, const std::string& path, const std::string& extra = "") {
    return command_output("curl -s --max-time 10 --unix-socket '" + socket + "' -w '\\n%{http_code}' " +
                          extra + " 'http://localhost" + path + "'");
}

// What `askr serve` prints when it cannot start on `listen` (it must exit by itself).
std::string failed_start(const std::string& root, const std::string& listen) {
    return command_output("timeout 20 " + std::string(ASKR_BINARY) + " serve --root '" + root +
                          "' --listen '" + listen + "' --admin-listen off 2>&1; echo \"exit=$?\"");
}

class UnixSocket : public ::testing::Test {
  protected:
    void SetUp() override {
        root.write("vars.php", vars_php);
        root.write("hello.txt", "hello over a unix socket\n");
    }
    TempDir root;
    TempDir run;
};

TEST_F(UnixSocket, ServesPhpAndFilesAndRemovesTheFileOnStop) {
    const std::string socket = run.path() + "/askr.sock";
    {
        Server server(root.path(), {"--listen", "unix:" + socket});
        EXPECT_NE(server.log().find("listening on http+unix:" + socket), std::string::npos) << server.log();
        EXPECT_EQ(mode_of(socket), 0660u);
        const std::string vars = curl_unix(socket, "/vars.php");
        EXPECT_TRUE(vars.ends_with("\n200")) << vars;
        // The peer of a unix socket has no address: REMOTE_ADDR says so, as nginx does.
        EXPECT_TRUE(has(vars, "REMOTE_ADDR=unix:")) << vars;
        EXPECT_TRUE(has(vars, "SERVER_ADDR=unix:" + socket)) << vars;
        EXPECT_TRUE(has(vars, "REMOTE_PORT=0")) << vars;
        const std::string file = curl_unix(socket, "/hello.txt");
        EXPECT_EQ(file, "hello over a unix socket\n\n200");
        // HTTP/2 without TLS (prior knowledge) over the same socket.
        const std::string h2 = curl_unix(socket, "/hello.txt", "--http2-prior-knowledge -o /dev/null -w '%{http_version} '");
        EXPECT_TRUE(h2.starts_with("2 ")) << h2;
        // Many requests on keep-alive connections of both workers.
        const std::string many = command_output(
            "for i in $(seq 1 50); do printf 'url=http://localhost/vars.php\\noutput=/dev/null\\n'; done > '" +
            run.path() + "/urls'; curl -s --max-time 20 --unix-socket '" + socket + "' -K '" + run.path() +
            "/urls' -w '%{http_code}\\n' | sort | uniq -c | tr -s ' '");
        EXPECT_EQ(many, " 50 200\n");
        // The TCP listener still serves beside it.
        EXPECT_EQ(get(server.url("/hello.txt")).status, 200);
        EXPECT_EQ(server.stop(), 0);
    }
    EXPECT_FALSE(exists(socket)) << "the socket file is left after stop";
}

TEST_F(UnixSocket, ModeOptionSetsTheFilePermissions) {
    const std::string socket = run.path() + "/open.sock";
    Server server(root.path(), {"--listen", "unix:" + socket + ",mode=0666"});
    EXPECT_EQ(mode_of(socket), 0666u);
    EXPECT_TRUE(curl_unix(socket, "/hello.txt").ends_with("\n200"));
}

TEST_F(UnixSocket, StaleSocketFileIsReplaced) {
    const std::string socket = run.path() + "/stale.sock";
    const int stale = bind_unix(socket, false);  // bound, then its server "crashed"
    ASSERT_GE(stale, 0);
    ::close(stale);
    ASSERT_TRUE(exists(socket));
    Server server(root.path(), {"--listen", "unix:" + socket});
    EXPECT_TRUE(curl_unix(socket, "/hello.txt").ends_with("\n200"));
}

TEST_F(UnixSocket, LiveSocketOrOtherFileStopsTheStartWithAMessage) {
    const std::string live = run.path() + "/live.sock";
    const int other = bind_unix(live, true);  // another process answers on it
    ASSERT_GE(other, 0);
    const std::string taken = failed_start(root.path(), "unix:" + live);
    ::close(other);
    EXPECT_NE(taken.find("another process answers on it"), std::string::npos) << taken;
    EXPECT_NE(taken.find("exit=1"), std::string::npos) << taken;
    EXPECT_TRUE(exists(live)) << "a live server's socket file was removed";

    const std::string plain = run.write("data.sock", "not a socket\n");
    const std::string refused = failed_start(root.path(), "unix:" + plain);
    EXPECT_NE(refused.find("the file exists and is not a socket"), std::string::npos) << refused;
    EXPECT_EQ(slurp(plain), "not a socket\n") << "a file that is not a socket was touched";

    const std::string missing = failed_start(root.path(), "unix:" + run.path() + "/no/such/dir/a.sock");
    EXPECT_NE(missing.find("create its directory first"), std::string::npos) << missing;
}

TEST_F(UnixSocket, TrustedProxyUnixBelievesTheProxysHeaders) {
    const std::string socket = run.path() + "/proxied.sock";
    const std::string forwarded = "-H 'X-Forwarded-For: 203.0.113.7' -H 'X-Forwarded-Proto: https'";
    {
        Server server(root.path(), {"--listen", "unix:" + socket, "--trusted-proxy", "unix"});
        const std::string vars = curl_unix(socket, "/vars.php", forwarded);
        EXPECT_TRUE(has(vars, "REMOTE_ADDR=203.0.113.7")) << vars;
        EXPECT_TRUE(has(vars, "HTTPS=on")) << vars;
        // Trusting unix peers trusts no TCP peer.
        RequestOptions options;
        options.headers = {"X-Forwarded-For: 203.0.113.7"};
        const auto tcp = request(server.url("/vars.php"), options);
        EXPECT_TRUE(has(tcp.body, "REMOTE_ADDR=127.0.0.1")) << tcp.body;
    }
    Server untrusting(root.path(), {"--listen", "unix:" + socket, "--trusted-proxy", "127.0.0.1"});
    const std::string vars = curl_unix(socket, "/vars.php", forwarded);
    EXPECT_TRUE(has(vars, "REMOTE_ADDR=unix:")) << vars;
    EXPECT_TRUE(has(vars, "HTTPS")) << vars;
}

// The use it is for: nginx in front, proxying to the socket.
TEST_F(UnixSocket, NginxProxiesToIt) {
    std::filesystem::permissions(run.path(), std::filesystem::perms(0755));  // nginx runs as www-data
    const std::string socket = run.path() + "/askr.sock";
    Server server(root.path(), {"--listen", "unix:" + socket + ",mode=0666", "--trusted-proxy", "unix"});
    const std::string dir = run.mkdir("nginx");
    const std::uint16_t port = php::NginxFpm::free_port();
    std::ofstream(dir + "/nginx.conf")
        << "daemon off;\nworker_processes 1;\nuser www-data www-data;\npid " << dir << "/nginx.pid;\n"
        << "error_log " << dir << "/error.log warn;\nevents { worker_connections 64; }\nhttp {\n"
        << "  access_log off;\n  proxy_temp_path " << dir << "/proxy;\n"
        << "  client_body_temp_path " << dir << "/body;\n"
        << "  upstream askr { server unix:" << socket << "; keepalive 4; }\n"
        << "  server {\n    listen 127.0.0.1:" << port << ";\n    location / {\n"
        << "      proxy_pass http://askr;\n      proxy_http_version 1.1;\n"
        << "      proxy_set_header Connection \"\";\n      proxy_set_header Host $host;\n"
        << "      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
        << "      proxy_set_header X-Forwarded-Proto $scheme;\n    }\n  }\n}\n";
    const pid_t nginx = ::fork();
    if (nginx == 0) {
        std::freopen((dir + "/nginx.out").c_str(), "w", stderr);
        ::execlp("nginx", "nginx", "-c", (dir + "/nginx.conf").c_str(), "-p", (dir + "/").c_str(), nullptr);
        ::_exit(127);
    }
    const std::string url = "http://127.0.0.1:" + std::to_string(port);
    Response vars;
    for (int i = 0; i < 250 && vars.status == 0 && ::waitpid(nginx, nullptr, WNOHANG) == 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        vars = get(url + "/vars.php");
    }
    EXPECT_EQ(vars.status, 200) << vars.error << slurp(dir + "/nginx.out") << slurp(dir + "/error.log");
    // nginx's X-Forwarded-For names the client (this test, on loopback); HTTP, not HTTPS.
    EXPECT_TRUE(has(vars.body, "REMOTE_ADDR=127.0.0.1")) << vars.body;
    EXPECT_TRUE(has(vars.body, "HTTPS")) << vars.body;
    const auto file = get(url + "/hello.txt");
    EXPECT_EQ(file.body, "hello over a unix socket\n");
    ::kill(nginx, SIGQUIT);
    ::waitpid(nginx, nullptr, 0);
}

}  // namespace
}  // namespace askr::test
