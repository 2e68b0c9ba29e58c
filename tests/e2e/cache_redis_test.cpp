// askr_cache_*() on Redis ([cache] redis): a real redis-server on a free loopback port (or
// a unix socket), the real binary with two workers, sometimes two servers sharing one
// Redis as two machines would. The PHP script is the shared-memory tests' own
// (cache_support.hpp).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cache_support.hpp"
#include "harness.hpp"
#include "php_support.hpp"
#include "redis_support.hpp"

namespace askr::test::php {
namespace {

// Two workers on Redis; each worker keeps its one connection open (allowed as a
// descriptor beyond the ones it started with).
std::vector<std::string> on_redis(const std::string& url, std::vector<std::string> more = {}) {
    std::vector<std::string> args = {"--workers",     "2", "--cache-max-value", "1K",
                                     "--cache-redis", url, "--cache-prefix",    "t:"};
    args.insert(args.end(), more.begin(), more.end());
    return args;
}

struct RedisApp {
    explicit RedisApp(const std::string& url, std::vector<std::string> more = {})
        : server((root.write("index.php", cache_script), root.path()), on_redis(url, more)) {
        server.allow_worker_fds(1);
    }
    TempDir root;
    Server server;
};

TEST(CacheRedis, ValueSetByOneWorkerIsReadByTheOtherAndByAnotherServer) {
    RedisServer redis;
    RedisApp app(redis.url());
    Server& server = app.server;
    json setter;
    std::thread busy([&] { setter = get_json(server, "op=set_and_wait"); });
    json getter;
    for (int attempt = 0; attempt < 50; ++attempt) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        getter = get_json(server, "op=get");
        if (getter["value"] != "default") break;
    }
    busy.join();
    ASSERT_TRUE(setter.is_object() && getter.is_object());
    EXPECT_EQ(setter["set"], true);
    EXPECT_NE(setter["pid"], getter["pid"]) << "both requests ran on the same worker";
    const std::string expected = "from " + std::to_string(setter["pid"].get<int>());
    EXPECT_EQ(getter["value"], expected);
    // Stored as prefix + key: a type byte (6, a string), then the bytes.
    EXPECT_EQ(redis.cli("GET t:shared"), "\x06" + expected + "\n");
    // A second server (another machine) on the same Redis sees it.
    RedisApp other(redis.url());
    EXPECT_EQ(get_json(other.server, "op=get")["value"], expected);
}

TEST(CacheRedis, KeepsPhpTypesAndRejectsBadArgumentsAsSharedMemoryDoes) {
    RedisServer redis;
    RedisApp app(redis.url());
    const json types = get_json(app.server, "op=types");
    for (const char* key : {"null", "false", "true", "int", "float", "string", "array", "object"})
        EXPECT_EQ(types[key], true) << key << ": " << types.dump();
    EXPECT_EQ(types["absent"], "fallback");
    EXPECT_EQ(types["delete"], json::array({true, false}));
    // A value written by another client without askr's type byte: an integer reads as an
    // int, anything else as a string.
    redis.cli("SET t:plain-int 42");
    redis.cli("SET t:plain-text hello");
    EXPECT_EQ(get_json(app.server, "op=get&key=plain-int")["value"], 42);
    EXPECT_EQ(get_json(app.server, "op=get&key=plain-text")["value"], "hello");

    const json errors = get_json(app.server, "op=errors");
    EXPECT_EQ(errors["empty key"],
              "ValueError: askr_cache_get(): Argument #1 ($key) must not be empty");
    EXPECT_EQ(
        errors["long key"],
        "ValueError: askr_cache_set(): Argument #1 ($key) must be at most 250 bytes long, got 251");
    EXPECT_EQ(errors["closure"],
              "TypeError: askr_cache_set(): Argument #2 ($value) must not be a Closure: a closure "
              "cannot be stored, store what it computes");
    EXPECT_EQ(errors["too big"],
              "ValueError: askr_cache_set(): Argument #2 ($value) is 2048 bytes, over [cache] "
              "max_value (1K): store less or raise it");
    EXPECT_EQ(errors["not int"].get<std::string>().rfind(
                  "ValueError: askr_cache_increment(): the value of key \"text\"", 0),
              0u)
        << errors.dump();
    EXPECT_EQ(errors["long key ok"], true);
}

TEST(CacheRedis, ConcurrentIncrementsFromBothWorkersAreExact) {
    RedisServer redis;
    RedisApp app(redis.url());
    std::mutex mutex;
    std::set<int> pids;
    std::set<long> values;
    std::vector<std::thread> clients;
    for (int c = 0; c < 10; ++c) {
        clients.emplace_back([&] {
            for (int i = 0; i < 10; ++i) {
                const json j = get_json(app.server, "op=increment");
                std::lock_guard lock(mutex);
                pids.insert(j["pid"].get<int>());
                if (j["value"].is_number()) values.insert(j["value"].get<long>());
            }
        });
    }
    for (auto& t : clients) t.join();
    EXPECT_EQ(get_json(app.server, "op=get&key=counter")["value"], 100);
    EXPECT_EQ(values.size(), 100u);
    EXPECT_EQ(*values.begin(), 1);
    EXPECT_EQ(*values.rbegin(), 100);
    EXPECT_EQ(pids.size(), 2u) << "the increments did not come from both workers";
    // Kept as decimal text, without expiry (no ttl given).
    EXPECT_EQ(redis.cli("GET t:counter"), "100\n");
    EXPECT_EQ(redis.cli("PTTL t:counter"), "-1\n");
}

TEST(CacheRedis, EntriesCountersAndLocksExpire) {
    RedisServer redis;
    RedisApp app(redis.url());
    const json start = get_json(app.server, "op=ttl_start");
    EXPECT_EQ(start["set"], true);
    EXPECT_EQ(start["value"], "here");
    EXPECT_EQ(start["counter"], 1);
    EXPECT_EQ(start["lock"], true);
    const long ttl = std::stol(redis.cli("PTTL t:window"));
    EXPECT_GT(ttl, 0) << "the counter was created with its window";
    EXPECT_LE(ttl, 1000);
    std::this_thread::sleep_for(std::chrono::milliseconds(2200));
    const json after = get_json(app.server, "op=ttl_after");
    EXPECT_EQ(after["value"], "expired");
    EXPECT_EQ(after["counter"], 1) << "the counter's window expired: it starts again";
    EXPECT_EQ(after["lock"], true) << "an expired lock can be taken by another owner";
}

TEST(CacheRedis, AddAndLocksBelongToTheFirst) {
    RedisServer redis;
    RedisApp app(redis.url());
    const json j = get_json(app.server, "op=add_lock");
    EXPECT_EQ(j["add"], json::array({true, false, 1}));
    EXPECT_EQ(j["lock"], json::array({true, false, false, true, true, true})) << j.dump();
    // A lock lives apart from a value of the same name.
    EXPECT_EQ(get_json(app.server, "op=set&key=job&value=v")["set"], true);
    EXPECT_EQ(get_json(app.server, "op=add_lock")["lock"],
              json::array({true, false, false, true, true, true}));
    EXPECT_EQ(get_json(app.server, "op=get&key=job")["value"], "v");
    EXPECT_EQ(get_json(app.server, "op=lock_owner")["owner"],
              json::array({nullptr, true, "me", true, nullptr}));
}

TEST(CacheRedis, RememberComputesOnceAcrossWorkersAndServers) {
    RedisServer redis;
    RedisApp first(redis.url());
    RedisApp second(redis.url());
    std::vector<json> results(8);
    std::vector<std::thread> clients;
    for (std::size_t i = 0; i < results.size(); ++i) {
        Server& server = i % 2 ? second.server : first.server;
        clients.emplace_back([&, i] { results[i] = get_json(server, "op=remember"); });
    }
    for (auto& t : clients) t.join();
    std::set<int> pids;
    for (const json& r : results) {
        ASSERT_TRUE(r.is_object());
        EXPECT_EQ(r["value"], results[0]["value"]) << r.dump();
        pids.insert(r["pid"].get<int>());
    }
    EXPECT_EQ(get_json(first.server, "op=get&key=computations")["value"], 1);
    EXPECT_GE(pids.size(), 3u) << "the requests did not reach workers of both servers";
    EXPECT_EQ(get_json(first.server, "op=nested")["value"], "inner+self");
}

TEST(CacheRedis, FlushRemovesOnlyKeysUnderThePrefix) {
    RedisServer redis;
    RedisApp app(redis.url());
    get_json(app.server, "op=types");
    get_json(app.server, "op=add_lock");
    EXPECT_EQ(get_json(app.server, "op=ttl_start")["lock"], true);  // a lock held, for a second
    EXPECT_NE(redis.cli("KEYS 't:*'").find("lock:brief-lock"), std::string::npos);
    EXPECT_EQ(redis.cli("SET other:key survives"), "OK\n");
    EXPECT_EQ(redis.cli("SET tx:key survives"), "OK\n");
    EXPECT_NE(redis.cli("DBSIZE"), "2\n");
    const json flushed = get_json(app.server, "op=flush");
    EXPECT_EQ(flushed["flush"], true);
    EXPECT_EQ(flushed["value"], "gone");
    EXPECT_EQ(redis.cli("DBSIZE"), "2\n") << redis.cli("KEYS '*'");
    EXPECT_EQ(redis.cli("GET other:key"), "survives\n");
    EXPECT_EQ(redis.cli("GET tx:key"), "survives\n");
}

TEST(CacheRedis, InfoAndMetricsNameTheBackend) {
    RedisServer redis;
    RedisApp app(redis.url());
    get_json(app.server, "op=types");
    const json info = get_json(app.server, "op=info")["info"];
    EXPECT_EQ(info["backend"], "redis") << info.dump();
    EXPECT_EQ(info["server"], "127.0.0.1:" + std::to_string(redis.port()) + " db 0");
    EXPECT_EQ(info["prefix"], "t:");
    EXPECT_EQ(info["connected"], true);
    EXPECT_EQ(info["max_value"], 1024);
    EXPECT_EQ(info["errors"], 0);
    // Counted by the worker that answered: the types request may have run on the other one.
    EXPECT_TRUE(info["hits"].is_number() && info["misses"].is_number()) << info.dump();
    const auto api = get(app.server.admin_url("/api/metrics"));
    ASSERT_EQ(api.status, 200) << api.body;
    EXPECT_EQ(json::parse(api.body)["cache"]["backend"], "redis") << api.body;
    const auto prometheus = get(app.server.admin_url("/metrics"));
    EXPECT_NE(prometheus.body.find("askr_cache_backend_info{backend=\"redis\"} 1"),
              std::string::npos);
}

TEST(CacheRedis, PasswordProtectedRedis) {
    RedisServer redis({.password = "pa55word"});
    RedisApp app(redis.url("pa55word"));
    EXPECT_EQ(get_json(app.server, "op=set&key=k&value=v")["set"], true);
    EXPECT_EQ(get_json(app.server, "op=get&key=k")["value"], "v");
    EXPECT_EQ(redis.cli("GET t:k"), "\x06v\n");
    // Without the password every call fails as a miss, and the log says why.
    RedisApp refused(redis.url());
    refused.server.allow_error("cache: Redis");
    EXPECT_EQ(get_json(refused.server, "op=set&key=k&value=w")["set"], false);
    EXPECT_EQ(get_json(refused.server, "op=get&key=k")["value"], "default");
    EXPECT_TRUE(refused.server.wait_for_log("NOAUTH")) << refused.server.log();
}

TEST(CacheRedis, UnixSocketRedisWithDatabase) {
    RedisServer redis({.password = "sock", .unix_only = true});
    RedisApp app("unix:" + redis.socket_path() + "?db=3&password=sock");
    EXPECT_EQ(get_json(app.server, "op=set&key=k&value=v")["set"], true);
    EXPECT_EQ(get_json(app.server, "op=get&key=k")["value"], "v");
    EXPECT_EQ(redis.cli("-n 3 GET t:k"), "\x06v\n");
    EXPECT_EQ(redis.cli("-n 0 GET t:k"), "\n") << "db 3 was selected, not 0";
    EXPECT_EQ(get_json(app.server, "op=info")["info"]["server"],
              "unix:" + redis.socket_path() + " db 3");
}

TEST(CacheRedis, RedisDownIsAMissAndTheServerReconnects) {
    RedisServer redis;
    RedisApp app(redis.url());
    app.server.allow_error("cache: Redis");
    EXPECT_EQ(get_json(app.server, "op=set&key=shared&value=before")["set"], true);
    redis.stop();
    // Every function answers at once (or within the timeout), the request completes.
    for (int i = 0; i < 4; ++i) {
        const auto r = get(app.server.url("/index.php?op=down"));
        ASSERT_EQ(r.status, 200) << r.body;
        const json j = json::parse(r.body, nullptr, false);
        EXPECT_EQ(j["get"], "default") << j.dump();
        EXPECT_EQ(j["set"], false);
        EXPECT_EQ(j["add"], false);
        EXPECT_EQ(j["delete"], false);
        EXPECT_EQ(j["lock"], false);
        EXPECT_EQ(j["unlock"], false);
        EXPECT_TRUE(j["lock_owner"].is_null());
        EXPECT_EQ(j["remember"], "computed") << "remember computes when Redis is away";
        EXPECT_EQ(j["flush"], false);
        EXPECT_EQ(j["increment"],
                  "RuntimeException: askr_cache_increment(): the cache server (Redis) did not "
                  "answer, the counter \"counter\" is unchanged; the server log says why");
        EXPECT_EQ(j["connected"], false);
    }
    EXPECT_TRUE(app.server.wait_for_log("askr_cache_*() act as misses")) << app.server.log();
    redis.start();
    // Each worker reconnects by itself once its backoff (at most a second) has passed.
    int working = 0;
    for (int attempt = 0; attempt < 100 && working < 6; ++attempt) {
        const json j = get_json(app.server, "op=set&key=shared&value=after");
        working = j["set"] == true ? working + 1 : 0;
        if (working == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_EQ(working, 6) << app.server.log();
    EXPECT_EQ(get_json(app.server, "op=get")["value"], "after");
    EXPECT_TRUE(app.server.wait_for_log("answers again")) << app.server.log();
}

// --cow: the zygote uses the cache while it boots the app, then forks the workers. Each
// worker must open a connection of its own: two processes reading replies from one socket
// would get each other's answers.
TEST(CacheRedis, WorkersForkedAfterTheZygoteUsedRedisOpenTheirOwnConnection) {
    RedisServer redis;
    TempDir root;
    root.write("index.php", cache_script);
    const std::string script = root.write(
        "worker.php",
        "<?php askr_cache_set('booted-by', getmypid()); askr_cow_ready();\n"
        "while (askr_handle_request(function () { require __DIR__ . '/index.php'; })) {}");
    Server server(root.path(), on_redis(redis.url(), {"--worker", script, "--cow"}));
    server.allow_worker_fds(1);
    std::mutex mutex;
    std::set<long> values;
    std::set<int> pids;
    std::vector<std::thread> clients;
    for (int c = 0; c < 6; ++c) {
        clients.emplace_back([&] {
            for (int i = 0; i < 10; ++i) {
                const json j = get_json(server, "op=increment");
                std::lock_guard lock(mutex);
                pids.insert(j["pid"].get<int>());
                if (j["value"].is_number()) values.insert(j["value"].get<long>());
            }
        });
    }
    for (auto& t : clients) t.join();
    EXPECT_EQ(values.size(), 60u);
    EXPECT_EQ(redis.cli("GET t:counter"), "60\n");
    EXPECT_EQ(pids.size(), 2u);
    const json booted = get_json(server, "op=get&key=booted-by");
    EXPECT_TRUE(booted["value"].is_number()) << booted.dump();
    EXPECT_EQ(pids.count(booted["value"].get<int>()), 0u) << "the zygote is not a worker";
    // One client connection per worker, plus the zygote's, plus redis-cli's own.
    const std::string clients_list = redis.cli("CLIENT LIST");
    std::size_t connections = 0;
    for (std::size_t at = 0; (at = clients_list.find("id=", at)) != std::string::npos; ++at)
        ++connections;
    EXPECT_EQ(connections, 4u) << clients_list;
}

TEST(CacheRedis, DoctorPingsRedis) {
    RedisServer redis;
    TempDir dir;
    dir.mkdir("public");
    const auto config = [&](const std::string& url) {
        return dir.write("askr.toml", "[server]\nroot = \"" + dir.path() +
                                          "/public\"\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = "
                                          "\"off\"\n[cache]\nredis = \"" +
                                          url + "\"\n");
    };
    std::string out = command_output(std::string(ASKR_BINARY) + " doctor --config " +
                                     config(redis.url()) + " 2>&1");
    EXPECT_NE(out.find("OK    redis"), std::string::npos) << out;
    EXPECT_NE(out.find("127.0.0.1:" + std::to_string(redis.port()) + " db 0 answers PING"),
              std::string::npos)
        << out;
    // config-check names where the cache is, never with the password.
    out = command_output(
        std::string(ASKR_BINARY) + " config-check " +
        config("redis://:hidden@127.0.0.1:" + std::to_string(redis.port()) + "/2") + " 2>&1");
    EXPECT_NE(out.find("; cache Redis 127.0.0.1:" + std::to_string(redis.port()) + " db 2"),
              std::string::npos)
        << out;
    EXPECT_EQ(out.find("hidden"), std::string::npos) << out;
    redis.stop();
    out = command_output(std::string(ASKR_BINARY) + " doctor --config " + config(redis.url()) +
                         " 2>&1");
    EXPECT_NE(out.find("FAIL  redis"), std::string::npos) << out;
    EXPECT_NE(out.find("Connection refused"), std::string::npos) << out;
}

}  // namespace
}  // namespace askr::test::php
