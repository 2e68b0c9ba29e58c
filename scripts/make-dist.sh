#!/usr/bin/env bash
# Builds the relocatable tarball: Askr, libphp, the extensions Debian's embedded PHP
# enables (opcache included) and every shared library they need but glibc's own, an ini
# of its own, the integrations, examples and docs. bin/askr finds its libraries through
# the rpath $ORIGIN/../lib, and PHP reads etc/php/php.ini, etc/php/conf.d and
# lib/php/extensions beside it, never the system's /etc/php or /usr/lib/php. It runs from
# any directory:  tar xzf askr-*.tar.gz && askr-*/bin/askr serve --root public
#   scripts/make-dist.sh [BINARY [OUTDIR]]     (make dist: build/askr into build/)
# Prints the path of the tarball. Installs nothing.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
binary=$(realpath "${1:-$repo/build/askr}")
out=$(realpath "${2:-$(dirname "$binary")}")
version=$(sed -n 's/^project(askr VERSION \([0-9.]*\).*/\1/p' "$repo/CMakeLists.txt")
php=$(php-config --version | cut -d. -f1,2)
php_extensions=$(php-config --extension-dir)
php_ini_dir=/etc/php/$php/embed
name=askr-$version-linux-$(uname -m)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
dir=$stage/$name

install -D -m 0755 "$binary" "$dir/bin/askr"
strip --strip-unneeded --remove-section=.comment "$dir/bin/askr"
# DT_RPATH, not RUNPATH: it also applies to the libraries' own dependencies and to the
# extensions PHP dlopen()s.
patchelf --force-rpath --set-rpath '$ORIGIN/../lib' "$dir/bin/askr"

# The extensions the embedded PHP enables (its conf.d), with their ini files, and its php.ini.
mkdir -p "$dir/lib/php/extensions" "$dir/etc/php/conf.d"
install -m 0644 "$php_ini_dir/php.ini" "$dir/etc/php/php.ini"
for ini in "$php_ini_dir"/conf.d/*.ini; do
  extension=$(sed -n 's/^[[:space:]]*\(zend_\)\{0,1\}extension[[:space:]]*=[[:space:]]*\([^[:space:];]*\).*/\2/p' "$ini" | head -1)
  [ -n "$extension" ] || continue
  so=$(basename "${extension%.so}").so
  [ -f "$php_extensions/$so" ] || continue
  install -m 0644 "$php_extensions/$so" "$dir/lib/php/extensions/$so"
  install -m 0644 "$(realpath "$ini")" "$dir/etc/php/conf.d/$(basename "$ini")"
done

# The shared libraries: libphp and what the binary and the extensions link, except glibc's.
copy_libraries() {
  ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | while read -r library; do
    base=$(basename "$library")
    case $base in
      libc.so.*|libm.so.*|libdl.so.*|libpthread.so.*|librt.so.*|libresolv.so.*|libutil.so.*|ld-linux*) continue ;;
    esac
    [ -e "$dir/lib/$base" ] || install -m 0644 "$(realpath "$library")" "$dir/lib/$base"
  done
}
copy_libraries "$binary"
for so in "$dir"/lib/php/extensions/*.so; do copy_libraries "$so"; done

cp -r "$repo/integrations" "$dir/integrations"
install -d "$dir/examples" "$dir/docs"
cp -r "$repo/examples/hello" "$repo/examples/laravel-app" "$repo/examples/worker-plain" "$dir/examples/"
rm -rf "$dir/examples/laravel-app/storage"
install -m 0644 "$repo/README.md" "$dir/README.md"
install -m 0644 "$repo"/docs/*.md "$dir/docs/"
install -m 0644 "$repo/packaging/askr.service" "$dir/docs/askr.service"

tarball=$out/$name.tar.gz
tar -C "$stage" --owner=0 --group=0 -czf "$tarball" "$name"
echo "$tarball"
