// The process model (docs/architecture.md, "Processes") as an operator sees it: how many
// processes run and who their parent is, one opcache per generation, a killed worker
// replaced under load, --max-requests recycling, SIGHUP rolling reloads (also a broken
// one), SIGTERM drain, SIGQUIT fast stop and a worker crash loop. Every test runs a
// bounded load (a few threads, a few seconds) and counts failed requests.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

// Loads are described with designated initializers that leave the other LoadOptions
// fields at their defaults on purpose; GCC 12's -Wextra flags every such omission.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace askr::test::process_model {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

double ms_between(Clock::time_point from, Clock::time_point to) {
    return std::chrono::duration<double, std::milli>(to - from).count();
}

// ---------------------------------------------------------------------------------------
// /proc: the server's processes.

struct ProcessInfo {
    pid_t pid = 0;
    pid_t ppid = 0;
    std::string comm;
};

// /proc/PID/stat is "pid (comm) state ppid ..."; comm may hold spaces (": ") and ')'.
std::optional<ProcessInfo> process_info(pid_t pid) {
    const std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
    const auto open = stat.find('(');
    const auto close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close < open)
        return std::nullopt;
    ProcessInfo info;
    info.pid = pid;
    info.comm = stat.substr(open + 1, close - open - 1);
    std::istringstream rest(stat.substr(close + 1));
    std::string state;
    rest >> state >> info.ppid;
    if (state == "Z") return std::nullopt;  // a zombie is not a running process
    return info;
}

std::vector<ProcessInfo> children_of(pid_t parent) {
    std::vector<ProcessInfo> out;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator("/proc", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
        const std::string name = it->path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        auto info = process_info(static_cast<pid_t>(std::stol(name)));
        if (info && info->ppid == parent) out.push_back(*info);
    }
    return out;
}

std::set<pid_t> children_named(pid_t parent, const std::string& comm) {
    std::set<pid_t> out;
    for (const auto& c : children_of(parent)) {
        if (c.comm == comm) out.insert(c.pid);
    }
    return out;
}

std::set<pid_t> workers_of(pid_t master) {
    return children_named(master, "askr: worker");
}
std::set<pid_t> zygotes_of(pid_t master) {
    return children_named(master, "askr: zygote");
}

bool alive(pid_t pid) {
    return process_info(pid).has_value();
}

// At the end of a test: the master is still running. (A master that exited on its own
// with status 0 would pass the harness's SIGTERM check as a zombie.)
void expect_master_running(const Server& server) {
    EXPECT_TRUE(alive(server.pid())) << "the master is gone:\n" << server.log();
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds step = 10ms) {
    const auto until = Clock::now() + timeout;
    do {
        if (condition()) return true;
        std::this_thread::sleep_for(step);
    } while (Clock::now() < until);
    return condition();
}

// Waits until the master has exactly `count` workers (and one zygote) for 300 ms in a row:
// a stable state, not a moment in the middle of a replacement.
bool wait_for_steady_workers(pid_t master, std::size_t count,
                             std::chrono::milliseconds timeout = 10s) {
    const auto until = Clock::now() + timeout;
    std::optional<Clock::time_point> steady_since;
    while (Clock::now() < until) {
        const bool ok = workers_of(master).size() == count && zygotes_of(master).size() == 1;
        if (!ok) {
            steady_since.reset();
        } else if (!steady_since) {
            steady_since = Clock::now();
        } else if (Clock::now() - *steady_since >= 300ms) {
            return true;
        }
        std::this_thread::sleep_for(20ms);
    }
    return false;
}

// User + system CPU time of a process, from /proc/PID/stat fields 14 and 15.
double cpu_seconds(pid_t pid) {
    const std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
    const auto close = stat.rfind(')');
    if (close == std::string::npos) return -1;
    std::istringstream rest(stat.substr(close + 2));
    std::vector<std::string> fields;
    for (std::string f; rest >> f;) fields.push_back(f);
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    if (fields.size() < 13) return -1;
    const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
    return (std::stod(fields[11]) + std::stod(fields[12])) / ticks;
}

std::size_t count_occurrences(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
    return n;
}

// Log lines containing `needle`, for failure messages.
std::string lines_with(const std::string& text, const std::string& needle) {
    std::istringstream in(text);
    std::string out;
    for (std::string line; std::getline(in, line);) {
        if (line.find(needle) != std::string::npos) out += line + "\n";
    }
    return out;
}

std::string current_user_name() {
    const passwd* pw = ::getpwuid(::geteuid());
    return pw ? pw->pw_name : "root";
}

// ---------------------------------------------------------------------------------------
// Clients: a keep-alive HTTP/1.1 client on a raw socket (libcurl in the harness opens a
// fresh connection per request).

struct Outcome {
    Clock::time_point started;
    Clock::time_point finished;
    int status = 0;  // 0: transport error
    std::string body;
    std::string error;
    bool keep_alive = false;  // sent on a kept-alive connection client
};

class KeepAliveClient {
  public:
    explicit KeepAliveClient(std::uint16_t port) : port_(port) {}
    ~KeepAliveClient() { disconnect(); }
    KeepAliveClient(const KeepAliveClient&) = delete;
    KeepAliveClient& operator=(const KeepAliveClient&) = delete;

    /// Connections dropped by the server between two requests, before any byte of the
    /// response, on which the request was sent again on a new connection (RFC 9112
    /// section 9.3.1 lets a client retry an idempotent request then, as curl and browsers
    /// do). Counted so that the tests can report them.
    int stale_retries = 0;

    Outcome get(const std::string& path) {
        Outcome outcome;
        outcome.started = Clock::now();
        outcome.keep_alive = true;
        for (int attempt = 0; attempt < 2; ++attempt) {
            const bool reused = fd_ >= 0 && responses_on_connection_ > 0;
            if (fd_ < 0 && !connect_()) {
                outcome.error = "connect failed";
                break;
            }
            bool nothing_received = false;
            if (exchange(path, outcome, nothing_received)) break;
            disconnect();
            if (!(reused && nothing_received)) break;  // a real failure
            ++stale_retries;
            outcome.error.clear();
        }
        outcome.finished = Clock::now();
        return outcome;
    }

  private:
    bool connect_() {
        fd_ = connect_loopback(port_);
        if (fd_ < 0) return false;
        buffer_.clear();
        responses_on_connection_ = 0;
        return true;
    }

    void disconnect() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

    // Reads more bytes into buffer_; false on EOF, error or 10 s of silence.
    bool fill() {
        pollfd pfd{fd_, POLLIN, 0};
        if (::poll(&pfd, 1, 10000) <= 0) return false;
        char chunk[16384];
        ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
        if (n <= 0) return false;
        buffer_.append(chunk, static_cast<std::size_t>(n));
        return true;
    }

    bool exchange(const std::string& path, Outcome& outcome, bool& nothing_received) {
        const std::string request =
            "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: askr-e2e\r\n\r\n";
        if (::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) !=
            static_cast<ssize_t>(request.size())) {
            nothing_received = true;
            outcome.error = "send failed";
            return false;
        }
        std::size_t header_end;
        while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
            if (!fill()) {
                nothing_received = buffer_.empty();
                outcome.error = buffer_.empty() ? "closed before the response"
                                                : "closed in the response headers";
                return false;
            }
        }
        const std::string head = buffer_.substr(0, header_end + 2);
        buffer_.erase(0, header_end + 4);
        if (head.rfind("HTTP/1.", 0) != 0 || head.size() < 12) {
            outcome.error = "not an HTTP response";
            return false;
        }
        const int status = std::atoi(head.c_str() + 9);
        std::string lower = head;
        for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        const bool close_after = lower.find("\r\nconnection: close\r\n") != std::string::npos;
        std::string body;
        if (lower.find("\r\ntransfer-encoding: chunked\r\n") != std::string::npos) {
            for (;;) {
                std::size_t line_end;
                while ((line_end = buffer_.find("\r\n")) == std::string::npos) {
                    if (!fill()) return fail(outcome, "closed in a chunk size");
                }
                const std::size_t size = std::stoul(buffer_.substr(0, line_end), nullptr, 16);
                buffer_.erase(0, line_end + 2);
                while (buffer_.size() < size + 2) {
                    if (!fill()) return fail(outcome, "closed in a chunk");
                }
                body.append(buffer_, 0, size);
                buffer_.erase(0, size + 2);
                if (size == 0) break;  // no trailers are expected here
            }
        } else if (auto at = lower.find("\r\ncontent-length:"); at != std::string::npos) {
            const std::size_t length = std::stoul(lower.substr(at + 17));
            while (buffer_.size() < length) {
                if (!fill()) return fail(outcome, "closed in the body");
            }
            body = buffer_.substr(0, length);
            buffer_.erase(0, length);
        } else {
            while (fill()) {
            }
            body = std::move(buffer_);
            buffer_.clear();
            disconnect();
        }
        outcome.status = status;
        outcome.body = std::move(body);
        ++responses_on_connection_;
        if (close_after) disconnect();
        return true;
    }

    static bool fail(Outcome& outcome, const char* why) {
        outcome.error = why;
        return false;
    }

    std::uint16_t port_;
    int fd_ = -1;
    std::string buffer_;
    int responses_on_connection_ = 0;
};

// A bounded load: `fresh` threads using libcurl (a new connection per request) and
// `kept` threads on keep-alive connections, each sending up to `per_thread` requests for
// at most `duration`, with `pause` between requests (the machine is shared).
struct LoadOptions {
    std::string path = "/";
    int fresh = 2;
    int kept = 1;
    int per_thread = 100000;
    std::chrono::milliseconds duration = 5s;
    std::chrono::milliseconds pause = 1ms;
    long timeout_ms = 10000;
};

class Load {
  public:
    Load(const Server& server, LoadOptions options) : options_(std::move(options)) {
        const std::string url = server.url(options_.path);
        const auto until = Clock::now() + options_.duration;
        const std::uint16_t port = server.port();
        for (int i = 0; i < options_.fresh + options_.kept; ++i) {
            const bool kept = i >= options_.fresh;
            threads_.emplace_back([this, url, port, until, kept] {
                std::optional<KeepAliveClient> client;
                if (kept) client.emplace(port);
                std::vector<Outcome> mine;
                for (int n = 0; n < options_.per_thread && !stop_ && Clock::now() < until; ++n) {
                    Outcome o;
                    if (kept) {
                        o = client->get(options_.path);
                    } else {
                        o.started = Clock::now();
                        RequestOptions request_options;
                        request_options.timeout_ms = options_.timeout_ms;
                        auto r = request(url, request_options);
                        o.finished = Clock::now();
                        o.status = static_cast<int>(r.status);
                        o.body = std::move(r.body);
                        o.error = std::move(r.error);
                    }
                    mine.push_back(std::move(o));
                    if (options_.pause.count() > 0) std::this_thread::sleep_for(options_.pause);
                }
                std::lock_guard lock(mutex_);
                outcomes_.insert(outcomes_.end(), std::make_move_iterator(mine.begin()),
                                 std::make_move_iterator(mine.end()));
                if (client) stale_retries_ += client->stale_retries;
            });
        }
    }
    ~Load() { finish(); }

    /// Stops sending and waits for the threads.
    const std::vector<Outcome>& finish() {
        stop_ = true;
        return join();
    }

    /// Waits until every thread has sent its requests (or its time is up).
    const std::vector<Outcome>& join() {
        for (auto& t : threads_) {
            if (t.joinable()) t.join();
        }
        std::sort(outcomes_.begin(), outcomes_.end(),
                  [](const Outcome& a, const Outcome& b) { return a.started < b.started; });
        return outcomes_;
    }

    int clients() const { return options_.fresh + options_.kept; }
    int stale_retries() const { return stale_retries_; }

  private:
    LoadOptions options_;
    std::atomic<bool> stop_{false};
    std::vector<std::thread> threads_;
    std::mutex mutex_;
    std::vector<Outcome> outcomes_;
    int stale_retries_ = 0;
};

bool failed(const Outcome& o) {
    return o.status != 200;
}

std::size_t count_failed(const std::vector<Outcome>& outcomes) {
    return static_cast<std::size_t>(std::count_if(outcomes.begin(), outcomes.end(), failed));
}

std::string describe_failures(const std::vector<Outcome>& outcomes, Clock::time_point origin) {
    std::string out;
    int shown = 0;
    for (const auto& o : outcomes) {
        if (!failed(o) || ++shown > 10) continue;
        out += "  started at +" + std::to_string(static_cast<long>(ms_between(origin, o.started))) +
               " ms, " + (o.keep_alive ? "keep-alive" : "fresh connection") + ": status " +
               std::to_string(o.status) + " " + o.error + " " + o.body.substr(0, 80) + "\n";
    }
    return out;
}

// The index.php of the load tests: answers "PID" (or "TAG|PID"), after `usleep_us`.
std::string pid_script(const std::string& tag = "", int usleep_us = 0) {
    std::string script = "<?php ";
    if (usleep_us > 0) script += "usleep(" + std::to_string(usleep_us) + "); ";
    script += tag.empty() ? "echo getmypid();" : "echo '" + tag + "|', getmypid();";
    return script;
}

// ---------------------------------------------------------------------------------------

// `--workers 3`: three worker processes, each a child of the master (double-forked
// through the zygote, adopted by the master as subreaper), and one zygote which itself
// has no child left (no intermediate process, no zombie).
TEST(ProcessModel, WorkerCountAndParentage) {
    TempDir root;
    root.write("index.php", pid_script());
    Server server(root.path(), {"--workers", "3"});
    ASSERT_TRUE(wait_for_steady_workers(server.pid(), 3))
        << "workers: " << workers_of(server.pid()).size()
        << ", zygotes: " << zygotes_of(server.pid()).size();

    const auto workers = workers_of(server.pid());
    const auto zygotes = zygotes_of(server.pid());
    EXPECT_EQ(workers.size(), 3u);
    ASSERT_EQ(zygotes.size(), 1u);
    // Nothing else hangs off the master, and the zygote keeps no child around.
    std::string others;
    for (const auto& c : children_of(server.pid())) {
        if (!workers.contains(c.pid) && !zygotes.contains(c.pid))
            others += std::to_string(c.pid) + " " + c.comm + "\n";
    }
    EXPECT_EQ(others, "") << "unexpected children of the master";
    EXPECT_TRUE(children_of(*zygotes.begin()).empty()) << "the zygote has children";
    // The master itself is named so that ps shows the roles.
    EXPECT_EQ(process_info(server.pid())->comm, "askr: master");

    // And the three of them serve.
    std::set<std::string> served;
    for (int i = 0; i < 60 && served.size() < 2; ++i) {
        auto r = get(server.url("/"));
        EXPECT_EQ(r.status, 200);
        served.insert(r.body);
    }
    for (const auto& pid : served)
        EXPECT_TRUE(workers.contains(std::stoi(pid))) << pid << " is not a worker";
    expect_master_running(server);
}

// The supervisor logs what it does: an operator reading the log after a replacement
// wants to know which process now serves ("worker started/exited (with
// reason)").
TEST(ProcessModel, LogNamesEveryWorkerStarted) {
    TempDir root;
    root.write("index.php", pid_script());
    Server server(root.path(), {"--workers", "2"});
    server.allow_error("killed by signal 9");
    server.allow_error("worker crash loop");  // it dies young: not what this test is about
    ASSERT_TRUE(wait_for_steady_workers(server.pid(), 2));
    const auto before = workers_of(server.pid());
    ::kill(*before.begin(), SIGKILL);
    ASSERT_TRUE(wait_until(
        [&] { return server.log().find("killed by signal 9") != std::string::npos; }, 5s));
    ASSERT_TRUE(wait_for_steady_workers(server.pid(), 2));
    const std::string log = server.log();
    for (pid_t pid : workers_of(server.pid())) {
        EXPECT_NE(log.find(std::to_string(pid)), std::string::npos)
            << "worker " << pid << " serves but the log never names it:\n"
            << log;
    }
    expect_master_running(server);
}

// One opcache per generation: a script compiled by one worker is a cache hit in the
// other, and the number of cached scripts does not multiply by the number of workers.
TEST(ProcessModel, OpcacheIsSharedByTheWorkers) {
    TempDir root;
    for (const char* name : {"a.php", "b.php", "c.php"}) root.write(name, pid_script("", 20000));
    root.write("once.php", pid_script());
    // Each worker's own view of the cache: its pid, the number of cached scripts and
    // whether once.php is among them.
    root.write("stats.php", R"(<?php
        usleep(20000);
        $s = opcache_get_status(true);
        $names = array_map('basename', array_keys($s['scripts']));
        sort($names);
        echo getmypid(), '|', $s['opcache_statistics']['num_cached_scripts'], '|', implode(',', $names);)");
    // file_update_protection: scripts written a moment ago would not be cached at all.
    Server server(root.path(), {"--workers", "2", "-d", "opcache.file_update_protection=0"});
    ASSERT_TRUE(wait_for_steady_workers(server.pid(), 2));

    // once.php runs exactly once, on one worker.
    auto once = get(server.url("/once.php"));
    ASSERT_EQ(once.status, 200);
    const std::string once_pid = once.body;

    // a, b and c (20 ms each) from two clients at a time, until each ran on both workers
    // (a busy worker takes no new connection, so two clients spread over the two).
    std::map<std::string, std::set<std::string>> pids_by_script;
    std::map<std::string, std::string> stats_by_pid;
    for (int round = 0; round < 60; ++round) {
        bool done = stats_by_pid.size() >= 2;
        for (const char* name : {"a.php", "b.php", "c.php"})
            done = done && pids_by_script[name].size() >= 2;
        if (done) break;
        for (const char* name : {"a.php", "b.php", "c.php", "stats.php"}) {
            auto first = std::async(std::launch::async,
                                    [&] { return get(server.url(std::string("/") + name)); });
            auto second = get(server.url(std::string("/") + name));
            for (const auto& r : {first.get(), second}) {
                ASSERT_EQ(r.status, 200) << name << ": " << r.error << "\n" << server.log();
                if (std::string(name) == "stats.php") {
                    const std::string pid = r.body.substr(0, r.body.find('|'));
                    stats_by_pid[pid] = r.body.substr(r.body.find('|') + 1);
                } else {
                    pids_by_script[name].insert(r.body);
                }
            }
        }
    }
    for (const char* name : {"a.php", "b.php", "c.php"}) {
        EXPECT_EQ(pids_by_script[name].size(), 2u) << name << " did not run on both workers";
    }
    ASSERT_EQ(stats_by_pid.size(), 2u) << "stats.php did not run on both workers";
    // Read the statistics once more from both workers, now that every script ran.
    stats_by_pid.clear();
    for (int i = 0; i < 40 && stats_by_pid.size() < 2; ++i) {
        auto first = std::async(std::launch::async, [&] { return get(server.url("/stats.php")); });
        auto second = get(server.url("/stats.php"));
        for (const auto& r : {first.get(), second}) {
            ASSERT_EQ(r.status, 200) << r.error << "\n" << server.log();
            stats_by_pid[r.body.substr(0, r.body.find('|'))] = r.body.substr(r.body.find('|') + 1);
        }
    }
    // 5 distinct scripts ran; shared, both workers see the same 5 (separate caches would
    // each hold only what that worker compiled: once.php in one of them only).
    for (const auto& [pid, stats] : stats_by_pid) {
        EXPECT_EQ(stats, "5|a.php,b.php,c.php,once.php,stats.php")
            << "worker " << pid << " (once.php ran on " << once_pid << ")";
    }
    expect_master_running(server);
}

// kill -9 of a worker under load: a replacement is forked at once, and the only failed
// requests are those that were on the killed worker when it died.
TEST(ProcessModel, KilledWorkerIsReplacedUnderLoad) {
    TempDir root;
    root.write("index.php", pid_script("", 2000));
    Server server(root.path(), {"--workers", "2"});
    server.allow_error("killed by signal 9 (SIGKILL); restarting");
    ASSERT_TRUE(wait_for_steady_workers(server.pid(), 2));
    const auto before = workers_of(server.pid());

    const auto started = Clock::now();
    Load load(server, {.path = "/", .fresh = 2, .kept = 1, .per_thread = 5000, .duration = 3300ms});
    // A worker that has run for a while (a death within 2 s of the start counts towards
    // a crash loop, tested below).
    std::this_thread::sleep_for(2200ms - (Clock::now() - started));
    const pid_t victim = *before.begin();
    const auto killed_at = Clock::now();
    ASSERT_EQ(::kill(victim, SIGKILL), 0);
    std::optional<pid_t> replacement;
    Clock::time_point replaced_at;
    wait_until(
        [&] {
            for (pid_t pid : workers_of(server.pid())) {
                if (!before.contains(pid)) {
                    replacement = pid;
                    replaced_at = Clock::now();
                    return true;
                }
            }
            return false;
        },
        3s, 1ms);
    ASSERT_TRUE(replacement) << "no new worker after the kill:\n" << server.log();
    const double to_process_ms = ms_between(killed_at, replaced_at);
    const auto& outcomes = load.join();  // another second of load with the replacement

    // The first response the new worker served ("ready" as a client sees it).
    std::optional<double> to_first_response_ms;
    for (const auto& o : outcomes) {
        if (o.status == 200 && o.body == std::to_string(*replacement)) {
            const double ms = ms_between(killed_at, o.finished);
            if (!to_first_response_ms || ms < *to_first_response_ms) to_first_response_ms = ms;
        }
    }
    std::map<std::string, int> served_after;
    for (const auto& o : outcomes) {
        if (o.started > replaced_at) ++served_after[o.status == 200 ? o.body : "failed"];
    }
    for (const auto& [pid, n] : served_after)
        std::printf("[ measure  ] after the replacement: %s served %d\n", pid.c_str(), n);
    std::printf(
        "[ measure  ] kill -9 -> replacement worker in /proc: %.1f ms; -> its first response: %s "
        "ms; "
        "requests %zu, failed %zu, keep-alive retries %d\n",
        to_process_ms,
        to_first_response_ms ? std::to_string(*to_first_response_ms).c_str() : "(none)",
        outcomes.size(), count_failed(outcomes), load.stale_retries());
    EXPECT_LT(to_process_ms, 1000.0) << "the replacement took too long:\n" << server.log();

    // Only requests in flight on the victim may fail: at most one per client, and none
    // that started after the kill.
    EXPECT_LE(count_failed(outcomes), static_cast<std::size_t>(load.clients()))
        << describe_failures(outcomes, killed_at);
    for (const auto& o : outcomes) {
        if (o.started > killed_at) {
            EXPECT_FALSE(failed(o)) << "a request started " << ms_between(killed_at, o.started)
                                    << " ms after the kill failed: " << o.status << " " << o.error;
        }
    }
    EXPECT_GT(outcomes.size(), 100u) << "the load hardly ran";
    EXPECT_EQ(count_occurrences(server.log(), "worker " + std::to_string(victim) +
                                                  " (generation 1) killed by signal 9"),
              1u)
        << server.log();
    EXPECT_TRUE(wait_for_steady_workers(server.pid(), 2));
    expect_master_running(server);
}

// --max-requests 50 under load (keep-alive and fresh connections): workers recycle
// many times, and not one request fails because of it.
TEST(ProcessModel, MaxRequestsRecyclesWithoutFailedRequests) {
    TempDir root;
    root.write("index.php", pid_script());
    Server server(root.path(), {"--workers", "2", "--max-requests", "50"});
    ASSERT_TRUE(wait_for_steady_workers(server.pid(), 2));
    const auto start = Clock::now();
    Load load(
        server,
        {.path = "/", .fresh = 2, .kept = 2, .per_thread = 500, .duration = 15s, .pause = 0ms});
    const auto& outcomes = load.join();
    std::set<std::string> pids;
    for (const auto& o : outcomes) {
        if (o.status == 200) pids.insert(o.body);
    }
    const std::string log = server.log();
    const std::size_t recycled = count_occurrences(log, " recycled after ");
    std::printf(
        "[ measure  ] --max-requests 50: %zu requests in %.0f ms, failed %zu, keep-alive retries "
        "%d, "
        "%zu worker pids, %zu recycled\n",
        outcomes.size(), ms_between(start, Clock::now()), count_failed(outcomes),
        load.stale_retries(), pids.size(), recycled);
    EXPECT_EQ(outcomes.size(), 2000u);
    EXPECT_EQ(count_failed(outcomes), 0u) << describe_failures(outcomes, start) << log;
    // 2000 requests / (50..55 per worker): about 36 recycles.
    EXPECT_GE(recycled, 20u) << log;
    EXPECT_GE(pids.size(), 20u);
    // No worker served much more than its limit: +10% grace, plus one more request on
    // each other keep-alive connection it had (answered with Connection: close).
    std::regex served(R"(recycled after (\d+) requests)");
    for (auto it = std::sregex_iterator(log.begin(), log.end(), served);
         it != std::sregex_iterator(); ++it) {
        const int n = std::stoi((*it)[1]);
        EXPECT_GE(n, 50);
        EXPECT_LE(n, 55 + 4);
    }
    EXPECT_TRUE(wait_for_steady_workers(server.pid(), 2));
    expect_master_running(server);
}

// SIGHUP under load: zero failed requests, the new code is served afterwards even with
// opcache.validate_timestamps=0 (a fresh opcache), the zygote changed; two more SIGHUPs
// during a reload are coalesced into one more reload.
TEST(ProcessModel, ReloadUnderLoadServesNewCodeWithoutFailures) {
    TempDir root;
    root.write("index.php", pid_script("v1", 1000));
    Server server(root.path(), {"--workers", "2", "-d", "opcache.validate_timestamps=0", "-d",
                                "opcache.file_update_protection=0"});
    ASSERT_TRUE(wait_for_steady_workers(server.pid(), 2));
    const auto zygote_before = zygotes_of(server.pid());
    const auto workers_before = workers_of(server.pid());

    Load load(
        server,
        {.path = "/", .fresh = 2, .kept = 1, .per_thread = 5000, .duration = 6s, .pause = 2ms});
    std::this_thread::sleep_for(300ms);
    // The new code is on disk, but the cache (no timestamp checks) keeps serving v1...
    root.write("index.php", pid_script("v2", 1000));
    std::this_thread::sleep_for(100ms);
    auto still_old = get(server.url("/"));
    EXPECT_EQ(still_old.body.substr(0, 3), "v1|")
        << "opcache did not keep the old code: the test proves nothing";
    // ...until a reload gives a new generation with a fresh opcache.
    const auto hup_at = Clock::now();
    ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
    ASSERT_TRUE(server.wait_for_log("reload finished: generation 2", 10s)) << server.log();
    const auto reloaded_at = Clock::now();
    std::printf("[ measure  ] SIGHUP -> reload finished seen: %.0f ms\n",
                ms_between(hup_at, reloaded_at));
    std::this_thread::sleep_for(300ms);

    // Two more SIGHUPs while the next reload runs: coalesced into exactly one more.
    ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
    ASSERT_TRUE(server.wait_for_log("SIGHUP: reload started (generation 3)", 5s));
    ::kill(server.pid(), SIGHUP);
    std::this_thread::sleep_for(2ms);
    ::kill(server.pid(), SIGHUP);
    ASSERT_TRUE(server.wait_for_log("reload finished: generation 4", 10s)) << server.log();
    const auto second_reload_done = Clock::now();
    std::this_thread::sleep_for(500ms);
    const auto& outcomes = load.finish();

    std::size_t during_first = 0, during_all = 0;
    for (const auto& o : outcomes) {
        if (o.started >= hup_at && o.started <= reloaded_at) ++during_first;
        if (o.started >= hup_at && o.started <= second_reload_done) ++during_all;
    }
    std::printf(
        "[ measure  ] reload under load: %zu requests during the first reload, %zu during all "
        "three "
        "reloads, %zu in total, failed %zu, keep-alive retries %d\n",
        during_first, during_all, outcomes.size(), count_failed(outcomes), load.stale_retries());
    EXPECT_EQ(count_failed(outcomes), 0u) << describe_failures(outcomes, hup_at);
    EXPECT_GT(during_first, 20u) << "the load hardly ran during the reload";

    // Requests started before the SIGHUP were served by v1, those started after the
    // reload finished by v2 (every old worker had exited by then).
    for (const auto& o : outcomes) {
        if (failed(o)) continue;
        if (o.finished < hup_at) {
            EXPECT_EQ(o.body.substr(0, 3), "v1|");
        }
        if (o.started > reloaded_at) {
            EXPECT_EQ(o.body.substr(0, 3), "v2|") << "old code after the reload";
        }
    }
    const std::string log = server.log();
    EXPECT_GE(count_occurrences(log, "another will follow it"), 1u)
        << "the SIGHUPs during a reload were not coalesced:\n"
        << log;
    EXPECT_EQ(log.find("generation 5"), std::string::npos) << "three SIGHUPs made four reloads:\n"
                                                           << log;
    EXPECT_EQ(count_occurrences(log, "reload finished"), 3u) << log;

    ASSERT_TRUE(wait_for_steady_workers(server.pid(), 2))
        << "not exactly 2 workers after the reloads";
    const auto zygote_after = zygotes_of(server.pid());
    EXPECT_NE(zygote_after, zygote_before) << "the zygote did not change";
    for (pid_t pid : workers_of(server.pid()))
        EXPECT_FALSE(workers_before.contains(pid)) << "an old worker remains";
    for (pid_t pid : zygote_before) EXPECT_FALSE(alive(pid)) << "the first zygote is still running";
    EXPECT_EQ(get(server.url("/")).body.substr(0, 3), "v2|");
    expect_master_running(server);
}

// A new generation that cannot start (syntax error in the preloaded file) leaves the
// old generation serving, and the log says why; fixing the file and SIGHUP again works.
TEST(ProcessModel, BrokenNewGenerationKeepsTheOldOneServing) {
    TempDir root;
    const std::string preload =
        root.write("preload.php", "<?php function preloaded_version() { return 'p1'; }\n");
    root.write("index.php", "<?php echo preloaded_version(), '|', getmypid();");
    Server server(root.path(), {"--workers", "2", "-d", "opcache.preload=" + preload, "-d",
                                "opcache.preload_user=" + current_user_name()});
    server.allow_error("preload.php");
    server.allow_error("generation 2: PHP failed to start");
    server.allow_error("generation 2: zygote");
    server.allow_error("reload failed");
    ASSERT_TRUE(wait_for_steady_workers(server.pid(), 2));
    ASSERT_EQ(get(server.url("/")).body.substr(0, 3), "p1|")
        << "preload did not run: " << server.log();
    const auto zygote_before = zygotes_of(server.pid());
    const auto workers_before = workers_of(server.pid());

    Load load(
        server,
        {.path = "/", .fresh = 2, .kept = 1, .per_thread = 5000, .duration = 6s, .pause = 2ms});
    std::this_thread::sleep_for(200ms);
    root.write("preload.php", "<?php function preloaded_version() { return 'p2' \n");
    const auto hup_at = Clock::now();
    ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
    ASSERT_TRUE(server.wait_for_log("reload failed", 10s)) << server.log();
    std::this_thread::sleep_for(500ms);
    auto after = get(server.url("/"));
    EXPECT_EQ(after.status, 200);
    EXPECT_EQ(after.body.substr(0, 3), "p1|");
    // The same processes serve: nothing was retired for the failed generation.
    EXPECT_EQ(workers_of(server.pid()), workers_before);
    EXPECT_EQ(zygotes_of(server.pid()), zygote_before);
    const std::string log = server.log();
    EXPECT_NE(log.find("Parse error"), std::string::npos) << "the log does not say why:\n" << log;
    EXPECT_NE(log.find("preload.php"), std::string::npos) << log;
    EXPECT_EQ(log.find("reload finished"), std::string::npos) << log;

    // Fixed: the next SIGHUP reloads.
    root.write("preload.php", "<?php function preloaded_version() { return 'p3'; }\n");
    ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
    ASSERT_TRUE(server.wait_for_log("reload finished: generation 3", 10s)) << server.log();
    const auto reloaded_at = Clock::now();
    std::this_thread::sleep_for(200ms);
    const auto& outcomes = load.finish();
    std::printf("[ measure  ] failed reload then reload under load: %zu requests, failed %zu\n",
                outcomes.size(), count_failed(outcomes));
    EXPECT_EQ(count_failed(outcomes), 0u) << describe_failures(outcomes, hup_at) << server.log();
    for (const auto& o : outcomes) {
        if (!failed(o) && o.started > reloaded_at) {
            EXPECT_EQ(o.body.substr(0, 3), "p3|");
        }
    }
    EXPECT_EQ(get(server.url("/")).body.substr(0, 3), "p3|");
    EXPECT_TRUE(wait_for_steady_workers(server.pid(), 2));
    expect_master_running(server);
}

// SIGTERM drains: a request already running completes with its whole body, then the
// master exits 0 and no process of the server is left.
TEST(ProcessModel, SigtermDrainsAnInFlightSlowRequest) {
    TempDir root;
    // The script says how long it slept: a stop signal must not cut a request short.
    root.write("slow.php", R"(<?php
        $t = microtime(true);
        usleep(1500000);
        echo str_repeat('x', 100000), 'slept ', (int)((microtime(true) - $t) * 1000);)");
    Server server(root.path(), {"--workers", "2"});
    ASSERT_TRUE(wait_for_steady_workers(server.pid(), 2));
    auto processes = workers_of(server.pid());
    processes.merge(zygotes_of(server.pid()));

    const auto start = Clock::now();
    auto slow = std::async(std::launch::async, [&] { return get(server.url("/slow.php")); });
    std::this_thread::sleep_for(200ms);
    const int status = server.stop(SIGTERM);
    const auto stopped = Clock::now();
    auto response = slow.get();
    EXPECT_EQ(status, 0) << server.log();
    EXPECT_EQ(response.status, 200) << response.error;
    ASSERT_GT(response.body.size(), 100000u);
    EXPECT_EQ(response.body.find_first_not_of('x'), 100000u);
    const std::string slept = response.body.substr(100000);
    EXPECT_GE(std::atoi(slept.c_str() + 6), 1450)
        << "the drain cut the script's sleep short: " << slept;
    // It waited for the request, and not much longer.
    EXPECT_GE(ms_between(start, stopped), 1400.0);
    EXPECT_LT(ms_between(start, stopped), 4000.0);
    for (pid_t pid : processes)
        EXPECT_FALSE(alive(pid)) << "process " << pid << " outlived the master";
    EXPECT_NE(server.log().find("stopped"), std::string::npos);
}

// SIGQUIT stops at once, even with a slow request in flight, and leaves nothing behind.
TEST(ProcessModel, SigquitStopsFast) {
    TempDir root;
    root.write("slow.php", R"(<?php
        $t = microtime(true);
        usleep(5000000);
        echo 'slept ', (int)((microtime(true) - $t) * 1000);)");
    Server server(root.path(), {"--workers", "2"});
    ASSERT_TRUE(wait_for_steady_workers(server.pid(), 2));
    auto processes = workers_of(server.pid());
    processes.merge(zygotes_of(server.pid()));

    auto slow = std::async(std::launch::async, [&] { return get(server.url("/slow.php")); });
    std::this_thread::sleep_for(300ms);
    const auto quit_at = Clock::now();
    const int status = server.stop(SIGQUIT);
    const double took_ms = ms_between(quit_at, Clock::now());
    std::printf("[ measure  ] SIGQUIT with a request in flight: stopped in %.0f ms\n", took_ms);
    EXPECT_EQ(status, 0) << server.log();
    EXPECT_LT(took_ms, 1000.0);
    // The request is cut (the connection closes): a fast stop does not finish scripts.
    // What it must not do either is let the script go on with its sleep cut short and
    // send that as a successful response.
    auto response = slow.get();
    EXPECT_NE(response.status, 200)
        << "the fast stop ended the script's sleep early and answered: " << response.body;
    for (pid_t pid : processes)
        EXPECT_FALSE(alive(pid)) << "process " << pid << " outlived the master";
}

// Workers that die right after start, again and again (each request to crash.php kills
// its worker): the master respawns them with growing delays, says "crash loop" with the
// signal, does not spin, serves other requests in between and recovers afterwards.
TEST(ProcessModel, CrashLoopBacksOffWithoutSpinning) {
    TempDir root;
    root.write("crash.php", "<?php posix_kill(getmypid(), 9);");
    root.write("ok.php", pid_script());
    Server server(root.path(), {"--workers", "2"});
    server.allow_error("killed by signal 9 (SIGKILL); restarting");
    server.allow_error("worker crash loop");
    ASSERT_TRUE(wait_for_steady_workers(server.pid(), 2));

    const double cpu_before = cpu_seconds(server.pid());
    const auto start = Clock::now();
    // One client kills workers until five requests have failed (backoff then 1.6 s);
    // another asks for ok.php meanwhile.
    std::atomic<bool> stop{false};
    std::atomic<int> crashes{0};
    std::thread crasher([&] {
        while (!stop && crashes < 5 && Clock::now() - start < 4s) {
            RequestOptions options;
            options.timeout_ms = 2000;
            auto r = request(server.url("/crash.php"), options);
            if (r.status != 200) ++crashes;
        }
    });
    int ok = 0, not_ok = 0;
    while (Clock::now() - start < 3s) {
        RequestOptions options;
        options.timeout_ms = 3000;
        auto r = request(server.url("/ok.php"), options);
        (r.status == 200 ? ok : not_ok)++;
        std::this_thread::sleep_for(20ms);
    }
    const double cpu_used = cpu_seconds(server.pid()) - cpu_before;
    const double wall = ms_between(start, Clock::now()) / 1000;
    stop = true;
    crasher.join();
    std::printf(
        "[ measure  ] crash loop: %d crashes, master CPU %.3f s in %.1f s, ok.php %d served / %d "
        "failed\n",
        crashes.load(), cpu_used, wall, ok, not_ok);

    const std::string log = server.log();
    EXPECT_GE(crashes.load(), 4) << log;
    EXPECT_GE(count_occurrences(log, "killed by signal 9 (SIGKILL); restarting"), 4u) << log;
    // The delays grow: 100 ms, 200 ms, ...
    std::vector<long> delays;
    std::regex backoff(
        R"(worker crash loop: (\d+) crashes in a row right after start; next start in (\d+) ms)");
    for (auto it = std::sregex_iterator(log.begin(), log.end(), backoff);
         it != std::sregex_iterator(); ++it) {
        delays.push_back(std::stol((*it)[2]));
    }
    ASSERT_GE(delays.size(), 3u) << "no crash loop reported:\n" << lines_with(log, "worker");
    EXPECT_TRUE(std::is_sorted(delays.begin(), delays.end())) << lines_with(log, "crash loop");
    EXPECT_GE(delays.back(), 4 * delays.front()) << lines_with(log, "crash loop");
    // The master sleeps between restarts instead of spinning.
    EXPECT_LT(cpu_used, 0.1 * wall) << "master CPU " << cpu_used << " s in " << wall << " s";
    EXPECT_GT(ok, 0) << "nothing was served during the crash loop";

    // Once nothing crashes them any more, the workers come back and serve.
    EXPECT_TRUE(wait_for_steady_workers(server.pid(), 2, 8s)) << lines_with(server.log(), "worker");
    auto r = get(server.url("/ok.php"));
    EXPECT_EQ(r.status, 200);
    expect_master_running(server);
}

// A worker whose PHP crashes mid-request (here a SIGSEGV, as a faulty extension would
// raise) answers from its I/O thread: 502 for the request PHP was running, over either
// protocol, 503 for one waiting behind it; the log names the request; a fresh worker
// serves the next one.
TEST(ProcessModel, CrashedPhpAnswers502AndTheLogNamesTheRequest) {
    TempDir root;
    root.write("index.php", "<?php echo 'ok';");
    root.write("crash.php", R"(<?php
        usleep((int) ($_GET['after_ms'] ?? 0) * 1000);
        posix_kill(posix_getpid(), SIGSEGV);
        sleep(5);
        echo 'survived';)");
    Server server(root.path(), {"--workers", "1"});
    server.allow_error("PHP crashed (SIGSEGV) while running GET /crash.php");
    server.allow_error("exit status 70; restarting");
    server.allow_error("worker crash loop");  // each one dies young, on purpose
    auto crashed = get(server.url("/crash.php?h1"));
    EXPECT_EQ(crashed.status, 502) << crashed.error;
    EXPECT_TRUE(
        server.wait_for_log("PHP crashed (SIGSEGV) while running GET /crash.php?h1; "
                            "answered 502"));
    auto next = get(server.url("/"));
    for (int i = 0; i < 100 && next.status != 200; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        next = get(server.url("/"));
    }
    EXPECT_EQ(next.body, "ok");

    auto over_h2 = command_output(
        "curl -s -o /dev/null -w '%{http_version} %{http_code}' "
        "--http2-prior-knowledge '" +
        server.url("/crash.php?h2") + "'");
    EXPECT_EQ(over_h2, "2 502");

    // One request waits behind the one that crashes (a single worker, a single PHP thread).
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a fresh worker serves
    Response waiting;
    std::thread behind([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(150));
        waiting = get(server.url("/"));
    });
    auto first = get(server.url("/crash.php?after_ms=600"));
    behind.join();
    EXPECT_EQ(first.status, 502) << first.error;
    EXPECT_EQ(waiting.status, 503) << waiting.error << " " << waiting.body;
    EXPECT_TRUE(server.wait_for_log("1 request(s) waiting for PHP answered 503"));
    expect_master_running(server);
}

}  // namespace
}  // namespace askr::test::process_model

namespace askr::test {
namespace {

// --request-timeout is a wall-clock limit (max_execution_time counts CPU, and a script
// waiting on a hung call uses none): the worker running past it is killed and replaced.
TEST(ProcessModel, RequestTimeoutKillsAHungWorkerAndReplacesIt) {
    TempDir root;
    root.write("index.php", R"(<?php if (isset($_GET['hang'])) sleep(30); echo 'ok';)");
    Server server(root.path(), {"--workers", "1", "--request-timeout", "1"});
    server.allow_error("PHP ran past --request-timeout while running GET /?hang=1");
    const auto start = std::chrono::steady_clock::now();
    RequestOptions options;
    options.timeout_ms = 10000;
    const auto hung = request(server.url("/?hang=1"), options);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    // The client is told (504), not left with an empty reply; the log names the request.
    EXPECT_EQ(hung.status, 504) << hung.error;
    EXPECT_LT(seconds, 5.0) << "the hung request was not cut at the timeout";
    EXPECT_TRUE(server.wait_for_log("past --request-timeout 1 s; ending the worker"));
    EXPECT_TRUE(server.wait_for_log(
        "PHP ran past --request-timeout while running GET /?hang=1; answered 504"));
    EXPECT_TRUE(server.wait_for_log("ended for --request-timeout; restarting"));
    Response next;
    for (int i = 0; i < 100 && next.status != 200; ++i) {
        next = get(server.url("/"));
        if (next.status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_EQ(next.status, 200);
    EXPECT_EQ(next.body, "ok");
}

}  // namespace
}  // namespace askr::test
