#!/usr/bin/env bash
# Smoke test of the benchmark harness: `bench/run --quick` against the built binary must
# work end to end (anchors start, wrk runs, every server answers correctly, the table is
# written). It asserts that the harness works, not speeds (bench/README.md).
#
#   tests/bench/quick.sh ASKR_BINARY
set -uo pipefail
askr=${1:?usage: quick.sh ASKR_BINARY}
repo=$(cd "$(dirname "$0")/../.." && pwd)
log=$(mktemp)
trap 'rm -f "$log"' EXIT

fail() {
  echo "bench smoke test: $*" >&2
  echo "--- bench/run output (last 40 lines) ---" >&2
  tail -n 40 "$log" >&2
  exit 1
}

"$repo/bench/run" --quick --no-build --askr "$askr" >"$log" 2>&1 || fail "bench/run --quick exited with status $?"

# One row per scenario and server, each with requests answered and no errors. The
# columns are found by their names in the table's header.
header=$(grep -m1 -F "| scenario | conns | server |" "$log") || fail "no table header"
column() {  # the awk field number (split on '|') of the column named $1
  awk -F'|' -v name="$1" '{ for (i = 1; i <= NF; i++) { f = $i; gsub(/^ +| +$/, "", f); if (f == name) { print i; exit } } }' <<<"$header"
}
rps_col=$(column "req/s") errors_col=$(column errors)
[ -n "$rps_col" ] && [ -n "$errors_col" ] || fail "no req/s or errors column in: $header"
for scenario in hello static-1k; do
  for server in "askr (" "nginx + php-fpm (" "apache + mod_php ("; do
    row=$(grep -F "| $scenario | 32 | $server" "$log" | head -n 1)
    [ -n "$row" ] || fail "no '$scenario' row for ${server% (}"
    rps=$(awk -F'|' -v c="$rps_col" '{gsub(/[ ,]/, "", $c); print $c}' <<<"$row")
    errors=$(awk -F'|' -v c="$errors_col" '{gsub(/ /, "", $c); print $c}' <<<"$row")
    [[ $rps =~ ^[0-9]+$ ]] && [ "$rps" -gt 0 ] || fail "'$scenario' ${server% (}: no requests per second in: $row"
    [ "$errors" = 0 ] || fail "'$scenario' ${server% (}: $errors errors in: $row"
  done
done
grep -q "^Memory per process" "$log" || fail "no memory line"
table=$(sed -n 's/^bench: table written to \([^ ]*\).*/\1/p' "$log")
[ -n "$table" ] && [ -s "$repo/$table" ] || fail "the table file '$table' was not written"
echo "bench smoke test: ok ($table)"
