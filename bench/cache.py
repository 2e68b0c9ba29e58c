#!/usr/bin/env python3
"""The cache from PHP, operations per second for set, get and increment, 100-byte values
over 1,000 keys; one worker alone, then two workers at once on the same keys (contention):
- askr_cache_* on shared memory against APCu (php8.2-apcu, loaded in the same worker);
- askr_cache_* on Redis ([cache] redis) against phpredis (php8.2-redis) on the same local
  redis-server (Debian's), started on a free port for the run.

Usage: bench/cache.py [OPERATIONS]   (default 200000 per shared-memory run, a tenth of that
per Redis run; build/askr must exist; port 18191 free). Each run is one request whose
script times its own loop with hrtime(), so the figure is PHP's calls, not HTTP. Each
figure is the best of three runs, alternating the two.
"""
import json, os, signal, socket, subprocess, sys, tempfile, threading, time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
PORT = 18191

SCRIPT = r"""<?php
$impl = $_GET['impl']; $op = $_GET['op']; $n = (int)$_GET['n'];
$keys = [];
for ($i = 0; $i < 1000; $i++) $keys[] = "bench:key:$i";
$value = str_repeat('v', 100);
if ($op === 'get') {
    foreach ($keys as $k) { $impl === 'askr' ? askr_cache_set($k, $value) : apcu_store($k, $value); }
}
if ($impl === 'phpredis') {
    $redis = new Redis();
    $redis->connect('127.0.0.1', (int)$_GET['redis']);
    if ($op === 'get') foreach ($keys as $k) $redis->set($k, $value);
}
$start = hrtime(true);
if ($impl === 'phpredis') {
    if ($op === 'set') for ($i = 0; $i < $n; $i++) $redis->set($keys[$i % 1000], $value);
    elseif ($op === 'get') for ($i = 0; $i < $n; $i++) $redis->get($keys[$i % 1000]);
    else for ($i = 0; $i < $n; $i++) $redis->incr($keys[$i % 1000] . ':n');
} elseif ($impl === 'askr') {
    if ($op === 'set') for ($i = 0; $i < $n; $i++) askr_cache_set($keys[$i % 1000], $value);
    elseif ($op === 'get') for ($i = 0; $i < $n; $i++) askr_cache_get($keys[$i % 1000]);
    else for ($i = 0; $i < $n; $i++) askr_cache_increment($keys[$i % 1000] . ':n');
} else {
    if ($op === 'set') for ($i = 0; $i < $n; $i++) apcu_store($keys[$i % 1000], $value);
    elseif ($op === 'get') for ($i = 0; $i < $n; $i++) apcu_fetch($keys[$i % 1000]);
    else for ($i = 0; $i < $n; $i++) apcu_inc($keys[$i % 1000] . ':n');
}
$seconds = (hrtime(true) - $start) / 1e9;
echo json_encode(['pid' => getmypid(), 'ops' => $n / $seconds]);
"""


def fetch(path):
    with socket.create_connection(("127.0.0.1", PORT), timeout=120) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(data.decode(errors="replace")[:500])
    return json.loads(body)


def run(workers, impl, op, n, redis_port=0):
    """Operations per second summed over `workers` concurrent requests on distinct workers."""
    for _ in range(10):
        results = [None] * workers
        def one(i):
            results[i] = fetch(f"/bench.php?impl={impl}&op={op}&n={n}&redis={redis_port}")
        threads = [threading.Thread(target=one, args=(i,)) for i in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if len({r["pid"] for r in results}) == workers:
            return sum(r["ops"] for r in results)
    raise RuntimeError("the requests did not reach distinct workers")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def table(root, n, title, anchor, redis_port=0):
    """One table: askr_cache_* against `anchor`, with 1 and then 2 workers."""
    print(f"{'workers':>7} {'op':>9} {title:>20} {anchor:>14} {'ratio':>6}")
    extra = ["--cache-redis", f"redis://127.0.0.1:{redis_port}/0"] if redis_port else []
    for workers in (1, 2):
        log = tempfile.TemporaryFile()
        server = subprocess.Popen([os.path.join(ROOT, "build/askr"), "serve", "--root", root, "--workers",
                                   str(workers), "--listen", f"127.0.0.1:{PORT}", "--admin-listen", "off",
                                   "-d", "apc.shm_size=64M"] + extra, stdout=log, stderr=subprocess.STDOUT)
        try:
            for _ in range(200):
                try:
                    fetch("/bench.php?impl=askr&op=set&n=1")
                    break
                except (OSError, RuntimeError, ValueError):
                    time.sleep(0.05)
            for op in ("set", "get", "increment"):
                # Best of three, alternating: the machine's other load only ever slows a run.
                askr = other = 0
                for _ in range(3):
                    askr = max(askr, run(workers, "askr", op, n, redis_port))
                    other = max(other, run(workers, anchor.lower(), op, n, redis_port))
                print(f"{workers:>7} {op:>9} {askr:>20,.0f} {other:>14,.0f} {askr / other:>5.2f}x", flush=True)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait()


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
    root = tempfile.mkdtemp(prefix="askr-cache-bench-")
    with open(os.path.join(root, "bench.php"), "w") as f:
        f.write(SCRIPT)
    table(root, n, "askr_cache_* (shm)", "APCu")
    print()
    port = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--dir", root], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        table(root, max(n // 10, 1), "askr_cache_* (Redis)", "phpredis", port)
    finally:
        redis.send_signal(signal.SIGTERM)
        redis.wait()


main()
