#!/usr/bin/env python3
"""Warm vs cold respawn: time from `kill -9` of a worker to its replacement
serving a request, for the Illuminate example app in worker mode, without and with --cow.

Usage: bench/respawn.py [rounds]   (build/askr must exist; port 18190 free)
Polls with one short-lived HTTP connection every 0.5 ms from this process (no curl
process per poll), so the figure is the server's, plus at most a poll interval.
"""
import json, os, signal, socket, statistics, subprocess, sys, tempfile, time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
APP = os.path.join(ROOT, "examples/illuminate-app/public")
PORT = 18190


def worker_pid():
    try:
        with socket.create_connection(("127.0.0.1", PORT), timeout=1) as s:
            s.sendall(b"GET /probe/state HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        return json.loads(body)["pid"] if head.startswith(b"HTTP/1.1 200") else None
    except (OSError, ValueError, KeyError):
        return None


def measure(rounds, extra):
    log = tempfile.NamedTemporaryFile(delete=False)
    server = subprocess.Popen([os.path.join(ROOT, "build/askr"), "serve", "--root", APP, "--worker",
                               APP + "/worker.php", "--workers", "1", "--listen", f"127.0.0.1:{PORT}"] + extra,
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        while worker_pid() is None:
            time.sleep(0.05)
        samples = []
        for _ in range(rounds):
            time.sleep(2.2)  # past the crash-loop window (2 s): each kill is a plain respawn
            victim = worker_pid()
            start = time.perf_counter()
            os.kill(victim, signal.SIGKILL)
            while True:
                pid = worker_pid()
                if pid is not None and pid != victim:
                    break
                time.sleep(0.0005)
            samples.append((time.perf_counter() - start) * 1000)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait()
        os.unlink(log.name)
    samples.sort()
    label = "--cow" if extra else "cold"
    print(f"{label:6} kill -9 -> replacement served: median {statistics.median(samples):.1f} ms, "
          f"min {samples[0]:.1f}, max {samples[-1]:.1f} ({rounds} rounds)")


rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
measure(rounds, [])
measure(rounds, ["--cow"])
