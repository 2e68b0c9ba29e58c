#!/usr/bin/env bash
# Cost of the request metrics: the same server built with and without
# recording (-DASKR_METRICS=OFF), measured A/B interleaved with wrk on hello.php and a
# 1 KiB static file. The machine is shared: compare only within one run.
#   bench/metrics_overhead.sh [ROUNDS] [DURATION]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
duration=${2:-10s}
on=build
off=build-nometrics
cmake -S . -B $off -DCMAKE_BUILD_TYPE=Release -DASKR_METRICS=OFF -DASKR_TESTS=OFF >/dev/null
cmake --build $off -j2 --target askr >/dev/null
cmake --build $on -j2 --target askr >/dev/null

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
chmod 755 "$root"
echo '<?php echo "Hello, world!";' > "$root/hello.php"
head -c 1024 /dev/zero | tr '\0' x > "$root/static.txt"
touch -d '-1 min' "$root/hello.php"  # opcache.file_update_protection

# CPU time (clock ticks) used so far by the server's workers and zygote.
server_ticks() {
  local total=0 child
  for child in $(pgrep -P "$1"); do
    total=$((total + $(sed 's/.*) //' /proc/$child/stat | awk '{print $12 + $13}')))
  done
  echo $total
}

# One wrk run: "requests/s CPU-µs-per-request" (the CPU figure is the steadier one on a
# shared machine: it does not depend on how much CPU the server got).
measure() {  # master-pid url
  local before after out rps requests
  before=$(server_ticks "$1")
  out=$(wrk -t2 -c32 -d"$duration" "$2")
  after=$(server_ticks "$1")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  echo "$rps $(awk -v t=$((after - before)) -v n="$requests" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", t * 1e6 / hz / n}')"
}

run_one() {  # build path
  local port=$((20000 + RANDOM % 20000))
  "$1/askr" serve --root "$root" --listen 127.0.0.1:$port --workers 2 --admin-listen off --log-level error &
  local pid=$!
  for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/static.txt" && break; sleep 0.05; done
  wrk -t2 -c32 -d2s "http://127.0.0.1:$port/hello.php" >/dev/null  # warm-up
  local php static
  php=$(measure $pid "http://127.0.0.1:$port/hello.php")
  static=$(measure $pid "http://127.0.0.1:$port/static.txt")
  kill -TERM $pid
  wait $pid || true
  echo "$php $static"
}

printf "%-6s %-8s %12s %10s %12s %10s\n" round build hello-rps µs/req static-rps µs/req
for r in $(seq "$rounds"); do
  order="$on $off"
  [ $((r % 2)) -eq 0 ] && order="$off $on"  # ABBA: neither build always runs first
  for b in $order; do
    read -r php php_cpu static static_cpu < <(run_one $b)
    label=$([ $b = $on ] && echo metrics || echo none)
    printf "%-6s %-8s %12s %10s %12s %10s\n" "$r" "$label" "$php" "$php_cpu" "$static" "$static_cpu"
  done
done
