#pragma once
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "http/router.hpp"

namespace CLI {
class App;
}

namespace askr::config {

/// A configuration problem, worded for the user: what is wrong and how to fix it.
class ConfigError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// One address to listen on.
struct ListenAddress {
    std::string host;         ///< "127.0.0.1", "::1", "0.0.0.0", "::"
    std::uint16_t port = 0;   ///< 0 = any free port (tests)
    /// The address as written ("[::1]:8080").
    std::string text() const;
};

/// Parses "HOST:PORT", "[V6]:PORT" or ":PORT"; throws ConfigError with the reason.
ListenAddress parse_listen_address(const std::string& text);

/// Everything `askr serve` needs (defaults here are the documented defaults).
struct ServeOptions {
    std::string root;                                ///< document root (made absolute)
    std::vector<ListenAddress> listen;               ///< default 127.0.0.1:8080
    std::string index = "index.php";                 ///< directory index and front controller
    std::uint64_t max_body_size = 8ull << 20;        ///< request bodies above this get 413
    // TLS (issue 5): with a certificate, every --listen address speaks TLS.
    std::string tls_cert;                            ///< PEM certificate chain, leaf first (--tls-cert)
    std::string tls_key;                             ///< PEM private key (--tls-key)
    bool tls_self_signed = false;                    ///< generate a self-signed certificate at start
    std::string tls_self_signed_dir;                 ///< where it is kept ("" = default_self_signed_dir())
    std::chrono::seconds tls_handshake_timeout{10};  ///< connect to the end of the TLS handshake
    std::vector<ListenAddress> listen_http;          ///< plain-HTTP listeners redirecting to HTTPS
    /// True when the --listen addresses speak TLS.
    bool tls() const { return !tls_cert.empty() || tls_self_signed; }
    http::SymlinkPolicy symlinks = http::SymlinkPolicy::follow;
    std::vector<std::pair<std::string, std::string>> php_ini;  ///< -d key=value overrides
    std::chrono::seconds header_timeout{15};         ///< first byte to end of headers
    std::chrono::seconds keepalive_timeout{60};      ///< idle time between requests
    std::chrono::seconds body_timeout{60};           ///< longest pause while a body arrives
    std::chrono::seconds write_timeout{60};          ///< longest stall writing to a client
    std::chrono::seconds shutdown_timeout{30};       ///< graceful stop: drain at most this long
    std::string log_level = "info";
    unsigned workers = 0;                            ///< worker processes (0 = number of cores)
    std::uint64_t max_requests = 0;                  ///< recycle a worker after this many (0 = never)
    std::string user;                                ///< drop the zygote and workers to this user
    std::string group;                               ///< ... and group (default: the user's)
    std::string control_socket;                      ///< `askr status` socket ("" = default path)
    std::string worker_script;                       ///< worker mode: the script that boots the app
    bool frankenphp_compat = false;                  ///< frankenphp_handle_request(), FRANKENPHP_WORKER
    // Admin listener and logs (issue 6; docs/admin.md).
    bool admin_enabled = true;                       ///< false: --admin-listen off
    ListenAddress admin_listen{"127.0.0.1", 2019};   ///< the master's admin HTTP listener
    std::string admin_token;                         ///< Bearer token ("" = none; loopback only)
    std::string access_log;                          ///< access log path ("" = off)
    std::string access_log_format = "combined";      ///< combined or json
    std::string error_log;                           ///< error log path ("" = stderr)
};

/// True for a loopback address (127.0.0.0/8, ::1): reachable from this machine only.
bool is_loopback(const std::string& host);

/// Declares the `serve` options on a CLI11 (sub)command, writing into `options`.
void add_serve_options(CLI::App& command, ServeOptions& options);

/// Checks and completes the options (absolute root, default listen); throws ConfigError.
void finalize(ServeOptions& options);

}  // namespace askr::config
