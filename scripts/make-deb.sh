#!/usr/bin/env bash
# Builds the Debian package of Askr from a built binary, with Debian's own tools:
# dpkg-shlibdeps computes Depends from the binary's shared libraries, dpkg-deb builds.
#   scripts/make-deb.sh [BINARY [OUTDIR]]     (make deb: build/askr into build/)
# Prints the path of the .deb. Installs nothing.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
binary=$(realpath "${1:-$repo/build/askr}")
out=$(realpath "${2:-$(dirname "$binary")}")
version=$(sed -n 's/^project(askr VERSION \([0-9.]*\).*/\1/p' "$repo/CMakeLists.txt")
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/root

install -D -m 0755 "$binary" "$root/usr/bin/askr"
# Symbols the executable exports for libphp (-rdynamic) are dynamic ones: kept.
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/bin/askr"
install -D -m 0644 "$repo/packaging/askr.service" "$root/lib/systemd/system/askr.service"
install -D -m 0644 "$repo/packaging/askr.toml" "$root/etc/askr/askr.toml"
install -D -m 0644 "$repo/packaging/askr.logrotate" "$root/etc/logrotate.d/askr"
install -D -m 0644 "$repo/packaging/askr.1" "$root/usr/share/man/man1/askr.1"
gzip -9n "$root/usr/share/man/man1/askr.1"

doc=$root/usr/share/doc/askr
install -d "$doc"
install -m 0644 "$repo/README.md" "$repo"/docs/*.md "$doc/"
install -m 0644 "$repo/packaging/copyright" "$doc/copyright"
printf 'askr (%s) unstable; urgency=medium\n\n  * Built from commit %s.\n\n -- The Askr developers <askr@example.org>  %s\n' \
  "$version" "$(git -C "$repo" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)" \
  "$(date -R)" | gzip -9n > "$doc/changelog.gz"

# The Laravel and PHP integrations and the examples, read-only (their storage goes
# elsewhere: LARAVEL_STORAGE).
share=$root/usr/share/askr
install -d "$share"
cp -r "$repo/integrations/laravel" "$repo/integrations/php" "$share/"
install -d "$share/examples"
cp -r "$repo/examples/hello" "$repo/examples/laravel-app" "$repo/examples/worker-plain" \
  "$repo/examples/broadcast" \
  "$share/examples/"
rm -rf "$share/examples/laravel-app/storage" "$share/examples/laravel-app/.gitignore"
find "$share" -type d -exec chmod 0755 {} + -o -type f -exec chmod 0644 {} +
# Scripts meant to be run keep their execute bit.
for script in "$share/examples/laravel-app/artisan" "$share/examples/laravel-app/bin/setup"; do
  chmod 0755 "$script"
done

# Depends: what the binary links (OpenSSL, nghttp2, ...), plus libphp, which it links
# through the unversioned libphp.so that libphp8.x-embed's alternative provides (so
# dpkg-shlibdeps cannot name its package), the opcache extension libphp loads, and the
# PHP CLI the examples' artisan and bin/setup run with.
php=$(php-config --version | cut -d. -f1,2)
mkdir -p "$stage/debian"
printf 'Source: askr\n\nPackage: askr\nArchitecture: any\n' > "$stage/debian/control"
shlibs=$(cd "$stage" && dpkg-shlibdeps -O root/usr/bin/askr 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "make-deb: dpkg-shlibdeps named no dependency" >&2; exit 1; }
installed=$(du -sk --exclude=DEBIAN "$root" | cut -f1)

install -d "$root/DEBIAN"
cat > "$root/DEBIAN/control" <<CONTROL
Package: askr
Version: $version
Architecture: $arch
Maintainer: The Askr developers <askr@example.org>
Installed-Size: $installed
Depends: $shlibs, libphp$php-embed, php$php-opcache, php-cli
Recommends: logrotate
Section: httpd
Priority: optional
Homepage: https://example.org/askr
Description: PHP application server with PHP embedded
 Askr serves a PHP app over HTTP/1.1, HTTP/2 and TLS with PHP embedded in the
 same process: no FastCGI, no php-fpm, no proxy in front. It runs classic PHP
 and worker mode, supervises its workers, queue workers and scheduler, reloads
 without dropping a request, and has a shared-memory cache, metrics and a
 dashboard.
CONTROL
printf '/etc/askr/askr.toml\n/etc/logrotate.d/askr\n' > "$root/DEBIAN/conffiles"
for script in postinst prerm postrm; do
  install -m 0755 "$repo/packaging/debian/$script" "$root/DEBIAN/$script"
done
(cd "$root" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) \
  > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"

deb=$out/askr_${version}_${arch}.deb
dpkg-deb --build --root-owner-group -Zxz "$root" "$deb" >/dev/null
echo "$deb"
