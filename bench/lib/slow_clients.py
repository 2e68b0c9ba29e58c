#!/usr/bin/env python3
"""Slow readers for bench/run's slow-clients scenario.

    slow_clients.py PORT PATH CLIENTS SECONDS

CLIENTS connections to 127.0.0.1:PORT each ask for PATH and read the answer slowly
(4 KiB every 50 ms, about 80 KB/s, with a small receive buffer so the server sees the
back-pressure), one request after the other, for SECONDS seconds. Prints one JSON line:
responses completed, bytes read, connection errors.
"""
import json
import socket
import sys
import threading
import time

port, path, clients, seconds = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
deadline = time.monotonic() + seconds
lock = threading.Lock()
totals = {"responses": 0, "bytes": 0, "errors": 0}


def client():
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()
    while time.monotonic() < deadline:
        got = 0
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.settimeout(max(0.1, deadline - time.monotonic()))
            s.connect(("127.0.0.1", port))
            s.sendall(request)
            while time.monotonic() < deadline:
                chunk = s.recv(4096)
                if not chunk:
                    with lock:
                        totals["responses"] += 1
                    break
                got += len(chunk)
                time.sleep(0.05)
        except OSError:
            if time.monotonic() < deadline:
                with lock:
                    totals["errors"] += 1
                time.sleep(0.05)
        finally:
            s.close()
            with lock:
                totals["bytes"] += got


threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
for t in threads:
    t.start()
for t in threads:
    t.join(seconds + 5)
print(json.dumps(totals))
