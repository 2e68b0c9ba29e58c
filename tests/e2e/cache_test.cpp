// askr_cache_*(): the shared-memory cache seen from PHP requests served by two workers
// (classic mode and worker mode), with the real binary and real HTTP requests.
#include <gtest/gtest.h>
#include <signal.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "php_support.hpp"

namespace askr::test::php {
namespace {

using nlohmann::json;

// One script, the operation chosen by ?op=: each answers JSON with the worker's pid.
constexpr const char* cache_script = R"PHP(<?php
$op = $_GET['op'] ?? '';
$out = ['pid' => getmypid()];
try {
    switch ($op) {
    case 'set_and_wait':
        $out['set'] = askr_cache_set('shared', 'from ' . getmypid());
        usleep(400000);
        break;
    case 'get':
        $out['value'] = askr_cache_get($_GET['key'] ?? 'shared', 'default');
        break;
    case 'increment':
        usleep(2000);
        $out['value'] = askr_cache_increment('counter');
        break;
    case 'types':
        $object = new ArrayObject([1, 2]);
        $values = ['null' => null, 'false' => false, 'true' => true, 'int' => -7,
                   'float' => 1.5, 'string' => "a\0b", 'array' => ['x' => [1, 'two']],
                   'object' => $object];
        foreach ($values as $key => $value) askr_cache_set("type-$key", $value);
        foreach ($values as $key => $value) {
            $back = askr_cache_get("type-$key", 'missing');
            $out[$key] = $value instanceof ArrayObject
                ? ($back instanceof ArrayObject && $back->getArrayCopy() === [1, 2])
                : $back === $value;
        }
        $out['absent'] = askr_cache_get('never-set', 'fallback');
        $out['delete'] = [askr_cache_delete('type-int'), askr_cache_delete('type-int')];
        break;
    case 'ttl_start':
        $out['set'] = askr_cache_set('brief', 'here', 1);
        $out['counter'] = askr_cache_increment('window', 1, 1);
        $out['lock'] = askr_cache_lock('brief-lock', 1, 'first');
        $out['value'] = askr_cache_get('brief');
        break;
    case 'ttl_after':
        $out['value'] = askr_cache_get('brief', 'expired');
        $out['counter'] = askr_cache_increment('window', 1, 1);
        $out['lock'] = askr_cache_lock('brief-lock', 1, 'second');
        break;
    case 'add_lock':
        $out['add'] = [askr_cache_add('once', 1), askr_cache_add('once', 2), askr_cache_get('once')];
        $out['lock'] = [askr_cache_lock('job', 60, 'a'), askr_cache_lock('job', 60, 'b'),
                        askr_cache_unlock('job', 'b'), askr_cache_unlock('job', 'a'),
                        askr_cache_lock('job', 60, 'b'), askr_cache_unlock('job', 'b')];
        break;
    case 'remember':
        $out['value'] = askr_cache_remember('computed-once', 0, function () {
            askr_cache_increment('computations');
            usleep(300000);
            return ['by' => getmypid()];
        });
        break;
    case 'remember_slow':
        $out['value'] = askr_cache_remember('slow-key', 0, function () {
            askr_cache_set('computing-pid', getmypid());
            sleep(20);
            return 'first';
        });
        break;
    case 'remember_after':
        $out['value'] = askr_cache_remember('slow-key', 0, fn() => 'second');
        break;
    case 'nested':
        $out['value'] = askr_cache_remember('outer', 0, function () {
            return askr_cache_remember('inner', 0, fn() => 'inner')
                . '+' . askr_cache_remember('outer', 0, fn() => 'self');
        });
        break;
    case 'errors':
        $calls = [
            'empty key' => fn() => askr_cache_get(''),
            'long key' => fn() => askr_cache_set(str_repeat('k', 251), 1),
            'closure' => fn() => askr_cache_set('k', function () {}),
            'too big' => fn() => askr_cache_set('k', str_repeat('v', 2048)),
            'negative ttl' => fn() => askr_cache_set('k', 1, -1),
            'lock ttl' => fn() => askr_cache_lock('k', 0, 'me'),
            'not int' => fn() => [askr_cache_set('text', 'abc'), askr_cache_increment('text')],
        ];
        foreach ($calls as $name => $call) {
            try {
                $call();
                $out[$name] = 'no exception';
            } catch (Throwable $e) {
                $out[$name] = get_class($e) . ': ' . $e->getMessage();
            }
        }
        $out['long key ok'] = askr_cache_set(str_repeat('k', 250), 1);
        break;
    case 'info':
        $out['info'] = askr_cache_info();
        break;
    case 'flush':
        $out['flush'] = askr_cache_flush();
        $out['value'] = askr_cache_get('shared', 'gone');
        break;
    }
} catch (Throwable $e) {
    $out['error'] = get_class($e) . ': ' . $e->getMessage();
}
header('Content-Type: application/json');
echo json_encode($out);
)PHP";

json get_json(const Server& server, const std::string& query) {
    const auto r = get(server.url("/index.php?" + query));
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body, nullptr, false);
}

std::vector<std::string> two_workers(std::vector<std::string> more = {}) {
    std::vector<std::string> args = {"--workers", "2", "--cache-max-value", "1K"};
    args.insert(args.end(), more.begin(), more.end());
    return args;
}

TEST(Cache, ValueSetByOneWorkerIsReadByTheOther) {
    TempDir root;
    root.write("index.php", cache_script);
    Server server(root.path(), two_workers());
    // The first request keeps its worker busy after setting: the second goes to the other.
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
    EXPECT_EQ(getter["value"], "from " + std::to_string(setter["pid"].get<int>()));
}

// 100 increments from 10 concurrent clients: both workers answer, and every increment
// sees a different count (none lost or doubled).
void expect_exact_increments_from_both_workers(const Server& server) {
    std::mutex mutex;
    std::set<int> pids;
    std::set<long> values;
    std::vector<std::thread> clients;
    for (int c = 0; c < 10; ++c) {
        clients.emplace_back([&] {
            for (int i = 0; i < 10; ++i) {
                const json j = get_json(server, "op=increment");
                std::lock_guard lock(mutex);
                pids.insert(j["pid"].get<int>());
                values.insert(j["value"].get<long>());
            }
        });
    }
    for (auto& t : clients) t.join();
    EXPECT_EQ(get_json(server, "op=get&key=counter")["value"], 100);
    EXPECT_EQ(values.size(), 100u);
    EXPECT_EQ(*values.begin(), 1);
    EXPECT_EQ(*values.rbegin(), 100);
    EXPECT_EQ(pids.size(), 2u) << "the increments did not come from both workers";
}

TEST(Cache, ConcurrentIncrementsFromBothWorkersAreExact) {
    TempDir root;
    root.write("index.php", cache_script);
    Server server(root.path(), two_workers());
    expect_exact_increments_from_both_workers(server);
}

TEST(Cache, KeepsPhpTypesAndRejectsBadArguments) {
    TempDir root;
    root.write("index.php", cache_script);
    Server server(root.path(), two_workers());
    const json types = get_json(server, "op=types");
    for (const char* key : {"null", "false", "true", "int", "float", "string", "array", "object"})
        EXPECT_EQ(types[key], true) << key << ": " << types.dump();
    EXPECT_EQ(types["absent"], "fallback");
    EXPECT_EQ(types["delete"], json::array({true, false}));

    const json errors = get_json(server, "op=errors");
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
    EXPECT_EQ(errors["negative ttl"].get<std::string>().rfind(
                  "ValueError: askr_cache_set(): Argument #3 ($ttl)", 0),
              0u)
        << errors.dump();
    EXPECT_EQ(errors["lock ttl"].get<std::string>().rfind(
                  "ValueError: askr_cache_lock(): Argument #2 ($ttl)", 0),
              0u)
        << errors.dump();
    EXPECT_EQ(errors["not int"].get<std::string>().rfind(
                  "ValueError: askr_cache_increment(): the value of key \"text\"", 0),
              0u)
        << errors.dump();
    EXPECT_EQ(errors["long key ok"], true);
}

TEST(Cache, EntriesAndLocksExpire) {
    TempDir root;
    root.write("index.php", cache_script);
    Server server(root.path(), two_workers());
    const json start = get_json(server, "op=ttl_start");
    EXPECT_EQ(start["set"], true);
    EXPECT_EQ(start["value"], "here");
    EXPECT_EQ(start["counter"], 1);
    EXPECT_EQ(start["lock"], true);
    std::this_thread::sleep_for(std::chrono::milliseconds(2200));
    const json after = get_json(server, "op=ttl_after");
    EXPECT_EQ(after["value"], "expired");
    EXPECT_EQ(after["counter"], 1) << "the counter's window expired: it starts again";
    EXPECT_EQ(after["lock"], true) << "an expired lock can be taken by another owner";
}

TEST(Cache, AddAndLocksBelongToTheFirst) {
    TempDir root;
    root.write("index.php", cache_script);
    Server server(root.path(), two_workers());
    const json j = get_json(server, "op=add_lock");
    EXPECT_EQ(j["add"], json::array({true, false, 1}));
    EXPECT_EQ(j["lock"], json::array({true, false, false, true, true, true})) << j.dump();
}

// askr_cache_lock_owner(): the holder, or null once released or expired.
TEST(Cache, LockOwnerNamesTheHolder) {
    TempDir root;
    root.write("index.php", R"PHP(<?php
echo json_encode([
    askr_cache_lock_owner('job'),
    askr_cache_lock('job', 30, 'worker-a'),
    askr_cache_lock_owner('job'),
    askr_cache_get('job', 'a lock is not a value'),
    askr_cache_unlock('job', 'worker-a'),
    askr_cache_lock_owner('job'),
]);)PHP");
    Server server(root.path(), {"--workers", "1"});
    EXPECT_EQ(get(server.url("/")).body,
              R"([null,true,"worker-a","a lock is not a value",true,null])");
}

// Askr\Cache\SimpleCache (integrations/php): PSR-16 on the same cache, with Debian's
// psr/simple-cache interfaces.
TEST(Cache, Psr16Adapter) {
    TempDir root;
    root.write("index.php", "<?php\nrequire '" + std::string(ASKR_SOURCE_DIR) +
                                "/integrations/php/autoload.php';\n" + R"PHP(
$cache = new Askr\Cache\SimpleCache('psr:');
$out = ['pid' => getmypid(), 'interface' => $cache instanceof Psr\SimpleCache\CacheInterface];
switch ($_GET['op'] ?? '') {
case 'write':
    $out['set'] = $cache->set('answer', 42);
    $out['null'] = $cache->set('nothing', null);
    $out['many'] = $cache->setMultiple(['a' => [1, 2], 'b' => 1.5], new DateInterval('PT60S'));
    $out['past'] = $cache->set('gone', 'x', -1);
    $out['brief'] = $cache->set('brief', 'x', 1);
    break;
case 'read':
    $out['answer'] = $cache->get('answer');
    $out['has'] = [$cache->has('answer'), $cache->has('nothing'), $cache->has('gone'), $cache->has('never')];
    $out['many'] = $cache->getMultiple(['a', 'b', 'never'], 'default');
    $out['raw'] = askr_cache_get('psr:answer');
    $out['brief'] = $cache->get('brief', 'expired');
    break;
case 'errors':
    foreach (['', 'a/b', 'a{b', 'x@y', 'k:v'] as $bad) {
        try {
            $cache->get($bad);
            $out['errors'][] = 'accepted';
        } catch (Psr\SimpleCache\InvalidArgumentException $e) {
            $out['errors'][] = 'refused';
        }
    }
    try {
        $cache->set('k', 1, 'soon');
    } catch (Psr\SimpleCache\InvalidArgumentException $e) {
        $out['errors'][] = 'bad ttl';
    }
    break;
case 'delete':
    $out['delete'] = [$cache->delete('answer'), $cache->delete('answer')];
    $out['deleteMultiple'] = $cache->deleteMultiple(['a', 'b']);
    $out['after'] = $cache->getMultiple(['answer', 'a', 'b']);
    $cache->set('x', 1);
    $out['clear'] = $cache->clear();
    $out['x'] = $cache->get('x', 'cleared');
    break;
}
header('Content-Type: application/json');
echo json_encode($out);
)PHP");
    Server server(root.path(), two_workers());
    json w = get_json(server, "op=write");
    EXPECT_EQ(w["interface"], true);
    EXPECT_EQ(w["set"], true);
    EXPECT_EQ(w["many"], true);
    EXPECT_EQ(w["past"], true);
    json r = get_json(server, "op=read");
    EXPECT_EQ(r["answer"], 42);
    EXPECT_EQ(r["has"], json::array({true, true, false, false})) << r.dump();
    EXPECT_EQ(r["many"], json({{"a", {1, 2}}, {"b", 1.5}, {"never", "default"}}));
    EXPECT_EQ(r["raw"], 42) << "the adapter's keys are the prefix and the key";
    json e = get_json(server, "op=errors");
    EXPECT_EQ(e["errors"], json::array({"refused", "refused", "refused", "refused", "refused",
                                        "bad ttl"}));
    std::this_thread::sleep_for(std::chrono::milliseconds(2100));
    EXPECT_EQ(get_json(server, "op=read")["brief"], "expired");
    json d = get_json(server, "op=delete");
    EXPECT_EQ(d["delete"], json::array({true, true}));
    EXPECT_EQ(d["deleteMultiple"], true);
    EXPECT_EQ(d["after"], json({{"answer", nullptr}, {"a", nullptr}, {"b", nullptr}}));
    EXPECT_EQ(d["clear"], true);
    EXPECT_EQ(d["x"], "cleared");
}

TEST(Cache, RememberComputesOnceForConcurrentMisses) {
    TempDir root;
    root.write("index.php", cache_script);
    Server server(root.path(), two_workers());
    std::vector<json> results(6);
    std::vector<std::thread> clients;
    for (std::size_t i = 0; i < results.size(); ++i)
        clients.emplace_back([&, i] { results[i] = get_json(server, "op=remember"); });
    for (auto& t : clients) t.join();
    std::set<int> pids;
    for (const json& r : results) {
        ASSERT_TRUE(r.is_object());
        EXPECT_EQ(r["value"], results[0]["value"]) << r.dump();
        pids.insert(r["pid"].get<int>());
    }
    EXPECT_EQ(get_json(server, "op=get&key=computations")["value"], 1);
    EXPECT_EQ(pids.size(), 2u) << "the requests did not reach both workers";
    // A remember inside a remember, of another key and of the same key, does not wait on
    // itself.
    EXPECT_EQ(get_json(server, "op=nested")["value"], "inner+self");
}

TEST(Cache, RememberDoesNotWaitForAKilledComputer) {
    TempDir root;
    root.write("index.php", cache_script);
    Server server(root.path(), two_workers());
    server.allow_error("killed by signal 9");
    std::thread slow(
        [&] { request(server.url("/index.php?op=remember_slow"), {.timeout_ms = 30000}); });
    int computing = 0;
    for (int attempt = 0; attempt < 200 && computing == 0; ++attempt) {
        const json j = get_json(server, "op=get&key=computing-pid");
        if (j["value"].is_number()) computing = j["value"].get<int>();
        if (computing == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_NE(computing, 0) << server.log();
    ASSERT_EQ(::kill(computing, SIGKILL), 0);
    slow.join();
    // The claim of the dead process is dropped: the next caller computes at once instead of
    // waiting out the 30-second lease (which would exceed this request's time limit).
    const auto r = request(server.url("/index.php?op=remember_after"), {.timeout_ms = 10000});
    ASSERT_EQ(r.status, 200) << r.error << server.log();
    EXPECT_EQ(json::parse(r.body)["value"], "second");
}

TEST(Cache, InfoCountsAndFlushEmpties) {
    TempDir root;
    root.write("index.php", cache_script);
    Server server(root.path(), two_workers({"--cache-slots", "1000"}));
    get_json(server, "op=types");
    const json info = get_json(server, "op=info")["info"];
    EXPECT_EQ(info["slots"], 1000);
    EXPECT_EQ(info["max_value"], 1024);
    EXPECT_GE(info["used"].get<int>(), 7);
    EXPECT_GT(info["memory_used"].get<int>(), 0);
    EXPECT_GE(info["hits"].get<int>(), 8);
    EXPECT_GE(info["misses"].get<int>(), 1);
    EXPECT_GE(info["sets"].get<int>(), 8);
    EXPECT_EQ(info["evictions"], 0);
    // The admin API and /metrics count the same.
    const auto api = get(server.admin_url("/api/metrics"));
    ASSERT_EQ(api.status, 200) << api.body;
    const json metrics = json::parse(api.body)["cache"];
    EXPECT_EQ(metrics["slots"], 1000);
    EXPECT_GE(metrics["hits"].get<int>(), 8);
    EXPECT_GT(metrics["memory_used_bytes"].get<int>(), 0);
    const auto prometheus = get(server.admin_url("/metrics"));
    EXPECT_NE(prometheus.body.find("askr_cache_requests_total{result=\"hit\"} "),
              std::string::npos);
    const json flushed = get_json(server, "op=flush");
    EXPECT_EQ(flushed["flush"], true);
    EXPECT_EQ(get_json(server, "op=info")["info"]["used"], 0);
}

TEST(Cache, WorkerModeAndReloadKeepTheCache) {
    TempDir root;
    root.write("index.php", cache_script);
    const std::string script = root.write(
        "worker.php",
        "<?php while (askr_handle_request(function () { require __DIR__ . '/index.php'; })) {}");
    Server server(root.path(), two_workers({"--worker", script}));
    EXPECT_EQ(get_json(server, "op=increment")["value"], 1);
    // A rolling reload replaces every worker: the cache stays.
    ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
    ASSERT_TRUE(server.wait_for_log("reload finished")) << server.log();
    EXPECT_EQ(get_json(server, "op=increment")["value"], 2);
}

// --cow: what the template stores while booting, before the fork, is there for every
// worker forked from it, and the workers share what they store after.
TEST(Cache, CowTemplateAndWorkersShareTheCache) {
    TempDir root;
    root.write("index.php", cache_script);
    const std::string script = root.write("worker.php", R"PHP(<?php
askr_cache_set('booted-by', getmypid());
askr_cow_ready();
while (askr_handle_request(function () { require __DIR__ . '/index.php'; })) {}
)PHP");
    Server server(root.path(), two_workers({"--worker", script, "--cow"}));
    json booted = get_json(server, "op=get&key=booted-by");
    ASSERT_TRUE(booted["value"].is_number()) << booted.dump();
    EXPECT_NE(booted["value"], booted["pid"]) << "the template is not a worker";
    expect_exact_increments_from_both_workers(server);
}

TEST(Cache, OffWithZeroSlots) {
    TempDir root;
    root.write("index.php", cache_script);
    Server server(root.path(), two_workers({"--cache-slots", "0"}));
    const json j = get_json(server, "op=get");
    EXPECT_EQ(j["error"],
              "Error: askr_cache_get(): the shared-memory cache is off ([cache] slots = 0); set "
              "[cache] slots or --cache-slots to a number of entries to use it");
}

}  // namespace
}  // namespace askr::test::php
