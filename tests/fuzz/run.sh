#!/usr/bin/env bash
# Builds the HTTP/1 request fuzzer with clang (libFuzzer + AddressSanitizer +
# UndefinedBehaviorSanitizer) and runs it on the seed corpus for a while.
#
#   tests/fuzz/run.sh [SECONDS] [BUILD_DIR]     (default 20 s, build/fuzz)
#
# Exit status 0 when the fuzzer found nothing in that time; otherwise libFuzzer's crash
# report is on stderr and the crashing input is saved in BUILD_DIR (crash-*), to be added
# to the corpus once fixed. `make test` runs it briefly (ctest: fuzz.h1_parser); run it
# for hours by hand: tests/fuzz/run.sh 3600.
set -euo pipefail
seconds=${1:-20}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${2:-$repo/build/fuzz}
mkdir -p "$out/corpus"
clang=$(command -v clang++ || command -v clang++-14 || true)
[ -n "$clang" ] || { echo "fuzz: clang++ is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }

binary=$out/h1_parser_fuzz
sources=("$here/h1_parser_fuzz.cpp" "$repo/src/http/h1/parser.cpp" "$repo/src/http/h1/chunked_framing.cpp"
         "$repo/src/http/request.cpp" "$repo/src/http/fields.cpp")
if [ ! -x "$binary" ] || [ -n "$(find "${sources[@]}" "$repo/src/http" -newer "$binary" -name '*.[ch]pp' | head -n 1)" ]; then
  "$clang" -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$repo/src" "${sources[@]}" -lhttp_parser -o "$binary"
fi
# The seed corpus stays read-only in the repository; what the fuzzer learns goes to
# $out/corpus (first directory), seeded from tests/fuzz/corpus/h1.
cd "$out"
"$binary" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  corpus "$here/corpus/h1" 2>&1 | tail -n 25
status=${PIPESTATUS[0]}
exit "$status"
