#!/usr/bin/env python3
"""Parses wrk output and prints the benchmark table (python3 standard library only).

  report.py record --wrk FILE key=value...   one JSON line: the wrk figures + the keys
  report.py record --h2load FILE key=value... the same from h2load's summary
  report.py record --tls FILE key=value...    the same from lib/tls_handshakes.c (req/s
                                             = handshakes/s, resumed_pct)
  report.py table RESULTS.jsonl              the markdown table
  report.py check RESULTS.jsonl              exit 1 when a run failed or had only errors
                                             ("n/a: ..." rows, a server that cannot run
                                             the scenario, are not failures)
  report.py servers RESULTS.jsonl            the server setup lines (from the probes)
  report.py notes RESULTS.jsonl              warnings: rows measured under interference,
                                             servers that logged during the run

RESULTS.jsonl holds one JSON object a line:
  {"type": "run", "scenario", "conns", "server", "label", "status": "ok"|message,
   "rps", "p50_ms", "p99_ms", "errors", "requests", "bytes_per_s", "rss_kb", "pss_kb",
   "nprocs", "round", "other_cpu_pct", "log_lines"}
  {"type": "todo", "scenario", "what"}
  {"type": "probe", "server", "label", "info": {...}}
"""
import json
import re
import statistics
import sys

UNITS_TIME = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}
UNITS_BYTES = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
SERVER_ORDER = {"askr": 0, "nginx": 1, "apache": 2, "caddy": 3, "h2o": 4}


def parse_time(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    return float(m.group(1)) * UNITS_TIME[m.group(2)] if m else None


def parse_bytes(text):
    m = re.fullmatch(r"([\d.]+)(B|KB|MB|GB|TB)", text.strip())
    return float(m.group(1)) * UNITS_BYTES[m.group(2)] if m else None


def parse_wrk(out):
    r = {"rps": None, "p50_ms": None, "p99_ms": None, "errors": 0,
         "requests": 0, "bytes_per_s": None, "non2xx": 0, "socket_errors": 0}
    for line in out.splitlines():
        s = line.strip()
        m = re.match(r"Requests/sec:\s+([\d.]+)", s)
        if m:
            r["rps"] = float(m.group(1))
        m = re.match(r"Transfer/sec:\s+(\S+)", s)
        if m:
            r["bytes_per_s"] = parse_bytes(m.group(1))
        m = re.match(r"(50|99)(?:\.0+)?%\s+(\S+)", s)
        if m:
            r["p%s_ms" % m.group(1)] = parse_time(m.group(2))
        m = re.match(r"(\d+) requests in", s)
        if m:
            r["requests"] = int(m.group(1))
        m = re.match(r"Non-2xx or 3xx responses:\s+(\d+)", s)
        if m:
            r["non2xx"] = int(m.group(1))
        m = re.match(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", s)
        if m:
            r["socket_errors"] = sum(int(x) for x in m.groups())
    r["errors"] = r["non2xx"] + r["socket_errors"]
    return r


def parse_h2load(out):
    """h2load's summary: requests/s, transfer/s, counts; no percentiles (p50/p99 None)."""
    r = {"rps": None, "p50_ms": None, "p99_ms": None, "errors": 0,
         "requests": 0, "bytes_per_s": None, "non2xx": 0, "socket_errors": 0}
    for line in out.splitlines():
        s = line.strip()
        m = re.match(r"finished in \S+, ([\d.]+) req/s, (\S+)/s", s)
        if m:
            r["rps"] = float(m.group(1))
            r["bytes_per_s"] = parse_bytes(m.group(2))
        m = re.match(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", s)
        if m:
            r["requests"] = int(m.group(1)) + int(m.group(2))
            r["socket_errors"] = int(m.group(3)) + int(m.group(4))
        m = re.match(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", s)
        if m:
            r["non2xx"] = int(m.group(3)) + int(m.group(4))
    r["errors"] = r["non2xx"] + r["socket_errors"]
    return r


def parse_tls(out):
    """lib/tls_handshakes.c's line: "handshakes N resumed R errors E seconds S bytes B
    p50_ms X p99_ms Y". Each handshake carried one request: req/s = handshakes/s."""
    r = {"rps": None, "p50_ms": None, "p99_ms": None, "errors": 0,
         "requests": 0, "bytes_per_s": None, "non2xx": 0, "socket_errors": 0}
    for line in out.splitlines():
        f = line.split()
        if len(f) != 14 or f[0] != "handshakes":
            continue
        v = dict(zip(f[0::2], f[1::2]))
        seconds = float(v["seconds"])
        r["requests"] = int(v["handshakes"])
        r["rps"] = r["requests"] / seconds if seconds > 0 else None
        r["bytes_per_s"] = int(v["bytes"]) / seconds if seconds > 0 else None
        r["socket_errors"] = int(v["errors"])
        r["p50_ms"], r["p99_ms"] = float(v["p50_ms"]), float(v["p99_ms"])
        r["resumed_pct"] = 100.0 * int(v["resumed"]) / r["requests"] if r["requests"] else 0.0
    r["errors"] = r["non2xx"] + r["socket_errors"]
    return r


def not_applicable(r):
    return str(r.get("status", "")).startswith("n/a")


def cmd_record(args):
    rec = {"type": "run"}
    wrk = None
    i = 0
    while i < len(args):
        if args[i] in ("--wrk", "--h2load", "--tls"):
            wrk = args[i + 1]
            parse = {"--wrk": parse_wrk, "--h2load": parse_h2load, "--tls": parse_tls}[args[i]]
            i += 2
            continue
        k, _, v = args[i].partition("=")
        if v.lstrip("-").isdigit():
            v = int(v)
        rec[k] = v
        i += 1
    if wrk:
        with open(wrk, encoding="utf-8", errors="replace") as f:
            rec.update(parse(f.read()))
        if rec.get("status", "ok") == "ok":
            if not rec["rps"] or rec["requests"] == 0:
                rec["status"] = "no requests completed"
            elif rec["non2xx"] >= rec["requests"]:
                # Socket errors are not counted here: a server that closes each
                # connection after its response makes wrk count read errors while
                # every response was right.
                rec["status"] = "only errors"
    print(json.dumps(rec))


def load(path):
    recs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                recs.append(json.loads(line))
    return recs


def fmt_int(x):
    return "{:,}".format(int(round(x))) if x is not None else "–"


def fmt_ms(x):
    if x is None:
        return "–"
    if x < 1:
        return "%.2f" % x
    if x < 100:
        return "%.1f" % x
    return "%d" % round(x)


def fmt_bytes(x):
    if x is None:
        return "–"
    for unit, div in (("GB/s", 1024**3), ("MB/s", 1024**2), ("KB/s", 1024)):
        if x >= div:
            return "%.2f %s" % (x / div, unit) if x / div < 100 else "%.0f %s" % (x / div, unit)
    return "%.0f B/s" % x


def fmt_per_response(r):
    """Bytes per response (wrk's bytes read / requests: head and body), with the
    Content-Encoding of the checked answer when the scenario asked for one."""
    if not r.get("bytes_per_s") or not r.get("rps"):
        return "–"
    size = r["bytes_per_s"] / r["rps"]
    text = "%.1f KB" % (size / 1024) if size >= 1024 else "%.0f B" % size
    if r.get("coding"):
        text += " (%s)" % r["coding"]
    return text


def fmt_cpu_per_request(r):
    """CPU time of every server process (and reaped children: php-fpm's, Apache's)
    during the measured run, per completed request, in microseconds: steadier than
    req/s when the load generator shares the cores."""
    jiffies, hz, n = r.get("server_cpu_jiffies"), r.get("clk_tck"), r.get("requests")
    if jiffies is None or not hz or not n:
        return "–"
    return fmt_int(jiffies * 1e6 / hz / n)


def fmt_mb(kb):
    return "%.0f" % (kb / 1024) if kb else "–"


def pick_median(runs):
    """Among repeated rounds, the run with the median requests/s (the median p99 for
    paced runs, whose requests/s is fixed)."""
    ok = [r for r in runs if r.get("status") == "ok"]
    if not ok:
        return runs[-1]
    paced = all("rate" in r for r in ok)
    ok.sort(key=lambda r: (r.get("p99_ms") or 0) if paced else r["rps"])
    return ok[(len(ok) - 1) // 2]


def ratio_key(scenario):
    # static-1m is about bandwidth: compare bytes/s (equal to requests/s up to headers).
    return "bytes_per_s" if scenario == "static-1m" else "rps"


def cmd_table(args):
    recs = load(args[0])
    runs = [r for r in recs if r.get("type") == "run"]
    todos = [r for r in recs if r.get("type") == "todo"]
    groups = {}
    order = []
    for r in runs:
        key = (r["scenario"], r["conns"])
        if key not in groups:
            groups[key] = {}
            order.append(key)
        groups[key].setdefault(r["server"], []).append(r)
    lines = [
        "| scenario | conns | server | req/s | vs nginx+fpm | CPU µs/req | p50 ms | p99 ms | errors | transfer/s | bytes/resp | RSS MB | PSS MB |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key in order:
        scen, conns = key
        chosen = {srv: pick_median(rs) for srv, rs in groups[key].items()}
        base = chosen.get("nginx")
        rk = ratio_key(scen)
        base_v = base.get(rk) if base and base.get("status") == "ok" else None
        for srv in sorted(chosen, key=lambda s: SERVER_ORDER.get(s, 9)):
            r = chosen[srv]
            label = r.get("label", srv)
            nrounds = len(groups[key][srv])
            if nrounds > 1:
                label += " (median of %d)" % nrounds
            if r.get("status") != "ok" and not r.get("rps"):
                lines.append("| %s | %s | %s | %s | – | – | – | – | – | – | – | – | – |"
                             % (scen, conns, label, r.get("status", "?")))
                continue
            v = r.get(rk)
            shown_conns = conns
            if "rate" in r:
                # Paced: every server got the same request rate; compare the latency.
                shown_conns = "%s @ %s/s" % (conns, r["rate"])
                base_p99 = base.get("p99_ms") if base and base.get("status") == "ok" else None
                ratio = ("p99 %.2fx" % (r["p99_ms"] / base_p99)) if base_p99 and r.get("p99_ms") else "–"
            elif base_v and v is not None:
                ratio = "%.2fx" % (v / base_v)
                if rk == "bytes_per_s":
                    ratio += " (bytes/s)"
            else:
                ratio = "–"
            rps = fmt_int(r["rps"])
            if r.get("status") != "ok":
                rps += " (%s)" % r["status"]
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                scen, shown_conns, label, rps, ratio, fmt_cpu_per_request(r), fmt_ms(r.get("p50_ms")),
                fmt_ms(r.get("p99_ms")), fmt_int(r.get("errors", 0)),
                fmt_bytes(r.get("bytes_per_s")), fmt_per_response(r), fmt_mb(r.get("rss_kb")),
                fmt_mb(r.get("pss_kb"))))
    for t in todos:
        lines.append("| %s | – | %s | not yet | – | – | – | – | – | – | – | – | – |"
                     % (t["scenario"], t.get("what", "")))
    print("\n".join(lines))


def cmd_notes(args):
    """Warns about rows measured while other processes took CPU time (interference)."""
    recs = load(args[0])
    busy = ["%s c=%s %s: %d%%" % (r["scenario"], r["conns"], r["server"], r["other_cpu_pct"])
            for r in recs if r.get("type") == "run" and r.get("other_cpu_pct", 0) >= 5]
    if busy:
        print("Interference: other processes took CPU time during these rows (share of the "
              "machine's CPU time; their ratios are unreliable, rerun on an idle machine): "
              + "; ".join(busy) + ".")
    tls = ["%s %s: %.1f%%" % (r["scenario"], r["server"], r["resumed_pct"])
           for r in recs if r.get("type") == "run" and "resumed_pct" in r]
    if tls:
        if busy:
            print()
        print("TLS: the tls-* rows' req/s are handshakes/s (a new connection, one request "
              "each); share of handshakes the server resumed (tls-full: 0%, tls-resumed: "
              "near 100% when tickets work): " + "; ".join(tls) + ".")
    chatty = ["%s c=%s %s: %s lines" % (r["scenario"], r["conns"], r["server"],
                                        format(r["log_lines"], ","))
              for r in recs if r.get("type") == "run" and r.get("log_lines", 0) > 200]
    if chatty:
        if busy or tls:
            print()
        print("Logging: these servers wrote to their logs during the run (a warning per "
              "request costs throughput; see the logs in bench/results/tmp): "
              + "; ".join(chatty) + ".")


def process_memory(rec):
    """{role: [rss_kb, ...]} from proc_rss ("askr:_worker=15000,php-fpm8.2=14000,...")."""
    roles = {}
    for item in filter(None, rec.get("proc_rss", "").split(",")):
        name, _, kb = item.rpartition("=")
        name = name.replace("_", " ")
        if name.startswith("php-fpm") and rec.get("server") == "nginx":
            # php-fpm's master and children share the name: the master is the smallest.
            name = "php-fpm"
        roles.setdefault(name, []).append(int(kb))
    return roles


def cmd_memory(args):
    """Per-process RSS: Askr's master, its workers' largest, php-fpm's largest child."""
    recs = [r for r in load(args[0]) if r.get("type") == "run" and r.get("status") == "ok"]
    lines = []
    for r in recs:
        roles = process_memory(r)
        if r["server"] == "askr" and "askr: worker" in roles:
            master = max(roles.get("askr: master", [0]))
            worker = max(roles["askr: worker"])
            fpm = [process_memory(o).get("php-fpm", []) for o in recs
                   if o["server"] == "nginx" and o["scenario"] == r["scenario"] and o["conns"] == r["conns"]]
            fpm = [max(sorted(f)[1:] or f) for f in fpm if f]  # children: all but the master
            text = "%s c=%s: askr master %.1f MB, largest worker %.1f MB" % (
                r["scenario"], r["conns"], master / 1024, worker / 1024)
            if fpm:
                text += ", largest php-fpm child %.1f MB (worker %+.1f MB)" % (
                    fpm[0] / 1024, (worker - fpm[0]) / 1024)
            lines.append(text)
    if lines:
        print("Memory per process (RSS at the end of the run; targets: master under 20 MB, "
              "a worker at most a php-fpm child + 5 MB): " + "; ".join(lines) + ".")


def cmd_check(args):
    recs = load(args[0])
    bad = [r for r in recs if r.get("type") == "run" and r.get("status") != "ok"
           and not not_applicable(r)]
    for r in bad:
        print("bench: %s c=%s %s: %s" % (r["scenario"], r["conns"], r["server"], r["status"]),
              file=sys.stderr)
    runs = [r for r in recs if r.get("type") == "run" and not not_applicable(r)]
    sys.exit(1 if bad or not runs else 0)


def cmd_servers(args):
    recs = load(args[0])
    for r in recs:
        if r.get("type") != "probe":
            continue
        i = r.get("info") or {}
        if not i:
            print("- %s: PHP probe failed" % r["label"])
            continue
        print("- %s: PHP %s, SAPI %s, opcache %s%s, PHP runs as %s, memory_limit %s" % (
            r["label"], i.get("php"), i.get("sapi"), "on" if i.get("opcache") else "OFF",
            " (JIT on)" if i.get("jit") else "", i.get("user"), i.get("memory_limit")))


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    cmd, args = sys.argv[1], sys.argv[2:]
    {"record": cmd_record, "table": cmd_table, "check": cmd_check,
     "servers": cmd_servers, "notes": cmd_notes, "memory": cmd_memory}[cmd](args)


if __name__ == "__main__":
    main()
