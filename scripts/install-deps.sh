#!/usr/bin/env bash
# Installs every Debian package Askr's build, tests and benchmarks need.
# Idempotent: installs only what is missing, and says nothing when all is there.
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config
  # PHP, embedded (the library, its headers, the extensions apps and tests use)
  libphp8.2-embed php8.2-dev php8.2-cli php8.2-opcache php8.2-mbstring php8.2-xml
  php8.2-sqlite3 php8.2-intl php8.2-curl php8.2-gd
  # libraries (docs/architecture.md, "Dependencies")
  libboost1.81-dev libhttp-parser-dev libnghttp2-dev libssl-dev libtomlplusplus-dev
  libcli11-dev nlohmann-json3-dev libspdlog-dev libfmt-dev media-types zlib1g-dev
  # tests
  libgtest-dev libcurl4-openssl-dev curl nghttp2-client openssl
  # real decoders for the compression tests
  zstd brotli gzip
  # the fuzz target (tests/fuzz): clang with libFuzzer and the sanitizers' runtimes
  clang libclang-rt-14-dev
  # admin tests: promtool (checks the /metrics exposition) and headless Chromium (dashboard)
  prometheus chromium
  # anchors for comparison tests and benchmarks, and a real app
  nginx php8.2-fpm wrk apache2 libapache2-mod-php8.2 dokuwiki
  # framework components for the worker-mode examples (examples/illuminate-app, symfony-runtime)
  php-illuminate-container php-illuminate-events php-illuminate-routing php-illuminate-http
  php-illuminate-view php-illuminate-filesystem php-illuminate-support
  php-symfony-http-kernel php-symfony-http-foundation php-symfony-routing
  php-symfony-event-dispatcher php-symfony-runtime php-symfony-error-handler
  # the whole Laravel 8 framework (examples/laravel-app, integrations/laravel)
  php-laravel-framework php-psr-simple-cache
  # compression, Redis (cache and broadcasting across nodes), systemd readiness
  libbrotli-dev libzstd-dev libhiredis-dev libsystemd-dev redis-server php8.2-redis
  # packaging (make deb: dpkg-shlibdeps comes with dpkg-dev, lintian checks the package,
  # systemd-analyze the unit; make dist: patchelf sets the tarball's rpath)
  dpkg-dev lintian systemd patchelf
  # more anchors: APCu (the cache benchmark), Caddy 2 and h2o (front servers)
  php8.2-apcu caddy h2o
  # the production guide's Let's Encrypt steps, run against pebble (a test ACME server)
  certbot pebble
)
# `--bench`: what only bench/run needs on top (MediaWiki is 230 MB: not for every build).
if [ "${1:-}" = --bench ]; then
  packages+=(mediawiki)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run this script as root (sudo $0) to install them" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Debian's maintainer scripts would start nginx, php-fpm and apache2 as system services;
# Askr's tests start their own instances on loopback, so keep the packaged ones stopped.
policy_created=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  policy_created=1
fi
trap '[ $policy_created -eq 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
apt-get update -qq -o DPkg::Lock::Timeout=300
apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}" >/dev/null
