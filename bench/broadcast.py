#!/usr/bin/env python3
"""Live broadcasting (docs/broadcast.md) under many subscribers: publish-to-receive
latency, delivered events per second and resident memory per idle subscriber, with 1,000
and 10,000 subscribers spread over the workers, against the targets (p99 under 50 ms at
10,000 subscribers, under 16 KB of RSS per idle subscriber, socket buffers aside).

Usage: bench/broadcast.py [--workers N] [--counts 1000,10000] [--askr BINARY] [--latency-only]

For each count a fresh server (--broadcast, limits raised to fit) and one client process
(bench/lib/sse_subscribers.c, built here with cc) holding every subscriber as a
non-blocking socket on channel `bench`:
- RSS: the workers' resident memory (VmRSS of each worker process) before the subscribers
  connect and once they are all streaming, the difference divided by the count. Kernel
  socket buffers are not in RSS.
- latency: a PHP script publishes 50 events, one every max(20 ms, count/100 µs) (10 ms at
  1,000 would be 100,000 deliveries a second on two shared cores); each event's data holds
  hrtime(true) (CLOCK_MONOTONIC), and each subscriber computes its arrival minus that.
- CPU: the workers' user and system time (/proc/PID/stat) over the timed events, per
  delivery, and the client's, so that a profile of that phase alone can be read against it.
- throughput: then a burst as fast as PHP publishes (1,000,000 deliveries in all):
  deliveries divided by the time from the burst's first publish to the last arrival.
--latency-only skips the burst (for profiling the timed phase: --pause-before-latency
waits for a key press with the worker pids printed, so `perf record -p` can attach).
Runs as root (the open-file limit is raised for both processes) or with ulimit -n large
enough.
"""
import argparse, json, os, resource, signal, socket, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
LATENCY_EVENTS = 50
BURST_DELIVERIES = 1_000_000
TARGET_P99_MS = 50
TARGET_RSS_KB = 16

PUBLISH = r"""<?php
$kind = $_GET['kind'];
$n = (int)$_GET['n'];
$gap = (int)($_GET['gap_us'] ?? 0);
for ($i = 0; $i < $n; $i++) {
    askr_broadcast('bench', "$kind $i " . hrtime(true));
    if ($gap) usleep($gap);
}
echo $n;
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url, timeout=120):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def worker_pids(admin):
    return [w["pid"] for w in json.loads(fetch(f"{admin}/api/status"))["workers"]]


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_ms(pid):
    """User and system CPU time of `pid` so far, in milliseconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) * 1000 / tick, int(fields[12]) * 1000 / tick


def raise_open_files(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < needed:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
            return
        except (ValueError, OSError):
            sys.exit(f"broadcast: {needed} open files needed, the hard limit is {hard}: run as root "
                     "or raise it (ulimit -Hn)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, needed), hard))


def build_client(work):
    binary = os.path.join(work, "sse_subscribers")
    subprocess.run(["cc", "-O2", "-o", binary, os.path.join(ROOT, "bench/lib/sse_subscribers.c")],
                   check=True)
    return binary


def run_count(askr, client, root, workers, count, latency_only=False, pause=False):
    port, admin_port = free_port(), free_port()
    limit = str(count + 1000)
    log = tempfile.TemporaryFile()
    server = subprocess.Popen(
        [askr, "serve", "--root", root, "--workers", str(workers), "--listen", f"127.0.0.1:{port}",
         "--admin-listen", f"127.0.0.1:{admin_port}", "--broadcast", "--max-connections", limit,
         "--broadcast-max-subscribers", limit],
        stdout=log, stderr=subprocess.STDOUT)
    subscribers = None
    try:
        base, admin = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin_port}"
        for _ in range(200):
            try:
                fetch(f"{base}/pub.php?kind=W&n=1", timeout=2)
                if len(worker_pids(admin)) == workers:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        for _ in range(4 * workers):  # every worker has served PHP once
            fetch(f"{base}/pub.php?kind=W&n=1")
        time.sleep(1)
        pids = worker_pids(admin)
        before = sum(rss_kb(p) for p in pids)

        gap_us = max(20_000, count * 10)
        burst = 0 if latency_only else max(1, BURST_DELIVERIES // count)
        subscribers = subprocess.Popen(
            [client, str(port), str(count), "bench", str(LATENCY_EVENTS), str(burst), "30"],
            stdout=subprocess.PIPE, text=True)
        line = subscribers.stdout.readline()
        if not line.startswith("ready"):
            raise RuntimeError(f"the subscribers did not connect: {line!r}")
        for _ in range(200):  # every stream registered with its worker
            m = json.loads(fetch(f"{admin}/api/metrics"))["broadcast"]
            if m["subscribers"] == count:
                break
            time.sleep(0.05)
        time.sleep(1)
        after = sum(rss_kb(p) for p in pids)
        status = json.loads(fetch(f"{admin}/api/status"))
        spread = "/".join(str(w["connections"]) for w in status["workers"])

        if pause:
            input(f"workers {' '.join(map(str, pids))}, client {subscribers.pid}: "
                  "press Enter to publish the timed events\n")
        cpu_before = [cpu_ms(p) for p in pids + [subscribers.pid]]
        fetch(f"{base}/pub.php?kind=L&n={LATENCY_EVENTS}&gap_us={gap_us}")
        time.sleep(0.5)
        cpu_after = [cpu_ms(p) for p in pids + [subscribers.pid]]
        deliveries = count * LATENCY_EVENTS
        spent = [(a[0] - b[0], a[1] - b[1]) for a, b in zip(cpu_after, cpu_before)]
        worker_user = sum(u for u, _ in spent[:-1]) * 1000 / deliveries
        worker_sys = sum(s for _, s in spent[:-1]) * 1000 / deliveries
        client_cpu = sum(spent[-1]) * 1000 / deliveries
        if burst:
            fetch(f"{base}/pub.php?kind=T&n={burst}")
        out, _ = subscribers.communicate(timeout=600)
        result = json.loads(out.strip().splitlines()[-1])
        if subscribers.returncode != 0:
            raise RuntimeError(f"the subscribers did not get every event: {result}")
        metrics = json.loads(fetch(f"{admin}/api/metrics"))["broadcast"]
        result.update(rss_per_subscriber_kb=(after - before) / count, spread=spread,
                      worker_user_us=worker_user, worker_sys_us=worker_sys, client_us=client_cpu,
                      rate=1e6 / gap_us, burst=burst, drops=metrics["drops"],
                      resets=metrics["resets"])
        return result
    finally:
        if subscribers and subscribers.poll() is None:
            subscribers.kill()
            subscribers.wait()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--counts", default="1000,10000")
    parser.add_argument("--askr", default=os.path.join(ROOT, "build/askr"))
    parser.add_argument("--latency-only", action="store_true",
                        help="the timed events only, no burst (for a profile of that phase)")
    parser.add_argument("--pause-before-latency", action="store_true",
                        help="wait for Enter before the timed events (attach perf to the pids)")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    if not os.access(args.askr, os.X_OK):
        sys.exit(f"broadcast: {args.askr} is not built (make build)")
    # Each process has its own limit: the client holds every subscriber, a worker its share.
    raise_open_files(max(counts) + 1024)
    work = tempfile.mkdtemp(prefix="askr-broadcast-bench-")
    os.chmod(work, 0o755)
    with open(os.path.join(work, "pub.php"), "w") as f:
        f.write(PUBLISH)
    client = build_client(work)
    print(f"broadcast: {args.workers} workers, {LATENCY_EVENTS} timed events per count, then a burst "
          f"of {BURST_DELIVERIES:,} deliveries; one client process holds every subscriber")
    print()
    print("| subscribers | per worker | timed events/s | p50 ms | p99 ms | p99 target | max ms "
          "| worker CPU µs/delivery user+sys | client CPU µs/delivery "
          "| delivered events/s | RSS per idle subscriber | RSS target | drops |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    failed = False
    for count in counts:
        try:
            r = run_count(args.askr, client, work, args.workers, count, args.latency_only,
                          args.pause_before_latency)
        except (RuntimeError, OSError, subprocess.SubprocessError, ValueError) as e:
            print(f"| {count:,} | failed: {e} |||||||||||")
            failed = True
            continue
        p99_target = f"< {TARGET_P99_MS} ms" + ("" if count < 10000 else
                                                (" ok" if r["p99_ms"] < TARGET_P99_MS else " MISSED"))
        rss_target = f"< {TARGET_RSS_KB} KB" + (" ok" if r["rss_per_subscriber_kb"] < TARGET_RSS_KB
                                                else " MISSED")
        print(f"| {count:,} | {r['spread']} | {r['rate']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
              f"| {p99_target} | {r['max_ms']:.1f} "
              f"| {r['worker_user_us']:.2f}+{r['worker_sys_us']:.2f} | {r['client_us']:.2f} "
              f"| {r['burst_per_s']:,.0f} "
              f"| {r['rss_per_subscriber_kb']:.1f} KB | {rss_target} | {r['drops']} |", flush=True)
    return 1 if failed else 0


sys.exit(main())
