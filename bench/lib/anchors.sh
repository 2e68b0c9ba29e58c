#!/usr/bin/env bash
# Anchor servers for Askr's benchmarks and comparison tests, set up on loopback from
# Debian's packages, each in its own work directory (config, pid files, logs, sockets).
# Never touches /etc/nginx, /etc/apache2 or the system php-fpm service: it only reads
# /etc/nginx/mime.types, /etc/nginx/fastcgi.conf, /etc/mime.types and the packaged
# php.ini files.
#
# As a command:
#   anchors.sh start-nginx-fpm DOCROOT PORT INDEX WORKDIR WORKERS
#       nginx (WORKERS worker processes; static files with sendfile, tcp_nopush,
#       open_file_cache) in front of php-fpm (pm = static, WORKERS children, opcache on),
#       over a unix socket. try_files $uri $uri/ /INDEX?$query_string.
#       With ANCHORS_COMPRESSION=1: gzip on (ANCHORS_GZIP_LEVEL, default 5), gzip_static on.
#   anchors.sh start-caddy DOCROOT PORT INDEX WORKDIR WORKERS
#       Caddy 2 (file_server, php_fastcgi) in front of php-fpm as above; with
#       ANCHORS_COMPRESSION=1 `encode zstd gzip` and precompressed zstd/gzip siblings.
#   anchors.sh start-apache DOCROOT PORT INDEX WORKDIR PROCS
#       Apache 2 prefork + mod_php, PROCS processes started up front (size it to the
#       number of client connections: prefork serves one connection per process).
#   anchors.sh start-askr BINARY DOCROOT PORT INDEX WORKDIR WORKERS
#       build/askr serve; --workers is passed only when the binary supports it.
#       ASKR_RUN_AS=USER runs it as USER (setpriv), ASKR_ARGS adds arguments.
#   anchors.sh stop WORKDIR            stop everything started in WORKDIR, wait for exit
#   anchors.sh status WORKDIR          list what runs there (name, pid, processes)
#   anchors.sh rss WORKDIR [NAME]      "RSS_KB PSS_KB NPROCS" summed over the server's
#                                      processes (PSS shares shared pages out fairly)
#   anchors.sh free-port               print a free TCP port on 127.0.0.1
#   anchors.sh askr-workers BINARY     print "yes" if `serve --workers` exists, else "no"
#   anchors.sh dokuwiki-fix-perms      give /var/lib/dokuwiki/data back to www-data
#   anchors.sh mediawiki-setup         install a MediaWiki on SQLite if none is configured
#
# Start commands print nothing on success (exit 0 once the port answers HTTP) and print
# the error log on failure (exit non-zero, nothing left running). WORKDIR is created if
# missing and made 0755; its path, the DOCROOT and INDEX must be reachable by www-data
# (nginx and php-fpm workers run as www-data: a 0700 parent directory gives 502s).
#
# The file can also be sourced: it then only defines the anchors_* functions.
#
# Each daemon runs in its own session under a small bash that reaps it. On this machine
# pid 1 does not reap orphans: run as a command, this script exits after the start, so
# that bash is re-parented to pid 1 and stays a zombie ("bash", state Z, no memory, no
# socket) after `stop`; nginx, php-fpm and apache2 themselves never linger. Sourced from
# a long-lived bash (as bench/run does), the shell reaps it. stop/status ignore zombies.

ANCHORS_WWW_USER=${ANCHORS_WWW_USER:-www-data}
ANCHORS_START_TIMEOUT=${ANCHORS_START_TIMEOUT:-10}   # seconds
ANCHORS_STOP_TIMEOUT=${ANCHORS_STOP_TIMEOUT:-5}     # seconds before SIGKILL
ANCHORS_PHP_VERSION=${ANCHORS_PHP_VERSION:-8.2}
ANCHORS_GZIP_LEVEL=${ANCHORS_GZIP_LEVEL:-5}        # nginx's gzip_comp_level: Askr's default

anchors__err() { echo "anchors: $*" >&2; }

# True when the process exists and is not a zombie.
anchors__alive() {
  local st
  st=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# Live (non-zombie) processes started from pid $1: its descendants (php-fpm's master
# calls setsid() itself) and every process of its session. One pid a line, $1 included
# while it lives.
anchors__session_pids() {
  local root=$1
  # /proc/PID/stat: "pid (comm) state ppid pgrp session ..."; comm may hold spaces.
  cat /proc/[0-9]*/stat 2>/dev/null | sed 's/^\([0-9]*\) (.*) /\1 /' | awk -v root="$root" '
    { pid[NR] = $1; st[$1] = $2; pp[$1] = $3; sid[$1] = $5 }
    END {
      keep[root] = 1
      do {
        changed = 0
        for (i = 1; i <= NR; i++) {
          p = pid[i]
          if (!(p in keep) && ((pp[p] in keep) || sid[p] == root)) { keep[p] = 1; changed = 1 }
        }
      } while (changed)
      for (p in keep) if ((p in st) && st[p] != "Z" && st[p] != "X") print p
    }'
}

anchors__as_www() {
  setpriv --reuid="$ANCHORS_WWW_USER" --regid="$ANCHORS_WWW_USER" --init-groups "$@"
}

anchors__prepare_workdir() {
  local w=$1
  mkdir -p "$w/pids" "$w/tmp" "$w/sessions" || return 1
  chmod 755 "$w" "$w/pids" "$w/tmp" || return 1
  chown "$ANCHORS_WWW_USER:$ANCHORS_WWW_USER" "$w/sessions" "$w/tmp" 2>/dev/null
  chmod 700 "$w/sessions"
  if ! anchors__as_www test -x "$w"; then
    anchors__err "work directory $w is not reachable by $ANCHORS_WWW_USER (a parent directory is not world-searchable; use e.g. mktemp -d /tmp/askr-XXXX and chmod 755 it)"
    return 1
  fi
}

anchors__check_docroot() {
  local docroot=$1 index=$2
  if [ ! -d "$docroot" ]; then
    anchors__err "document root $docroot does not exist"; return 1
  fi
  if ! anchors__as_www test -x "$docroot"; then
    anchors__err "document root $docroot is not reachable by $ANCHORS_WWW_USER (check the permissions of every parent directory)"
    return 1
  fi
  if [ -e "$docroot/$index" ] && ! anchors__as_www test -r "$docroot/$index"; then
    anchors__err "$docroot/$index is not readable by $ANCHORS_WWW_USER"; return 1
  fi
}

# anchors__launch WORKDIR NAME LOG CMD... : start CMD in a new session (so that Ctrl-C in
# the terminal does not reach it and stop can find all its processes), under a small bash
# that waits for it and passes SIGTERM on. That bash is the recorded pid: it reaps the
# daemon, so a daemon never stays a zombie even when pid 1 does not reap orphans.
anchors__launch() {
  local w=$1 name=$2 log=$3; shift 3
  local reaper='cd "$1" || exit 1; shift; c=; trap "[ -n \"\$c\" ] && kill -TERM \$c 2>/dev/null" TERM
"$@" & c=$!
while :; do wait $c; s=$?; kill -0 $c 2>/dev/null || exit $s; done'
  local jc=0
  # With job control on (interactive shell), a background job leads its own process
  # group, so setsid would fork and $! would not be the session leader.
  [[ $- == *m* ]] && { jc=1; set +m; }
  setsid bash -c "$reaper" "anchors-$name" "$w" "$@" </dev/null >>"$log" 2>&1 &
  ANCHORS_LAST_PID=$!
  # No "Killed"/"Done" job notices from the shell that sourced this file (it still reaps).
  disown "$ANCHORS_LAST_PID" 2>/dev/null
  [ $jc -eq 1 ] && set -m
  echo "$ANCHORS_LAST_PID" >"$w/pids/$name.pid"
}

# Waits until http://127.0.0.1:PORT/ answers with any HTTP status while PID lives.
anchors__wait_http() {
  local port=$1 pid=$2 deadline code
  deadline=$(( $(date +%s%N) / 1000000 + ANCHORS_START_TIMEOUT * 1000 ))
  while :; do
    code=$(curl -sk -o /dev/null -m 1 -w '%{http_code}' "$(anchors__scheme)://127.0.0.1:$port/" 2>/dev/null)
    [ -n "$code" ] && [ "$code" != 000 ] && return 0
    anchors__alive "$pid" || return 1
    [ $(( $(date +%s%N) / 1000000 )) -ge "$deadline" ] && return 1
    sleep 0.05
  done
}

# HTTPS (and HTTP/2 by ALPN) when ANCHORS_TLS_CERT and ANCHORS_TLS_KEY name a PEM
# certificate and key (the h2-* scenarios); plain HTTP otherwise.
anchors__scheme() { if [ -n "${ANCHORS_TLS_CERT:-}" ]; then echo https; else echo http; fi; }

anchors__port_free() {
  python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
EOF
}

anchors_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

anchors__fail() {
  # anchors__fail WORKDIR MESSAGE LOG... : print logs, stop what was started, return 1
  local w=$1 msg=$2; shift 2
  anchors__err "$msg"
  local f
  for f in "$@"; do
    [ -s "$f" ] || continue
    echo "---- $f (last 30 lines)" >&2
    tail -n 30 "$f" >&2
  done
  anchors_stop "$w" >/dev/null 2>&1
  return 1
}

# anchors__start_fpm WORKDIR WORKERS: php-fpm (pm = static, WORKERS children, opcache on)
# on the unix socket WORKDIR/php-fpm.sock, for nginx and Caddy.
anchors__start_fpm() {
  local w=$1 workers=$2
  local fpm=php-fpm$ANCHORS_PHP_VERSION
  command -v "$fpm" >/dev/null || { anchors__err "$fpm is not installed (scripts/install-deps.sh)"; return 1; }
  if ! grep -qs '^zend_extension=opcache' /etc/php/$ANCHORS_PHP_VERSION/fpm/conf.d/*opcache*.ini; then
    anchors__err "warning: opcache is not enabled in /etc/php/$ANCHORS_PHP_VERSION/fpm/conf.d (install php$ANCHORS_PHP_VERSION-opcache)"
  fi
  local sock=$w/php-fpm.sock
  rm -f "$sock"
  : >"$w/php-fpm.log"
  cat >"$w/php-fpm.conf" <<EOF
; generated by bench/lib/anchors.sh
[global]
pid = $w/php-fpm.pid
error_log = $w/php-fpm.log
log_level = notice
daemonize = no

[bench]
user = $ANCHORS_WWW_USER
group = $ANCHORS_WWW_USER
listen = $sock
listen.owner = $ANCHORS_WWW_USER
listen.group = $ANCHORS_WWW_USER
listen.mode = 0660
listen.backlog = 4096
pm = static
pm.max_children = $workers
pm.max_requests = 0
catch_workers_output = yes
decorate_workers_output = no
clear_env = yes
php_admin_value[opcache.enable] = 1
php_admin_value[session.save_path] = $w/sessions
php_admin_value[error_log] = $w/php-errors.log
php_admin_flag[log_errors] = on
EOF
  anchors__launch "$w" php-fpm "$w/php-fpm.out" "$fpm" -y "$w/php-fpm.conf" -F
  local fpm_pid=$ANCHORS_LAST_PID deadline
  deadline=$(( $(date +%s%N) / 1000000 + ANCHORS_START_TIMEOUT * 1000 ))
  until [ -S "$sock" ]; do
    anchors__alive "$fpm_pid" || { anchors__fail "$w" "php-fpm failed to start" "$w/php-fpm.log" "$w/php-fpm.out"; return 1; }
    [ $(( $(date +%s%N) / 1000000 )) -ge "$deadline" ] && { anchors__fail "$w" "php-fpm did not create $sock" "$w/php-fpm.log" "$w/php-fpm.out"; return 1; }
    sleep 0.02
  done

}

# The start every web server in front of php-fpm shares: checks the arguments and that
# BINARY is installed, prepares WORKDIR and starts the pool. Sets the caller's docroot,
# port, index, w and workers (declared local there).
anchors__begin_fpm_server() {  # NAME BINARY DOCROOT PORT INDEX WORKDIR WORKERS
  local name=$1 binary=$2
  shift 2
  if [ $# -ne 5 ]; then
    anchors__err "usage: start-$name DOCROOT PORT INDEX WORKDIR WORKERS"; return 2
  fi
  docroot=$(realpath "$1") || return 1
  port=$2 index=$3 w=$4 workers=$5
  anchors__prepare_workdir "$w" || return 1
  w=$(realpath "$w")
  anchors__check_docroot "$docroot" "$index" || return 1
  anchors__port_free "$port" || { anchors__err "port $port is in use"; return 1; }
  command -v "$binary" >/dev/null || { anchors__err "$binary is not installed (scripts/install-deps.sh)"; return 1; }
  anchors__start_fpm "$w" "$workers"
}

anchors_start_nginx_fpm() {
  local docroot index port w workers
  anchors__begin_fpm_server nginx-fpm nginx "$@" || return $?
  local sock=$w/php-fpm.sock

  mkdir -p "$w/nginx/logs"
  cat >"$w/nginx.conf" <<EOF
# generated by bench/lib/anchors.sh
daemon off;
master_process on;
user $ANCHORS_WWW_USER $ANCHORS_WWW_USER;
worker_processes $workers;
worker_rlimit_nofile 65536;
pid $w/nginx.pid;
error_log $w/nginx-error.log warn;
events {
    worker_connections 8192;
}
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    server_tokens off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    open_file_cache max=10000 inactive=60s;
    open_file_cache_valid 60s;
    open_file_cache_min_uses 1;
    open_file_cache_errors on;
    client_body_temp_path $w/tmp/client_body;
    proxy_temp_path $w/tmp/proxy;
    fastcgi_temp_path $w/tmp/fastcgi;
    uwsgi_temp_path $w/tmp/uwsgi;
    scgi_temp_path $w/tmp/scgi;
$(if [ "${ANCHORS_COMPRESSION:-0}" = 1 ]; then printf '    gzip on;\n    gzip_static on;\n    gzip_vary on;\n    gzip_proxied any;\n    gzip_comp_level %s;\n    gzip_min_length 1024;\n    gzip_types text/plain text/css application/javascript application/json image/svg+xml;\n' "$ANCHORS_GZIP_LEVEL"; fi)
    server {
        listen 127.0.0.1:$port${ANCHORS_TLS_CERT:+ ssl http2} backlog=4096;
        server_name localhost;
$(if [ -n "${ANCHORS_TLS_CERT:-}" ]; then printf '        ssl_certificate %s;\n        ssl_certificate_key %s;\n        ssl_protocols TLSv1.2 TLSv1.3;\n        ssl_session_cache shared:bench:10m;\n' "$ANCHORS_TLS_CERT" "$ANCHORS_TLS_KEY"; fi)
        root $docroot;
        index $index index.html;
        location / {
            try_files \$uri \$uri/ /$index?\$query_string;
        }
        # bench/run hello-ceiling: nginx's own answer, no PHP
        location = /ceiling {
            default_type text/plain;
            return 200 "Hello, World!";
        }
        location ~ \.php\$ {
            try_files \$fastcgi_script_name =404;
            include /etc/nginx/fastcgi.conf;
            fastcgi_param HTTP_HOST \$host:\$server_port;
            fastcgi_pass unix:$sock;
        }
    }
}
EOF
  : >"$w/nginx-error.log"
  anchors__launch "$w" nginx "$w/nginx.out" nginx -c "$w/nginx.conf" -p "$w/nginx/"
  if ! anchors__wait_http "$port" "$ANCHORS_LAST_PID"; then
    anchors__fail "$w" "nginx failed to start on 127.0.0.1:$port" "$w/nginx-error.log" "$w/nginx.out" "$w/php-fpm.log"
    return 1
  fi
}

# Caddy 2 (Debian's package) with php-fpm (as for nginx) through php_fastcgi, the
# Caddyfile's own try_files for PHP apps ({path}, {path}/INDEX, INDEX). No admin endpoint,
# no automatic HTTPS, no access log (Caddy logs requests only with a `log` directive), its
# data under WORKDIR, GOMAXPROCS = WORKERS (Go's threads running at once: the counterpart
# of nginx's worker processes). It runs as the user that starts it (Caddy cannot drop
# privileges itself). With ANCHORS_COMPRESSION=1: `encode zstd gzip` (its default levels,
# gzip 5) and `file_server { precompressed zstd gzip }` (Caddy 2.6 has no Brotli encoder;
# precompressed br needs a plugin). With ANCHORS_TLS_CERT/KEY: HTTPS with that
# certificate (`tls CERT KEY`, TLS 1.2 and 1.3, HTTP/1.1 and HTTP/2 by ALPN; HTTP/3 off,
# so that no Alt-Svc header is added); Caddy's session tickets are on by default.
anchors_start_caddy() {
  local docroot index port w workers
  anchors__begin_fpm_server caddy caddy "$@" || return $?
  local sock=$w/php-fpm.sock encode="" precompressed="" site="http://127.0.0.1:$port" tls=""
  if [ "${ANCHORS_COMPRESSION:-0}" = 1 ]; then
    encode="	encode zstd gzip"
    precompressed="		precompressed zstd gzip"
  fi
  if [ -n "${ANCHORS_TLS_CERT:-}" ]; then
    site="https://127.0.0.1:$port"
    tls="	tls $ANCHORS_TLS_CERT $ANCHORS_TLS_KEY {
		protocols tls1.2 tls1.3
	}"
  fi
  mkdir -p "$w/caddy"
  cat >"$w/Caddyfile" <<CADDYFILE
# generated by bench/lib/anchors.sh
{
	admin off
	auto_https off
	storage file_system $w/caddy
	servers {
		protocols h1 h2
	}
}
$site {
	root * $docroot
$tls
$encode
	php_fastcgi unix/$sock {
		index $index
	}
	file_server {
$precompressed
	}
}
CADDYFILE
  : >"$w/caddy.log"
  anchors__launch "$w" caddy "$w/caddy.log" env HOME="$w/caddy" XDG_DATA_HOME="$w/caddy" \
    XDG_CONFIG_HOME="$w/caddy" GOMAXPROCS="$workers" caddy run --config "$w/Caddyfile" --adapter caddyfile
  if ! anchors__wait_http "$port" "$ANCHORS_LAST_PID"; then
    anchors__fail "$w" "caddy failed to start on 127.0.0.1:$port" "$w/caddy.log" "$w/php-fpm.log"
    return 1
  fi
}

# h2o (Debian's 2.2 package) serving DOCROOT with its file handler, and .php files through
# FastCGI to php-fpm (as for nginx: file.custom-handler with fastcgi.connect on the
# pool's unix socket). h2o is one process: num-threads = WORKERS event-loop threads (the
# counterpart of nginx's worker processes). No access log (h2o logs requests only with
# an access-log directive), keep-alive on (its default), its threads run as www-data
# (user:). h2o has no try_files: a path that is not a file (a front controller's route
# such as /hello/ada) is not passed to INDEX, so it serves only the rows whose path is a
# file. With ANCHORS_TLS_CERT/KEY: HTTPS (TLS 1.2 and 1.3, HTTP/1.1 and HTTP/2 by ALPN)
# with that certificate; session resumption by cache and tickets is h2o's default
# (ssl-session-resumption mode all).
anchors_start_h2o() {
  local docroot index port w workers
  anchors__begin_fpm_server h2o h2o "$@" || return $?
  local sock=$w/php-fpm.sock ssl=""
  if [ -n "${ANCHORS_TLS_CERT:-}" ]; then
    ssl="
  ssl:
    certificate-file: $ANCHORS_TLS_CERT
    key-file: $ANCHORS_TLS_KEY
    minimum-version: TLSv1.2"
  fi
  cat >"$w/h2o.conf" <<EOF
# generated by bench/lib/anchors.sh
user: $ANCHORS_WWW_USER
pid-file: $w/tmp/h2o.pid
error-log: $w/h2o-error.log
num-threads: $workers
max-connections: 65536
listen:
  host: 127.0.0.1
  port: $port$ssl
file.custom-handler:
  extension: .php
  fastcgi.connect:
    port: $sock
    type: unix
hosts:
  default:
    paths:
      /:
        file.dir: $docroot
        file.index: [ '$index', 'index.html' ]
EOF
  : >"$w/h2o-error.log"
  anchors__launch "$w" h2o "$w/h2o.out" h2o -c "$w/h2o.conf"
  if ! anchors__wait_http "$port" "$ANCHORS_LAST_PID"; then
    anchors__fail "$w" "h2o failed to start on 127.0.0.1:$port" "$w/h2o-error.log" "$w/h2o.out" "$w/php-fpm.log"
    return 1
  fi
}

anchors_start_apache() {
  if [ $# -ne 5 ]; then
    anchors__err "usage: start-apache DOCROOT PORT INDEX WORKDIR PROCS"; return 2
  fi
  local docroot index port w procs
  docroot=$(realpath "$1") || return 1
  port=$2 index=$3 w=$4 procs=$5
  anchors__prepare_workdir "$w" || return 1
  w=$(realpath "$w")
  anchors__check_docroot "$docroot" "$index" || return 1
  anchors__port_free "$port" || { anchors__err "port $port is in use"; return 1; }
  command -v apache2 >/dev/null || { anchors__err "apache2 is not installed (scripts/install-deps.sh)"; return 1; }
  local mods=/usr/lib/apache2/modules
  [ -e "$mods/libphp$ANCHORS_PHP_VERSION.so" ] || { anchors__err "mod_php is missing ($mods/libphp$ANCHORS_PHP_VERSION.so: install libapache2-mod-php$ANCHORS_PHP_VERSION)"; return 1; }
  mkdir -p "$w/apache-run"
  cat >"$w/apache2.conf" <<EOF
# generated by bench/lib/anchors.sh
ServerRoot "$w"
ServerName 127.0.0.1
Listen 127.0.0.1:$port
ListenBacklog 4096
PidFile $w/apache.pid
DefaultRuntimeDir $w/apache-run
ErrorLog $w/apache-error.log
LogLevel warn
User $ANCHORS_WWW_USER
Group $ANCHORS_WWW_USER
ServerTokens Prod

LoadModule mpm_prefork_module $mods/mod_mpm_prefork.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule mime_module $mods/mod_mime.so
LoadModule dir_module $mods/mod_dir.so
LoadModule php_module $mods/libphp$ANCHORS_PHP_VERSION.so

# prefork: one connection per process, all started up front
StartServers $procs
MinSpareServers $procs
MaxSpareServers $procs
ServerLimit $procs
MaxRequestWorkers $procs
MaxConnectionsPerChild 0

Timeout 60
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 65
EnableSendfile On
EnableMMAP On
HostnameLookups Off

TypesConfig /etc/mime.types
DocumentRoot "$docroot"
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<Directory "$docroot">
    AllowOverride None
    Require all granted
    DirectoryIndex $index index.html
    FallbackResource /$index
</Directory>
<FilesMatch "\.php$">
    SetHandler application/x-httpd-php
</FilesMatch>
EOF
  # PHP settings go into an ini file read once at startup (PHP_INI_SCAN_DIR, a leading
  # ':' keeps Debian's conf.d), not php_admin_value: mod_php applies those on every
  # request, and "php_admin_value opcache.enable 1" even logs a warning per request
  # ("Zend OPcache can't be temporary enabled"), which slowed Apache down.
  mkdir -p "$w/php-conf.d"
  cat >"$w/php-conf.d/99-bench.ini" <<EOF
opcache.enable = 1
session.save_path = "$w/sessions"
error_log = "$w/php-errors.log"
log_errors = On
EOF
  : >"$w/apache-error.log"
  anchors__launch "$w" apache "$w/apache.out" env PHP_INI_SCAN_DIR=":$w/php-conf.d" \
    apache2 -f "$w/apache2.conf" -DFOREGROUND
  if ! anchors__wait_http "$port" "$ANCHORS_LAST_PID"; then
    anchors__fail "$w" "apache2 failed to start on 127.0.0.1:$port" "$w/apache-error.log" "$w/apache.out"
    return 1
  fi
  # Wait (briefly) until the prefork children exist, so that the first measured
  # requests do not pay for forking.
  local deadline n
  deadline=$(( $(date +%s%N) / 1000000 + ANCHORS_START_TIMEOUT * 1000 ))
  while :; do
    n=$(anchors__session_pids "$ANCHORS_LAST_PID" | wc -l)
    [ "$n" -gt "$procs" ] && break
    [ $(( $(date +%s%N) / 1000000 )) -ge "$deadline" ] && break
    sleep 0.05
  done
}

anchors_askr_workers() {
  # Read the whole help first: `grep -q` stopping early would SIGPIPE askr, which
  # pipefail (bench/run) turns into "no".
  local help
  help=$("$1" serve --help 2>&1)
  if grep -q -- --workers <<<"$help"; then echo yes; else echo no; fi
}

anchors_start_askr() {
  if [ $# -ne 6 ]; then
    anchors__err "usage: start-askr BINARY DOCROOT PORT INDEX WORKDIR WORKERS"; return 2
  fi
  local bin docroot port index w workers
  bin=$(realpath -e "$1" 2>/dev/null) || { anchors__err "askr binary $1 not found"; return 1; }
  docroot=$(realpath "$2") || return 1
  port=$3 index=$4 w=$5 workers=$6
  [ -x "$bin" ] || { anchors__err "askr binary $bin is not executable"; return 1; }
  anchors__prepare_workdir "$w" || return 1
  w=$(realpath "$w")
  anchors__port_free "$port" || { anchors__err "port $port is in use"; return 1; }
  local args=(serve --root "$docroot" --listen "127.0.0.1:$port") help
  [ -n "$index" ] && args+=(--index "$index")
  [ -n "${ANCHORS_TLS_CERT:-}" ] && args+=(--tls-cert "$ANCHORS_TLS_CERT" --tls-key "$ANCHORS_TLS_KEY")
  help=$("$bin" serve --help 2>&1)
  if grep -q -- --workers <<<"$help"; then
    args+=(--workers "$workers")
  fi
  # The admin listener stays on (as deployed: metrics are recorded), on a free port so
  # that another Askr on 127.0.0.1:2019 cannot stop the run.
  if grep -q -- --admin-listen <<<"$help"; then
    args+=(--admin-listen 127.0.0.1:0)
  fi
  # Session files go to the run's directory, as with the anchors (DokuWiki writes one
  # per request). With --php-ini when Askr has it, else through PHP_INI_SCAN_DIR, which
  # the embed SAPI reads (a leading ':' keeps Debian's conf.d).
  local inidir=""
  if grep -q -- --php-ini <<<"$help"; then
    args+=(--php-ini "session.save_path=$w/sessions")
  else
    inidir=$w/askr-conf.d
    mkdir -p "$inidir"
    printf 'session.save_path = "%s"\n' "$w/sessions" >"$inidir/99-bench.ini"
  fi
  # shellcheck disable=SC2206
  [ -n "${ASKR_ARGS:-}" ] && args+=($ASKR_ARGS)
  local runas=()
  if [ -n "${ASKR_RUN_AS:-}" ] && [ "$(id -un)" != "$ASKR_RUN_AS" ]; then
    runas=(setpriv --reuid="$ASKR_RUN_AS" --regid="$ASKR_RUN_AS" --init-groups)
  fi
  : >"$w/askr.log"
  chmod 666 "$w/askr.log"
  local envs=()
  [ -n "$inidir" ] && envs=(env PHP_INI_SCAN_DIR=":$inidir")
  anchors__launch "$w" askr "$w/askr.log" "${envs[@]}" "${runas[@]}" "$bin" "${args[@]}"
  local pid=$ANCHORS_LAST_PID deadline
  deadline=$(( $(date +%s%N) / 1000000 + ANCHORS_START_TIMEOUT * 1000 ))
  # Ready when it prints "listening on http://127.0.0.1:PORT" or, should that line sit in
  # a stdout buffer, when the port answers.
  until grep -q "listening on $(anchors__scheme)://127.0.0.1:$port" "$w/askr.log" 2>/dev/null \
      || [ "$(curl -sk -o /dev/null -m 1 -w '%{http_code}' "$(anchors__scheme)://127.0.0.1:$port/" 2>/dev/null)" != 000 ]; do
    anchors__alive "$pid" || { anchors__fail "$w" "askr failed to start" "$w/askr.log"; return 1; }
    [ $(( $(date +%s%N) / 1000000 )) -ge "$deadline" ] && { anchors__fail "$w" "askr did not print 'listening on http://127.0.0.1:$port' within ${ANCHORS_START_TIMEOUT}s" "$w/askr.log"; return 1; }
    sleep 0.02
  done
  anchors__wait_http "$port" "$pid" || { anchors__fail "$w" "askr does not answer HTTP on 127.0.0.1:$port" "$w/askr.log"; return 1; }
}

anchors_stop() {
  local w=${1:?usage: stop WORKDIR} f pid name pids deadline all=()
  [ -d "$w/pids" ] || return 0
  for f in "$w"/pids/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    [ -n "$pid" ] || continue
    all+=("$pid")
  done
  # SIGTERM to every session leader (nginx, php-fpm master, apache parent, askr): each
  # stops its own workers. Whatever is left after ANCHORS_STOP_TIMEOUT gets SIGKILL.
  for pid in "${all[@]}"; do
    anchors__alive "$pid" && kill -TERM "$pid" 2>/dev/null
  done
  deadline=$(( $(date +%s%N) / 1000000 + ANCHORS_STOP_TIMEOUT * 1000 ))
  while :; do
    pids=()
    for pid in "${all[@]}"; do
      # shellcheck disable=SC2207
      pids+=($(anchors__session_pids "$pid"))
    done
    [ ${#pids[@]} -eq 0 ] && break
    if [ $(( $(date +%s%N) / 1000000 )) -ge "$deadline" ]; then
      kill -KILL "${pids[@]}" 2>/dev/null
      sleep 0.1
      deadline=$(( $(date +%s%N) / 1000000 + 2000 ))
      continue
    fi
    sleep 0.05
  done
  for pid in "${all[@]}"; do
    wait "$pid" 2>/dev/null   # reap, when we are the parent
  done
  rm -f "$w"/pids/*.pid
  return 0
}

anchors_status() {
  local w=${1:?usage: status WORKDIR} f pid n
  for f in "$w"/pids/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    n=$(anchors__session_pids "$pid" | wc -l)
    printf '%s pid %s: %s live processes\n' "$(basename "$f" .pid)" "$pid" "$n"
  done
}

# rss WORKDIR [NAME]: "RSS_KB PSS_KB NPROCS" over every process of the sessions started
# in WORKDIR (or only NAME's: askr, nginx, php-fpm, apache).
# "NAME=RSS_KB,NAME=RSS_KB,..." for each process of the server (names from
# /proc/PID/comm, spaces as '_'): master, workers, php-fpm children, apart.
anchors_proc_rss() {
  local w=${1:?usage: proc-rss WORKDIR} f pid p v out=""
  for f in "$w"/pids/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    for p in $(anchors__session_pids "$pid"); do
      [ "$p" = "$pid" ] && continue
      v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null)
      [ -n "$v" ] || continue
      out+="${out:+,}$(tr ' ' '_' <"/proc/$p/comm" 2>/dev/null)=$v"
    done
  done
  echo "$out"
}

anchors_rss() {
  local w=${1:?usage: rss WORKDIR [NAME]} name=${2:-} f pid p rss=0 pss=0 n=0 v
  for f in "$w"/pids/*.pid; do
    [ -e "$f" ] || continue
    [ -n "$name" ] && [ "$(basename "$f" .pid)" != "$name" ] && continue
    pid=$(cat "$f")
    for p in $(anchors__session_pids "$pid"); do
      [ "$p" = "$pid" ] && continue   # the reaping bash, not part of the server
      v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null)
      [ -n "$v" ] || continue
      rss=$((rss + v)); n=$((n + 1))
      v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null)
      [ -n "$v" ] && pss=$((pss + v))
    done
  done
  echo "$rss $pss $n"
}

# DokuWiki keeps its data in /var/lib/dokuwiki/data, owned by www-data. A server running
# PHP as root (Askr started by root, for instance) creates root-owned cache directories
# there, which www-data then cannot write into. This hands everything back to www-data.
anchors_dokuwiki_fix_perms() {
  local d=/var/lib/dokuwiki/data n
  [ -d "$d" ] || return 0
  n=$(find "$d" ! -user "$ANCHORS_WWW_USER" 2>/dev/null | wc -l)
  if [ "$n" -gt 0 ]; then
    chown -R "$ANCHORS_WWW_USER" "$d" || return 1
    echo "anchors: gave $n files under $d back to $ANCHORS_WWW_USER" >&2
  fi
}

# MediaWiki from Debian's package reads /etc/mediawiki/LocalSettings.php, which the
# package leaves to the administrator. If it is missing, this installs a wiki the way the
# MediaWiki manual says (maintenance/install.php) on SQLite under
# /var/lib/mediawiki/data (owned by www-data), with $wgServer taken from each request so
# that any loopback port works. An existing LocalSettings.php is never touched.
anchors_mediawiki_setup() {
  local conf=/etc/mediawiki/LocalSettings.php data=/var/lib/mediawiki/data tmp
  [ -d /usr/share/mediawiki ] || { anchors__err "MediaWiki is not installed (apt-get install mediawiki)"; return 1; }
  [ -e "$conf" ] && return 0
  [ "$(id -u)" -eq 0 ] || { anchors__err "$conf is missing and only root can create it"; return 1; }
  mkdir -p "$data" && chown "$ANCHORS_WWW_USER" "$data" || return 1
  tmp=$(mktemp -d) && chown "$ANCHORS_WWW_USER" "$tmp" || return 1
  if ! (cd /usr/share/mediawiki && anchors__as_www php maintenance/install.php --dbtype sqlite \
        --dbpath "$data" --dbname askrbench --server http://127.0.0.1 --scriptpath "" --confpath "$tmp" \
        --lang en --pass "askr-bench-$(od -An -tx4 -N8 /dev/urandom | tr -d ' ')" "Askr Bench Wiki" admin) \
        >"$tmp/install.log" 2>&1 || [ ! -s "$tmp/LocalSettings.php" ]; then
    anchors__err "MediaWiki's install.php failed:"; cat "$tmp/install.log" >&2; rm -rf "$tmp"; return 1
  fi
  sed 's|^\$wgServer = .*|$wgServer = WebRequest::detectServer();|' "$tmp/LocalSettings.php" >"$conf"
  chmod 644 "$conf"
  rm -rf "$tmp"
  echo "anchors: installed a MediaWiki on SQLite ($conf, $data)" >&2
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -uo pipefail
  cmd=${1:-}
  [ $# -gt 0 ] && shift
  case $cmd in
    start-nginx-fpm) anchors_start_nginx_fpm "$@" ;;
    start-apache) anchors_start_apache "$@" ;;
    start-askr) anchors_start_askr "$@" ;;
    start-caddy) anchors_start_caddy "$@" ;;
    start-h2o) anchors_start_h2o "$@" ;;
    stop) anchors_stop "$@" ;;
    status) anchors_status "$@" ;;
    rss) anchors_rss "$@" ;;
    free-port) anchors_free_port ;;
    askr-workers) anchors_askr_workers "$@" ;;
    dokuwiki-fix-perms) anchors_dokuwiki_fix_perms ;;
    mediawiki-setup) anchors_mediawiki_setup ;;
    *)
      sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//' >&2
      exit 2 ;;
  esac
fi
