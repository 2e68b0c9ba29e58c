// Operating the server: load-following accept without a thundering herd, privilege drop, `askr
// status`.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <sstream>
#include <thread>

#include "harness.hpp"

namespace askr::test {
namespace {

using Clock = std::chrono::steady_clock;

std::string run_command(const std::string& command) {
    return command_output(command);
}

// A slow request pinned on one worker must not delay fast requests from other clients:
// the busy worker stops accepting, so new connections go to the idle one.
TEST(Operations, FastRequestsAreNotQueuedBehindASlowOne) {
    TempDir root;
    root.write("index.php", R"(<?php usleep((int)($_GET['ms'] ?? 0) * 1000); echo getmypid();)");
    const std::string socket = root.path() + "/control.sock";
    Server server(root.path(), {"--workers", "2", "--control-socket", socket});
    auto slow = std::async(std::launch::async, [&] { return request(server.url("/?ms=2500")); });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the slow request is running
    double worst_ms = 0;
    for (int i = 0; i < 20; ++i) {
        const auto start = Clock::now();
        auto fast = get(server.url("/?ms=0"));
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
        EXPECT_EQ(fast.status, 200);
        worst_ms = std::max(worst_ms, ms);
    }
    // Behind the slow request a fast one would take more than 2 s.
    EXPECT_LT(worst_ms, 1000.0) << "a fast request waited behind the slow one\n"
                                << run_command(std::string(ASKR_BINARY) + " status --socket " +
                                               socket + " 2>&1")
                                << server.log();
    auto slow_response = slow.get();
    EXPECT_EQ(slow_response.status, 200);
}

struct WorkerRow {
    std::string pid;
    unsigned requests = 0, connections = 0, wakeups = 0, empty = 0, shed = 0, moved = 0;
};

// The rows of `askr status` (SLOT PID GEN STATE REQUESTS CONNS WAKEUPS EMPTY SHED MOVED ...).
std::vector<WorkerRow> worker_rows(const std::string& socket) {
    std::istringstream table(
        run_command(std::string(ASKR_BINARY) + " status --socket " + socket + " 2>&1"));
    std::vector<WorkerRow> rows;
    for (std::string line; std::getline(table, line);) {
        if (line.empty() || !std::isdigit(static_cast<unsigned char>(line[0]))) continue;
        std::istringstream fields(line);
        std::string slot, generation, state;
        WorkerRow row;
        fields >> slot >> row.pid >> generation >> state >> row.requests >> row.connections >>
            row.wakeups >> row.empty >> row.shed >> row.moved;
        if (fields) rows.push_back(row);
    }
    return rows;
}

// No thundering herd: with every worker waiting, a new connection wakes one of them.
// Without EPOLLEXCLUSIVE each connection would wake all four, three of them for nothing.
TEST(Operations, ANewConnectionWakesOneWorkerNotAll) {
    TempDir root;
    root.write("index.php", "<?php echo 'x';");
    const std::string socket = root.path() + "/control.sock";
    Server server(root.path(), {"--workers", "4", "--control-socket", socket});
    constexpr int connections = 200;
    for (int i = 0; i < connections; ++i) {
        ASSERT_EQ(get(server.url("/")).status, 200);
        std::this_thread::sleep_for(std::chrono::milliseconds(2));  // every worker back waiting
    }
    const auto rows = worker_rows(socket);
    ASSERT_EQ(rows.size(), 4u);
    unsigned wakeups = 0, empty = 0;
    for (const auto& row : rows) {
        wakeups += row.wakeups;
        empty += row.empty;
    }
    EXPECT_GE(wakeups, static_cast<unsigned>(connections)) << "every connection wakes a worker";
    EXPECT_LE(empty, static_cast<unsigned>(connections / 20))
        << "wake-ups that found nothing to accept";
}

// Keep-alive connections stay with the worker that accepted them, so they must be spread
// when they are opened: 32 clients connecting at once end up 16/16, give or take one or
// two, not 26/6 (which left one worker's clients queued while the other idled).
TEST(Operations, KeepAliveConnectionsAreSpreadOverWorkers) {
    TempDir root;
    root.write("index.php", "<?php echo 'x';");
    const std::string socket = root.path() + "/control.sock";
    // The accept rule alone: moving waiting requests (which follows work, not
    // connection counts) is off.
    Server server(root.path(),
                  {"--workers", "2", "--control-socket", socket, "--move-after-us", "0"});
    std::vector<int> clients;
    for (int i = 0; i < 32; ++i) {
        const int fd = connect_loopback(server.port());
        ASSERT_GE(fd, 0);
        clients.push_back(fd);
    }
    const std::string request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int fd : clients)
        ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL),
                  static_cast<ssize_t>(request.size()));
    for (int fd : clients) {
        char buffer[512];
        ASSERT_GT(::recv(fd, buffer, sizeof buffer, 0), 0);  // answered, and still open
    }
    const auto rows = worker_rows(socket);
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0].connections + rows[1].connections, 32u);
    EXPECT_LE(std::max(rows[0].connections, rows[1].connections), 19u)
        << run_command(std::string(ASKR_BINARY) + " status --socket " + socket + " 2>&1");
    for (int fd : clients) ::close(fd);
}

// One response read from a keep-alive connection: its body (the answering worker's pid
// here), "" when the connection failed. Framed by Content-Length.
std::string read_response_body(int fd) {
    std::string in;
    char buffer[4096];
    std::size_t head_end;
    while ((head_end = in.find("\r\n\r\n")) == std::string::npos) {
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) return "";
        in.append(buffer, static_cast<std::size_t>(n));
    }
    const auto length_at = in.find("Content-Length: ");
    if (length_at == std::string::npos || length_at > head_end) return "";
    const std::size_t length = std::stoul(in.substr(length_at + 16));
    while (in.size() < head_end + 4 + length) {
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) return "";
        in.append(buffer, static_cast<std::size_t>(n));
    }
    return in.substr(head_end + 4, length);
}

bool send_all(int fd, const std::string& bytes) {
    return ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
}

// A keep-alive connection stays with the worker that accepted it. When requests queue
// behind each other on that worker while another worker's PHP is idle, the connection
// whose request would wait moves to the idle worker with its request, and stays usable
// there (worker/handoff.hpp). Without that, all four requests below run one after the
// other on the same worker.
TEST(Operations, WaitingRequestsMoveToAnIdleWorker) {
    TempDir root;
    root.write("index.php", R"(<?php usleep((int)($_GET['ms'] ?? 0) * 1000); echo getmypid();)");
    const std::string socket = root.path() + "/control.sock";
    Server server(root.path(), {"--workers", "2", "--control-socket", socket});
    // A slow request keeps one worker busy: four keep-alive connections opened meanwhile
    // all go to the other worker (accept policy), and their first requests run there.
    auto slow = std::async(std::launch::async, [&] { return request(server.url("/?ms=1500")); });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    std::vector<int> clients;
    for (int i = 0; i < 4; ++i) {
        const int fd = connect_loopback(server.port());
        ASSERT_GE(fd, 0);
        clients.push_back(fd);
    }
    std::string first_worker;
    for (int fd : clients) {
        ASSERT_TRUE(send_all(fd, "GET /?ms=50 HTTP/1.1\r\nHost: x\r\n\r\n"));
        const std::string pid = read_response_body(fd);
        ASSERT_FALSE(pid.empty());
        if (first_worker.empty()) first_worker = pid;
        ASSERT_EQ(pid, first_worker) << "the connections were meant to start on one worker\n"
                                     << server.log();
    }
    const std::string slow_worker = slow.get().body;
    ASSERT_NE(slow_worker, first_worker);
    // Now the slow worker is idle: four requests at once on the four connections.
    const auto start = Clock::now();
    for (int fd : clients) ASSERT_TRUE(send_all(fd, "GET /?ms=300 HTTP/1.1\r\nHost: x\r\n\r\n"));
    std::vector<std::string> answered_by;
    for (int fd : clients) answered_by.push_back(read_response_body(fd));
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    const auto moved = std::count(answered_by.begin(), answered_by.end(), slow_worker);
    for (const auto& pid : answered_by)
        EXPECT_TRUE(pid == first_worker || pid == slow_worker) << pid;
    EXPECT_GE(moved, 1) << "no request moved to the idle worker\n"
                        << run_command(std::string(ASKR_BINARY) + " status --socket " + socket +
                                       " 2>&1");
    EXPECT_LT(ms, 1150.0) << "one after the other on one worker they take 1200 ms";
    // The moved connections keep working where they are now.
    for (int fd : clients) {
        ASSERT_TRUE(send_all(fd, "GET /?ms=0 HTTP/1.1\r\nHost: x\r\n\r\n"));
        EXPECT_FALSE(read_response_body(fd).empty());
    }
    const auto rows = worker_rows(socket);
    ASSERT_EQ(rows.size(), 2u);
    // Counted where they left; a connection may also move back (an idle worker asks a
    // busy one for a waiting request), so there can be more moves than answers there.
    EXPECT_GE(rows[0].moved + rows[1].moved, static_cast<unsigned>(moved));
    EXPECT_EQ(rows[0].connections + rows[1].connections, 4u);
    for (int fd : clients) ::close(fd);
}

// The same scene on a PROXY-protocol listener: those connections stay where they are (a
// moved connection's addresses are rebuilt from its socket, which would lose what the
// header said), so every answer still shows the header's client address.
TEST(Operations, ProxyProtocolConnectionsDoNotMove) {
    TempDir root;
    root.write("index.php", R"(<?php usleep((int)($_GET['ms'] ?? 0) * 1000);
echo getmypid(), ' ', $_SERVER['REMOTE_ADDR'];)");
    const std::string socket = root.path() + "/control.sock";
    Server server(root.path(), {"--workers", "2", "--control-socket", socket, "--listen",
                                "127.0.0.1:0,proxy-protocol"});
    ASSERT_NE(server.proxy_port(), 0);
    auto slow = std::async(std::launch::async, [&] { return request(server.url("/?ms=1500")); });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    // Four connections over two workers: at least two share one (usually all four land on
    // the idle worker, but a loaded machine may split them).
    std::map<std::string, std::vector<int>> by_worker;
    std::vector<int> clients;
    for (int i = 0; i < 4; ++i) {
        const int fd = connect_loopback(server.proxy_port());
        ASSERT_GE(fd, 0);
        clients.push_back(fd);
        ASSERT_TRUE(send_all(fd, "PROXY TCP4 203.0.113.7 192.0.2.1 4242 80\r\n"
                                 "GET /?ms=50 HTTP/1.1\r\nHost: x\r\n\r\n"));
        const std::string answer = read_response_body(fd);
        ASSERT_TRUE(answer.ends_with(" 203.0.113.7")) << answer;
        by_worker[answer].push_back(fd);
    }
    slow.get();
    auto crowded = std::max_element(by_worker.begin(), by_worker.end(), [](auto& a, auto& b) {
        return a.second.size() < b.second.size();
    });
    ASSERT_GE(crowded->second.size(), 2u);
    // The other worker is idle now; requests at once on the crowded worker's connections
    // queue there, which would move some of them to it.
    for (int fd : crowded->second)
        ASSERT_TRUE(send_all(fd, "GET /?ms=300 HTTP/1.1\r\nHost: x\r\n\r\n"));
    for (int fd : crowded->second) EXPECT_EQ(read_response_body(fd), crowded->first);
    const auto rows = worker_rows(socket);
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0].moved + rows[1].moved, 0u);
    for (int fd : clients) ::close(fd);
}

// Late binding: a request queued behind a slow one on its worker, at a moment when no
// other worker was idle, moves as soon as another worker's PHP goes idle (that worker
// asks for it) instead of waiting for the slow request to end.
TEST(Operations, AQueuedRequestMovesWhenAnotherWorkerGoesIdle) {
    TempDir root;
    root.write("index.php", R"(<?php usleep((int)($_GET['ms'] ?? 0) * 1000); echo getmypid();)");
    const std::string socket = root.path() + "/control.sock";
    Server server(root.path(), {"--workers", "2", "--control-socket", socket});
    // Worker B runs a 1 s request; two connections opened meanwhile go to worker A.
    const auto start = Clock::now();
    auto busy_b = std::async(std::launch::async, [&] { return request(server.url("/?ms=1000")); });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const int slow = connect_loopback(server.port());
    const int queued = connect_loopback(server.port());
    ASSERT_GE(slow, 0);
    ASSERT_GE(queued, 0);
    ASSERT_TRUE(send_all(slow, "GET /?ms=0 HTTP/1.1\r\nHost: x\r\n\r\n"));
    const std::string worker_a = read_response_body(slow);
    ASSERT_TRUE(send_all(queued, "GET /?ms=0 HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_EQ(read_response_body(queued), worker_a);
    // A starts a 2 s request; the next one queues behind it (B is still busy).
    ASSERT_TRUE(send_all(slow, "GET /?ms=2000 HTTP/1.1\r\nHost: x\r\n\r\n"));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ASSERT_TRUE(send_all(queued, "GET /?ms=0 HTTP/1.1\r\nHost: x\r\n\r\n"));
    const std::string answered_by = read_response_body(queued);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    const std::string worker_b = busy_b.get().body;
    ASSERT_NE(worker_a, worker_b);
    EXPECT_EQ(answered_by, worker_b)
        << run_command(std::string(ASKR_BINARY) + " status --socket " + socket + " 2>&1");
    // B is free at about 1 s; behind A's slow request the answer would come after 2.3 s.
    EXPECT_LT(ms, 1900.0);
    EXPECT_EQ(read_response_body(slow), worker_a);
    ::close(slow);
    ::close(queued);
}

// Late binding without idle workers polling: the other worker has been idle all along
// (when it went idle, nothing waited anywhere). A request queued behind a script that
// only later turns out slow moves there once its wait passes --move-after-us, because
// the busy worker looks again while a request waits. A moved request is counted once,
// by the worker that ran it.
TEST(Operations, ARequestBehindAScriptThatTurnsOutSlowMovesToAWorkerIdleAllAlong) {
    TempDir root;
    root.write("index.php", R"(<?php usleep((int)($_GET['ms'] ?? 0) * 1000); echo getmypid();)");
    const std::string socket = root.path() + "/control.sock";
    // 300 ms: the request sent 50 ms into the slow script does not move on arrival.
    Server server(root.path(),
                  {"--workers", "2", "--move-after-us", "300000", "--control-socket", socket});
    // Worker B runs a 500 ms request while two connections open: they go to worker A.
    auto busy_b = std::async(std::launch::async, [&] { return request(server.url("/?ms=500")); });
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    const int slow = connect_loopback(server.port());
    const int queued = connect_loopback(server.port());
    ASSERT_GE(slow, 0);
    ASSERT_GE(queued, 0);
    ASSERT_TRUE(send_all(slow, "GET /?ms=0 HTTP/1.1\r\nHost: x\r\n\r\n"));
    const std::string worker_a = read_response_body(slow);
    ASSERT_TRUE(send_all(queued, "GET /?ms=0 HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_EQ(read_response_body(queued), worker_a);
    const std::string worker_b = busy_b.get().body;
    ASSERT_NE(worker_a, worker_b);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // B idle, nothing waiting
    ASSERT_TRUE(send_all(slow, "GET /?ms=2000 HTTP/1.1\r\nHost: x\r\n\r\n"));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const auto start = Clock::now();
    ASSERT_TRUE(send_all(queued, "GET /?ms=0 HTTP/1.1\r\nHost: x\r\n\r\n"));
    const std::string answered_by = read_response_body(queued);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    EXPECT_EQ(answered_by, worker_b)
        << run_command(std::string(ASKR_BINARY) + " status --socket " + socket + " 2>&1");
    // It moves about 300 ms into the slow script; behind it, it would wait 1950 ms.
    EXPECT_LT(ms, 1500.0);
    EXPECT_EQ(read_response_body(slow), worker_a);
    // Five requests were sent; each is counted once, where it ran.
    const auto rows = worker_rows(socket);
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0].requests + rows[1].requests, 5u);
    EXPECT_EQ(rows[0].moved + rows[1].moved, 1u);
    ::close(slow);
    ::close(queued);
}

// Context switches a process's threads have made (waiting for something counts one).
unsigned long voluntary_switches(const std::string& pid) {
    unsigned long total = 0;
    std::error_code ec;
    for (const auto& task : std::filesystem::directory_iterator("/proc/" + pid + "/task", ec)) {
        std::ifstream status(task.path() / "status");
        for (std::string line; std::getline(status, line);) {
            if (line.rfind("voluntary_ctxt_switches:", 0) == 0)
                total += std::stoul(line.substr(24));
        }
    }
    return total;
}

// An idle server sleeps: no worker wakes up to look for work (a busy worker hands work
// over by itself, see above), and the master does not poll the worker table. What is
// left: each worker's and the master's once-a-second look at timeouts.
TEST(Operations, AnIdleServerDoesNotWakeUp) {
    TempDir root;
    root.write("index.php", "<?php echo getmypid();");
    const std::string socket = root.path() + "/control.sock";
    Server server(root.path(), {"--workers", "2", "--control-socket", socket});
    ASSERT_EQ(get(server.url("/")).status, 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const auto rows = worker_rows(socket);
    ASSERT_EQ(rows.size(), 2u);
    std::vector<std::string> pids{std::to_string(server.pid())};
    for (const auto& row : rows) pids.push_back(row.pid);
    std::vector<unsigned long> before;
    for (const auto& pid : pids) before.push_back(voluntary_switches(pid));
    std::this_thread::sleep_for(std::chrono::seconds(2));
    for (std::size_t i = 0; i < pids.size(); ++i) {
        // Polling every 10 ms (workers) or 50 ms (master) would be 200 or 40 in these 2 s.
        EXPECT_LE(voluntary_switches(pids[i]) - before[i], 12u)
            << (i == 0 ? "the master " : "worker ") << pids[i] << " woke up while idle";
    }
}

// fastcgi_finish_request(): the client has its response while the script goes on (as
// MediaWiki does with its deferred updates and jobs). Its connection goes on too: the
// next request on it does not wait for the script to end, it moves to the idle worker.
TEST(Operations, TheNextRequestDoesNotWaitForWorkAfterFinishRequest) {
    TempDir root;
    root.write("index.php", R"(<?php
if (($_GET['after'] ?? '') !== '') { echo getmypid(); fastcgi_finish_request(); usleep(1500 * 1000); }
else { echo getmypid(); })");
    Server server(root.path(), {"--workers", "2"});
    const int fd = connect_loopback(server.port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(send_all(fd, "GET /?after=1 HTTP/1.1\r\nHost: x\r\n\r\n"));
    const std::string first = read_response_body(fd);
    ASSERT_FALSE(first.empty());
    const auto start = Clock::now();
    ASSERT_TRUE(send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    const std::string second = read_response_body(fd);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    EXPECT_FALSE(second.empty());
    EXPECT_NE(second, first) << "answered by the worker still running the first script";
    EXPECT_LT(ms, 1000.0)
        << "the second request waited for the first script's work after its response";
    ::close(fd);
}

// Past --max-connections on every worker, a new connection is refused at once with a
// 503 (not left waiting in the backlog), the worker logs it and counts it; once a
// connection closes, new ones are served again.
TEST(Operations, ConnectionsPastTheLimitAreShedWith503) {
    TempDir root;
    root.write("index.php", "<?php echo 'x';");
    const std::string socket = root.path() + "/control.sock";
    Server server(root.path(),
                  {"--workers", "1", "--max-connections", "4", "--control-socket", socket});
    const std::string request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    std::vector<int> held;
    for (int i = 0; i < 4; ++i) {  // four keep-alive clients, each answered and still open
        const int fd = connect_loopback(server.port());
        ASSERT_GE(fd, 0);
        ASSERT_GT(::send(fd, request.data(), request.size(), MSG_NOSIGNAL), 0);
        char buffer[512];
        ASSERT_GT(::recv(fd, buffer, sizeof buffer, 0), 0);
        held.push_back(fd);
    }
    const std::string refused = raw_exchange(server.port(), request, std::chrono::seconds(5));
    EXPECT_EQ(refused.rfind("HTTP/1.1 503 ", 0), 0u) << refused;
    EXPECT_NE(refused.find("Retry-After: 1"), std::string::npos) << refused;
    EXPECT_TRUE(
        server.wait_for_log("connection(s) shed: every worker is at --max-connections (4)"));
    const auto rows = worker_rows(socket);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].connections, 4u);
    EXPECT_EQ(rows[0].shed, 1u);
    ::close(held.back());
    held.pop_back();
    Response after;
    for (int i = 0; i < 50 && after.status != 200; ++i) {  // the worker sees the close first
        after = get(server.url("/"));
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_EQ(after.status, 200);
    for (int fd : held) ::close(fd);
}

TEST(Operations, UserDropsPrivilegesOfPhp) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch users";
    TempDir root;
    root.write("index.php", R"(<?php echo posix_getpwuid(posix_geteuid())['name'];)");
    Server server(root.path(), {"--workers", "1", "--user", "nobody"});
    auto r = get(server.url("/"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "nobody");
    EXPECT_EQ(server.log().find("PHP scripts run as root"), std::string::npos);
}

TEST(Operations, RootWithoutUserIsWarnedAbout) {
    if (::geteuid() != 0) GTEST_SKIP() << "only root gets the warning";
    TempDir root;
    root.write("index.php", "<?php echo 'x';");
    Server server(root.path(), {"--workers", "1"});
    EXPECT_TRUE(server.wait_for_log("PHP scripts run as root"));
}

TEST(Operations, StatusPrintsTheWorkerTable) {
    TempDir root;
    root.write("index.php", "<?php echo 'x';");
    const std::string socket = root.path() + "/control.sock";
    Server server(root.path(), {"--workers", "2", "--control-socket", socket});
    for (int i = 0; i < 10; ++i) EXPECT_EQ(get(server.url("/")).status, 200);
    std::string table;
    // Workers report "idle" once their I/O thread runs.
    for (int i = 0; i < 50 && table.find("idle") == std::string::npos; ++i) {
        table = run_command(std::string(ASKR_BINARY) + " status --socket " + socket + " 2>&1");
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_NE(table.find("master " + std::to_string(server.pid())), std::string::npos) << table;
    EXPECT_NE(table.find("2 worker(s)"), std::string::npos) << table;
    std::size_t rows = 0;
    for (std::size_t at = table.find("idle"); at != std::string::npos;
         at = table.find("idle", at + 1))
        ++rows;
    for (std::size_t at = table.find("busy"); at != std::string::npos;
         at = table.find("busy", at + 1))
        ++rows;
    EXPECT_EQ(rows, 2u) << table;
    EXPECT_EQ(server.stop(), 0);
    // After the stop nobody answers, and the command says so with a non-zero status.
    int status = std::system(
        (std::string(ASKR_BINARY) + " status --socket " + socket + " >/dev/null 2>&1").c_str());
    EXPECT_NE(WEXITSTATUS(status), 0);
}

// max_execution_time must count the PHP thread's own CPU time, not the I/O thread's: each
// worker has a POSIX timer delivering SIGPROF to its PHP (main) thread. Timers do not
// survive fork(), so a timer created only in the zygote would leave the workers on PHP's
// process-wide ITIMER_PROF.
TEST(Operations, ExecutionTimerIsOnTheWorkersPhpThread) {
    TempDir root;
    root.write("index.php", "<?php echo getmypid();");
    Server server(root.path(), {"--workers", "2", "-d", "max_execution_time=5"});
    for (int i = 0; i < 10; ++i) {
        auto r = get(server.url("/"));
        ASSERT_EQ(r.status, 200);
        const std::string pid = r.body;
        std::ifstream timers("/proc/" + pid + "/timers");
        std::stringstream text;
        text << timers.rdbuf();
        EXPECT_NE(text.str().find("signal: 27/"), std::string::npos)
            << "no SIGPROF timer in worker " << pid << ":\n"
            << text.str();
        EXPECT_NE(text.str().find("notify: signal/tid." + pid), std::string::npos)
            << "the timer must target the PHP thread (the worker's main thread):\n"
            << text.str();
    }
}

// Bad command lines end with a message naming the option and exit status 2, never a crash.
TEST(Operations, InvalidOptionsAreClearErrors) {
    TempDir root;
    const std::string askr = std::string(ASKR_BINARY);
    struct Case {
        std::string args, expected;
    } cases[] = {
        {"serve --root " + root.path() + " --listen 127.0.0.1:99999",
         "--listen 127.0.0.1:99999: the port must be"},
        {"serve --root " + root.path() + " --listen nonsense",
         "--listen nonsense: expected HOST:PORT"},
        {"serve --root /nonexistent-askr-root", "--root /nonexistent-askr-root"},
        {"serve --root " + root.path() + " --max-body-size 12X", "--max-body-size"},
        {"serve --root " + root.path() + " --worker /nonexistent/worker.php",
         "--worker /nonexistent/worker.php"},
        {"serve --root " + root.path() + " --cow",
         "needs worker mode: set [worker] script (--worker)"},
        {"serve --root " + root.path() + " --paranoid", "--paranoid true: needs worker mode"},
    };
    for (const auto& c : cases) {
        const std::string output = run_command(askr + " " + c.args + " 2>&1; echo \"exit=$?\"");
        EXPECT_NE(output.find(c.expected), std::string::npos) << c.args << "\n" << output;
        EXPECT_EQ(output.find("terminate"), std::string::npos) << c.args << "\n" << output;
        const bool status_ok = output.find("exit=2") != std::string::npos ||
                               output.find("exit=105") != std::string::npos ||
                               output.find("exit=106") != std::string::npos;
        EXPECT_TRUE(status_ok) << c.args << "\n" << output;
    }
}

}  // namespace
}  // namespace askr::test
