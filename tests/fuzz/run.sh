#!/usr/bin/env bash
# Builds a fuzzer with clang (libFuzzer + AddressSanitizer + UndefinedBehaviorSanitizer)
# and runs it on its seed corpus for a while. TARGET: h1_parser (the HTTP/1 request path,
# the default) or proxy_protocol (the PROXY protocol header parser).
#
#   tests/fuzz/run.sh [SECONDS] [BUILD_DIR] [TARGET]     (default 20 s, build/fuzz, h1_parser)
#
# Exit status 0 when the fuzzer found nothing in that time; otherwise libFuzzer's crash
# report is on stderr and the crashing input is saved in BUILD_DIR (crash-*), to be added
# to the corpus once fixed. `make test` runs each briefly (ctest: fuzz.h1_parser,
# fuzz.proxy_protocol); run one for hours by hand: tests/fuzz/run.sh 3600.
set -euo pipefail
seconds=${1:-20}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${2:-$repo/build/fuzz}
target=${3:-h1_parser}
mkdir -p "$out"
clang=$(command -v clang++ || command -v clang++-14 || true)
[ -n "$clang" ] || { echo "fuzz: clang++ is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }

binary=$out/${target}_fuzz
case $target in
  h1_parser)
    sources=("$here/h1_parser_fuzz.cpp" "$repo/src/http/h1/parser.cpp" "$repo/src/http/h1/chunked_framing.cpp"
             "$repo/src/http/request.cpp" "$repo/src/http/fields.cpp")
    libraries=(-lhttp_parser) seeds=$here/corpus/h1 learned=corpus max_len=4096 ;;
  proxy_protocol)
    sources=("$here/proxy_protocol_fuzz.cpp" "$repo/src/http/proxy_protocol.cpp" "$repo/src/core/ip_address.cpp")
    libraries=() seeds=$here/corpus/proxy_protocol learned=corpus-proxy_protocol max_len=2200 ;;
  *) echo "fuzz: unknown target $target (h1_parser or proxy_protocol)" >&2; exit 2 ;;
esac
if [ ! -x "$binary" ] || [ -n "$(find "${sources[@]}" "$repo/src/http" -newer "$binary" -name '*.[ch]pp' | head -n 1)" ]; then
  "$clang" -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$repo/src" "${sources[@]}" "${libraries[@]}" -o "$binary"
fi
# The seed corpus stays read-only in the repository; what the fuzzer learns goes to
# $out/corpus (h1_parser) or $out/corpus-TARGET, the first directory, seeded from
# tests/fuzz/corpus/*.
mkdir -p "$out/$learned"
cd "$out"
"$binary" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  "$learned" "$seeds" 2>&1 | tail -n 25
status=${PIPESTATUS[0]}
exit "$status"
