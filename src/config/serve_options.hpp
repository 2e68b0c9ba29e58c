#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "config/symlink_policy.hpp"

namespace askr::config {

/// A configuration problem, worded for the user: what is wrong and how to fix it.
class ConfigError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// One address to listen on: TCP (host and port) or a unix socket (unix_path).
struct ListenAddress {
    std::string host;        ///< "127.0.0.1", "::1", "0.0.0.0", "::"; empty for a unix socket
    std::uint16_t port = 0;  ///< 0 = any free port (tests)
    std::string unix_path;   ///< absolute path of a unix socket, or empty
    unsigned unix_mode = 0660;  ///< permissions of the unix socket's file
    /// Option "proxy-protocol": every connection opens with a PROXY protocol header (v1 or
    /// v2) naming the client (http/proxy_protocol.hpp); one without it is closed.
    bool proxy_protocol = false;
    bool is_unix() const { return !unix_path.empty(); }
    /// A TCP address.
    static ListenAddress tcp(std::string host, std::uint16_t port) {
        ListenAddress address;
        address.host = std::move(host);
        address.port = port;
        return address;
    }
    /// The address as written ("[::1]:8080", "unix:/run/askr.sock"), with ",proxy-protocol".
    std::string text() const;
};

/// Parses "HOST:PORT", "[V6]:PORT", ":PORT" or "unix:/ABSOLUTE/PATH", then options after
/// commas ("unix:/run/askr.sock,mode=0666", ":8080,proxy-protocol"); throws ConfigError
/// saying what is expected.
ListenAddress parse_listen_address(const std::string& text);

/// True when `text` is one of the options a listen address takes ("proxy-protocol",
/// "mode=...").
bool is_listen_option(const std::string& text);

/// True for 127.0.0.0/8 and ::1.
bool is_loopback(const ListenAddress& address);

/// Everything `askr serve` needs. The defaults here are the documented defaults: the
/// schema (schema.cpp) reads them for docs/configuration.md.
struct ServeOptions {
    std::string root;  ///< document root (made absolute)
    std::vector<ListenAddress> listen{ListenAddress::tcp("127.0.0.1", 8080)};
    std::string index = "index.php";  ///< directory index and front controller
    /// X-Sendfile / X-Accel-Redirect: files under these directories (absolute realpaths)
    /// may be named by a PHP response; none = the headers are ordinary ones.
    std::vector<std::string> sendfile_roots;
    std::string health_path;  ///< answered 200 by the I/O thread on the main listeners ("": off)
    std::string ready_path;   ///< 200 while the worker takes requests, 503 draining ("": off)
    /// Peers whose forwarding headers (Forwarded, X-Forwarded-*) are believed: CIDR ranges
    /// or addresses, checked when read; none = every such header is an ordinary one
    std::vector<std::string> trusted_proxies;
    std::uint64_t max_body_size = 8ull << 20;  ///< request bodies above this get 413
    /// A PHP response's bytes a slow client has not taken yet, past the first 1 MiB held in
    /// memory, go to a temporary file up to this much, so PHP can finish (0: PHP waits)
    std::uint64_t response_spool_max = 1ull << 30;
    std::uint64_t max_header_size = 32 << 10;  ///< all header fields together, else 431
    std::uint64_t max_uri_size = 8 << 10;      ///< request-target, else 414
    unsigned max_header_count = 100;           ///< header fields, else 431
    std::uint32_t h2_max_streams = 100;        ///< HTTP/2 concurrent streams per connection
    // TLS: with a certificate, every --listen address speaks TLS.
    std::string tls_cert;             ///< PEM certificate chain, leaf first (--tls-cert)
    std::string tls_key;              ///< PEM private key (--tls-key)
    bool tls_self_signed = false;     ///< generate a self-signed certificate at start
    std::string tls_self_signed_dir;  ///< where it is kept ("" = default_self_signed_dir())
    std::chrono::seconds tls_handshake_timeout{10};  ///< connect to the end of the TLS handshake
    std::vector<std::pair<std::string, std::string>>
        tls_sni;                             ///< more (cert, key) pairs, chosen by SNI name
    std::vector<ListenAddress> listen_http;  ///< plain-HTTP listeners redirecting to HTTPS
    /// True when the --listen addresses speak TLS.
    bool tls() const { return !tls_cert.empty() || tls_self_signed; }
    SymlinkPolicy symlinks = SymlinkPolicy::follow;
    std::vector<std::pair<std::string, std::string>> php_ini;  ///< -d key=value overrides
    std::vector<std::string> php_extensions;  ///< extensions that must be loaded (checked at start)
    /// Variables set in the environment PHP sees (getenv(), $_ENV), besides pass_env.
    std::vector<std::pair<std::string, std::string>> php_env;
    /// Server environment variables PHP sees; every other one is hidden from it.
    std::vector<std::string> php_pass_env{"PATH", "TMPDIR"};
    std::chrono::seconds header_timeout{15};     ///< first byte to end of headers
    std::chrono::seconds keepalive_timeout{60};  ///< idle time between requests
    std::chrono::seconds body_timeout{60};       ///< longest pause while a body arrives
    std::chrono::seconds write_timeout{60};      ///< longest stall writing to a client
    std::uint64_t min_send_rate = 1024;          ///< bytes/s a client must take a response at
    std::chrono::seconds shutdown_timeout{30};   ///< graceful stop: drain at most this long
    std::chrono::seconds request_timeout{0};  ///< wall clock a PHP request may run (0 = no limit)
    std::chrono::seconds boot_timeout{60};  ///< a reload's new worker must be able to serve by then
    bool canary = false;                     ///< a reload watches one new worker before the rest
    std::chrono::seconds canary_seconds{10};  ///< ... for this long
    unsigned canary_error_margin = 5;  ///< its 5xx share may exceed the old one's by these points
    std::string log_level = "info";
    unsigned workers = 0;                  ///< worker processes (0 = number of cores)
    std::uint64_t max_requests = 0;        ///< recycle a worker after this many (0 = never)
    std::uint32_t max_connections = 1024;  ///< open client connections per worker; past it, shed
    std::uint32_t move_after_us =
        250;            ///< move a connection whose request would wait this long (0 = never)
    std::string user;   ///< drop the zygote and workers to this user
    std::string group;  ///< ... and group (default: the user's)
    std::string control_socket;      ///< `askr status` socket ("" = default path)
    std::string worker_script;       ///< worker mode: the script that boots the app
    unsigned queue_workers = 0;      ///< sidecars running queue_script (docs/sidecars.md)
    std::string queue_script;        ///< the queue sidecars' script
    std::chrono::seconds queue_stop_timeout{60};  ///< a sidecar told to stop is killed after this
    std::string scheduler_script;    ///< run once a minute at second 0 in a sidecar ("" = none)
    std::chrono::seconds scheduler_timeout{600};  ///< a scheduler run is told to stop after this
    std::chrono::seconds scheduler_interval{60};  ///< runs at wall-clock multiples of this
    bool frankenphp_compat = false;  ///< frankenphp_handle_request(), FRANKENPHP_WORKER
    bool cow = false;                ///< boot the worker script in the zygote, fork warm workers
    bool paranoid = false;           ///< development: report app state that grows between requests
    /// Admin listener (nullopt = off). Parsed and validated here, served elsewhere.
    std::optional<ListenAddress> admin_listen = ListenAddress::tcp("127.0.0.1", 2019);
    std::string admin_token;                     ///< bearer token the admin API requires
    std::string access_log;                      ///< access log path ("" = off)
    std::string access_log_format = "combined";  ///< combined or json
    std::string error_log;                       ///< error log path ("" = stderr)
    // The shared-memory cache (docs/cache.md): made by the master, kept across reloads.
    std::uint64_t cache_slots = 65536;           ///< entries it is sized for (0 = off)
    std::uint64_t cache_memory = 64ull << 20;    ///< bytes for keys and values
    std::uint64_t cache_max_value = 1ull << 20;  ///< largest value
    /// Redis instead of shared memory, for a cache shared by several machines: the URL as
    /// written (parse_redis_url() in config/redis_url.hpp reads it); "" = shared memory
    std::string cache_redis;
    std::string cache_prefix = "askr:";          ///< Redis: a key is stored as prefix + key
    std::uint32_t cache_redis_timeout_ms = 250;  ///< Redis: connect and command timeout
    // Live broadcasting to browsers (docs/broadcast.md): the ring is made by the master,
    // kept across reloads.
    bool broadcast = false;                           ///< askr_broadcast() and GET /askr/events
    std::uint64_t broadcast_ring = 8ull << 20;        ///< bytes of the ring of recent events
    std::uint64_t broadcast_max_data = 64 << 10;      ///< largest event payload
    std::uint32_t broadcast_max_channel_length = 64;  ///< longest channel name
    std::uint32_t broadcast_max_channels = 16;        ///< channels per subscription
    std::uint32_t broadcast_max_subscribers = 1000;   ///< subscriber streams per worker
    std::uint64_t broadcast_buffer = 1ull << 20;      ///< unsent bytes per subscriber
    std::chrono::seconds broadcast_heartbeat{15};     ///< comment line when idle
    std::uint32_t broadcast_retry_ms = 3000;          ///< `retry:` sent at start
    std::uint32_t broadcast_metrics_channels = 32;    ///< channels counted in the metrics
    std::string broadcast_secret;  ///< signs private channels' tokens ("" = random per start)
    /// Redis relaying events between the nodes that share it (the URL as written; "" =
    /// this node only), the stream's key and length, and the publish timeout.
    std::string broadcast_redis;
    std::string broadcast_redis_key = "askr:broadcast";
    std::uint32_t broadcast_redis_length = 10000;
    std::uint32_t broadcast_redis_timeout_ms = 250;
    // Response compression (docs/compression.md).
    bool compression = true;              ///< compress responses the client accepts encoded
    unsigned compression_gzip_level = 5;  ///< gzip level, 1-9
    unsigned compression_br_level = 4;    ///< brotli quality, 0-11
    unsigned compression_zstd_level = 3;  ///< zstd level, 1-19
    std::uint64_t compression_min_size = 1024;  ///< smaller bodies of known length go as they are
    /// Static files up to this size are compressed once and kept (per worker); 0: siblings only
    std::uint64_t compression_static_max = 1ull << 20;
    std::uint64_t compression_static_memory = 32ull << 20;  ///< bytes of such copies per worker
    /// Media types compressed: "type/subtype", "type/*" or a "+suffix"
    std::vector<std::string> compression_types{
        "text/*",          "application/json", "application/javascript", "application/xml",
        "+json",           "+xml",             "image/svg+xml",          "application/wasm",
        "application/manifest+json"};
};

}  // namespace askr::config
