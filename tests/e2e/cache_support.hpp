#pragma once
// The PHP script the askr_cache_*() end-to-end tests run (cache_test.cpp on shared memory,
// cache_redis_test.cpp on Redis): one operation per request, chosen by ?op=, answering
// JSON with the worker's pid.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "harness.hpp"

namespace askr::test::php {

using nlohmann::json;

/// The script (index.php), the operation chosen by ?op=.
inline constexpr const char* cache_script = R"PHP(<?php
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
    case 'set':
        $out['set'] = askr_cache_set($_GET['key'], $_GET['value'], (int) ($_GET['ttl'] ?? 0));
        break;
    case 'lock_owner':
        $out['owner'] = [askr_cache_lock_owner('owned'), askr_cache_lock('owned', 30, 'me'),
                         askr_cache_lock_owner('owned'), askr_cache_unlock('owned', 'me'),
                         askr_cache_lock_owner('owned')];
        break;
    case 'down':
        $out['get'] = askr_cache_get('shared', 'default');
        $out['set'] = askr_cache_set('shared', 'x');
        $out['add'] = askr_cache_add('fresh', 'x');
        $out['delete'] = askr_cache_delete('shared');
        $out['lock'] = askr_cache_lock('job', 10, 'me');
        $out['unlock'] = askr_cache_unlock('job', 'me');
        $out['lock_owner'] = askr_cache_lock_owner('job');
        $out['remember'] = askr_cache_remember('remembered', 10, fn() => 'computed');
        $out['flush'] = askr_cache_flush();
        try {
            askr_cache_increment('counter');
            $out['increment'] = 'no exception';
        } catch (Throwable $e) {
            $out['increment'] = get_class($e) . ': ' . $e->getMessage();
        }
        $out['connected'] = askr_cache_info()['connected'] ?? null;
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

/// GETs /index.php?QUERY, expects 200 and returns the JSON body.
inline json get_json(const Server& server, const std::string& query) {
    const auto r = get(server.url("/index.php?" + query));
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body, nullptr, false);
}

}  // namespace askr::test::php
