#include "config/serve_options.hpp"

#include <climits>
#include <cstdlib>
#include <filesystem>

#include <unistd.h>

#include <CLI/CLI.hpp>

#include "core/size.hpp"

namespace askr::config {

std::string ListenAddress::text() const {
    const bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

ListenAddress parse_listen_address(const std::string& text) {
    ListenAddress address;
    std::string port_text;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            throw ConfigError("--listen " + text + ": an IPv6 address is written [ADDRESS]:PORT, e.g. [::1]:8080");
        }
        address.host = text.substr(1, close - 1);
        port_text = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string::npos) {
            throw ConfigError("--listen " + text + ": expected HOST:PORT, e.g. 127.0.0.1:8080 or :8080");
        }
        address.host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
        if (address.host.empty()) address.host = "0.0.0.0";
        if (address.host == "localhost") address.host = "127.0.0.1";
    }
    char* end = nullptr;
    long port = std::strtol(port_text.c_str(), &end, 10);
    if (port_text.empty() || *end != '\0' || port < 0 || port > 65535) {
        throw ConfigError("--listen " + text + ": the port must be a number from 0 to 65535");
    }
    address.port = static_cast<std::uint16_t>(port);
    return address;
}

namespace {

// TLS options that only make sense together (issue 5).
void finalize_tls(ServeOptions& options) {
    if (options.tls_cert.empty() != options.tls_key.empty()) {
        throw ConfigError(options.tls_cert.empty() ? "--tls-key needs --tls-cert (the certificate it belongs to)"
                                                   : "--tls-cert needs --tls-key (its private key)");
    }
    if (options.tls_self_signed && !options.tls_cert.empty()) {
        throw ConfigError("--tls-self-signed and --tls-cert exclude each other: choose one");
    }
    if (!options.tls_self_signed_dir.empty() && !options.tls_self_signed) {
        throw ConfigError("--tls-self-signed-dir needs --tls-self-signed");
    }
    if (!options.listen_http.empty() && !options.tls()) {
        throw ConfigError("--listen-http redirects to HTTPS: it needs --tls-cert and --tls-key, or --tls-self-signed");
    }
    for (auto* path : {&options.tls_cert, &options.tls_key, &options.tls_self_signed_dir}) {
        if (!path->empty()) *path = std::filesystem::absolute(*path).lexically_normal().string();  // SIGHUP re-reads them
    }
}

}  // namespace

void add_serve_options(CLI::App& command, ServeOptions& options) {
    command.add_option("--root,-r", options.root, "Document root: the app's public folder")->required();
    command.add_option_function<std::vector<std::string>>(
        "--listen,-l",
        [&options](const std::vector<std::string>& values) {
            for (const auto& v : values) options.listen.push_back(parse_listen_address(v));
        },
        "Address to listen on, HOST:PORT or [IPv6]:PORT; repeatable (default 127.0.0.1:8080)");
    command.add_option("--index", options.index,
                       "Directory index and front controller script (default index.php)");
    command.add_option_function<std::string>(
        "--max-body-size",
        [&options](const std::string& value) {
            auto size = core::parse_size(value);
            if (!size) throw CLI::ValidationError("--max-body-size", "expected a size such as 512K, 10M or 1G");
            options.max_body_size = *size;
        },
        "Largest request body accepted, e.g. 10M (default 8M); larger bodies get 413");
    // TLS (issue 5; docs/tls.md).
    command.add_option("--tls-cert", options.tls_cert,
                       "PEM certificate chain (leaf first): every --listen address then speaks HTTPS");
    command.add_option("--tls-key", options.tls_key, "PEM private key of --tls-cert (unencrypted)");
    command.add_flag("--tls-self-signed", options.tls_self_signed,
                     "Serve HTTPS with a self-signed certificate made at start (for local use)");
    command.add_option("--tls-self-signed-dir", options.tls_self_signed_dir,
                       "Where --tls-self-signed keeps its files (default $XDG_RUNTIME_DIR/askr or /tmp/askr-tls-UID)");
    command
        .add_option_function<long>(
            "--tls-handshake-timeout",
            [&options](long v) { options.tls_handshake_timeout = std::chrono::seconds(v); },
            "Seconds a client may take to complete the TLS handshake (default 10)")
        ->check(CLI::Range(1L, 3600L));
    command.add_option_function<std::vector<std::string>>(
        "--listen-http",
        [&options](const std::vector<std::string>& values) {
            for (const auto& v : values) options.listen_http.push_back(parse_listen_address(v));
        },
        "Plain-HTTP address that redirects to HTTPS (308), serving /.well-known/acme-challenge/ from the root");
    command.add_option_function<std::string>(
        "--symlinks",
        [&options](const std::string& value) {
            if (value == "follow") {
                options.symlinks = http::SymlinkPolicy::follow;
            } else if (value == "inside-root") {
                options.symlinks = http::SymlinkPolicy::inside_root;
            } else {
                throw CLI::ValidationError("--symlinks", "expected follow or inside-root");
            }
        },
        "follow (default, as nginx) or inside-root: refuse files whose real path is outside the root");
    command.add_option_function<std::vector<std::string>>(
        "--php-ini,-d",
        [&options](const std::vector<std::string>& values) {
            for (const auto& v : values) {
                auto eq = v.find('=');
                if (eq == std::string::npos || eq == 0) {
                    throw CLI::ValidationError("--php-ini", "expected KEY=VALUE, e.g. memory_limit=256M");
                }
                options.php_ini.emplace_back(v.substr(0, eq), v.substr(eq + 1));
            }
        },
        "PHP ini setting KEY=VALUE, applied after php.ini; repeatable");
    auto seconds = [&command](const char* name, std::chrono::seconds& target, const char* help) {
        command.add_option_function<long>(
            name, [&target](long v) { target = std::chrono::seconds(v); }, help)
            ->check(CLI::Range(1L, 86400L));
    };
    seconds("--header-timeout", options.header_timeout, "Seconds a client may take to send request headers (default 15)");
    seconds("--keepalive-timeout", options.keepalive_timeout, "Seconds an idle keep-alive connection is kept (default 60)");
    seconds("--body-timeout", options.body_timeout, "Longest pause, in seconds, while a request body arrives (default 60)");
    seconds("--write-timeout", options.write_timeout, "Longest stall, in seconds, writing to a client (default 60)");
    seconds("--shutdown-timeout", options.shutdown_timeout, "Seconds a graceful stop waits for in-flight requests (default 30)");
    command.add_option("--workers,-w", options.workers, "Worker processes (default: number of CPU cores)")
        ->check(CLI::Range(1u, 1024u));
    command.add_option("--max-requests", options.max_requests,
                       "Recycle a worker after this many requests (staggered; default 0 = never)");
    command.add_option("--user", options.user, "Run PHP (zygote and workers) as this user when started as root");
    command.add_option("--group", options.group, "Group for --user (default: the user's primary group)");
    command.add_option("--control-socket", options.control_socket,
                       "Unix socket `askr status` asks (default $XDG_RUNTIME_DIR or /tmp, askr-PORT.sock)");
    command.add_option("--worker", options.worker_script,
                       "Worker mode: this script boots the app once per worker and loops on "
                       "askr_handle_request($handler)");
    command.add_flag("--frankenphp-compat", options.frankenphp_compat,
                     "Also provide frankenphp_handle_request(), frankenphp_finish_request() and "
                     "$_SERVER['FRANKENPHP_WORKER'] (run FrankenPHP worker scripts unmodified)");
    // Admin listener and logs (issue 6; docs/admin.md).
    command.add_option_function<std::string>(
        "--admin-listen",
        [&options](const std::string& value) {
            options.admin_enabled = value != "off";
            if (!options.admin_enabled) return;
            try {
                options.admin_listen = parse_listen_address(value);
            } catch (const ConfigError& e) {
                throw ConfigError("--admin-listen " + value + ": expected HOST:PORT (e.g. 127.0.0.1:2019) or off");
            }
        },
        "Admin API, /metrics and dashboard, served by the master: HOST:PORT or off (default 127.0.0.1:2019)");
    command.add_option("--admin-token", options.admin_token,
                       "Bearer token the admin listener requires (required when it is not on loopback)")
        ->envname("ASKR_ADMIN_TOKEN");
    command.add_option("--access-log", options.access_log, "Access log file (default: none)");
    command.add_option("--access-log-format", options.access_log_format, "combined (default) or json (one object a line)")
        ->check(CLI::IsMember({"combined", "json"}));
    command.add_option("--error-log", options.error_log, "Error log file, PHP errors included (default: stderr)");
    command.add_option("--log-level", options.log_level, "trace, debug, info, warn, error (default info)")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
}

bool is_loopback(const std::string& host) {
    return host.starts_with("127.") || host == "::1" || host == "localhost";
}

namespace {

// The admin listener can reload the server and shows what it runs: off loopback it needs a
// token (issue 6), and relative log paths are fixed now (the server does not chdir, but
// SIGUSR1 must reopen the same file).
void finalize_admin_and_logs(ServeOptions& options) {
    if (options.admin_enabled && !is_loopback(options.admin_listen.host) && options.admin_token.empty()) {
        throw ConfigError("--admin-listen " + options.admin_listen.text() +
                          " is reachable from other machines: set --admin-token (or ASKR_ADMIN_TOKEN), "
                          "or listen on 127.0.0.1");
    }
    if (!options.admin_token.empty() && options.admin_token.size() < 16) {
        throw ConfigError("--admin-token: use at least 16 characters (e.g. openssl rand -hex 16)");
    }
    for (auto* path : {&options.access_log, &options.error_log}) {
        if (!path->empty()) *path = std::filesystem::absolute(*path).lexically_normal().string();
    }
}

}  // namespace

void finalize(ServeOptions& options) {
    std::error_code ec;
    auto root = std::filesystem::canonical(options.root, ec);
    if (ec) throw ConfigError("--root " + options.root + ": " + ec.message());
    if (!std::filesystem::is_directory(root, ec)) throw ConfigError("--root " + options.root + ": not a directory");
    options.root = root.string();
    if (options.listen.empty()) options.listen.push_back({"127.0.0.1", 8080});
    finalize_tls(options);
    finalize_admin_and_logs(options);
    if (options.workers == 0) {
        long cores = ::sysconf(_SC_NPROCESSORS_ONLN);
        options.workers = cores > 0 ? static_cast<unsigned>(cores) : 1;
    }
    if (!options.worker_script.empty()) {
        auto script = std::filesystem::canonical(options.worker_script, ec);
        if (ec || !std::filesystem::is_regular_file(script, ec)) {
            throw ConfigError("--worker " + options.worker_script + ": no such file (" +
                              (ec ? ec.message() : std::string("not a regular file")) + ")");
        }
        options.worker_script = script.string();
    }
    if (!options.group.empty() && options.user.empty()) {
        throw ConfigError("--group " + options.group + ": needs --user as well");
    }
    if (options.index.empty() || options.index.find('/') != std::string::npos || options.index.front() == '.') {
        throw ConfigError("--index " + options.index + ": expected a file name such as index.php or doku.php");
    }
}

}  // namespace askr::config
