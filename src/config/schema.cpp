#include "config/schema.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "config/redis_url.hpp"
#include "core/ip_address.hpp"
#include "core/size.hpp"

namespace askr::config {

namespace {

// --- showing values in TOML syntax ----------------------------------------------------

std::string quote(std::string_view text) {
    std::string out = "\"";
    for (char c : text) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                out += c;
        }
    }
    return out + "\"";
}

std::string show_list(const std::vector<std::string>& items) {
    std::string out = "[";
    for (const auto& item : items) out += (out.size() > 1 ? ", " : "") + quote(item);
    return out + "]";
}

bool bare_key(std::string_view key) {
    return !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
    });
}

// --- bindings: how one option reads into and shows from ServeOptions ------------------

Binding text_field(std::string ServeOptions::*member) {
    return {[member](ServeOptions& o, const Value& v) { o.*member = std::get<std::string>(v); },
            [member](const ServeOptions& o) { return quote(o.*member); }};
}

Binding flag_field(bool ServeOptions::*member) {
    return {[member](ServeOptions& o, const Value& v) { o.*member = std::get<bool>(v); },
            [member](const ServeOptions& o) { return std::string(o.*member ? "true" : "false"); }};
}

template <class T>
Binding count_field(T ServeOptions::*member) {
    return {[member](ServeOptions& o, const Value& v) {
                o.*member = static_cast<T>(std::get<std::int64_t>(v));
            },
            [member](const ServeOptions& o) { return std::to_string(o.*member); }};
}

Binding seconds_field(std::chrono::seconds ServeOptions::*member) {
    return {[member](ServeOptions& o, const Value& v) {
                o.*member = std::chrono::seconds(std::get<std::int64_t>(v));
            },
            [member](const ServeOptions& o) { return std::to_string((o.*member).count()); }};
}

Binding size_field(std::uint64_t ServeOptions::*member) {
    return {[member](ServeOptions& o, const Value& v) {
                o.*member = static_cast<std::uint64_t>(std::get<std::int64_t>(v));
            },
            [member](const ServeOptions& o) { return quote(core::format_size(o.*member)); }};
}

// A size with bounds (header and URI limits): outside them, say which sizes are accepted.
Binding bounded_size_field(std::uint64_t ServeOptions::*member, std::uint64_t low,
                           std::uint64_t high) {
    return {[member, low, high](ServeOptions& o, const Value& v) {
                const auto size = static_cast<std::uint64_t>(std::get<std::int64_t>(v));
                if (size < low || size > high) {
                    throw ConfigError("expected a size from " + core::format_size(low) + " to " +
                                      core::format_size(high));
                }
                o.*member = size;
            },
            [member](const ServeOptions& o) { return quote(core::format_size(o.*member)); }};
}

// [tls] sni: "CERT,KEY" pairs.
Binding certificate_pairs_binding() {
    return {[](ServeOptions& o, const Value& v) {
                std::vector<std::pair<std::string, std::string>> pairs;
                for (const auto& text : std::get<std::vector<std::string>>(v)) {
                    const auto comma = text.find(',');
                    if (comma == std::string::npos || comma == 0 || comma + 1 == text.size()) {
                        throw ConfigError("expected CERT_FILE,KEY_FILE, got \"" + text + "\"");
                    }
                    pairs.emplace_back(text.substr(0, comma), text.substr(comma + 1));
                }
                o.tls_sni = std::move(pairs);
            },
            [](const ServeOptions& o) {
                std::vector<std::string> texts;
                for (const auto& [cert, key] : o.tls_sni) texts.push_back(cert + "," + key);
                return show_list(texts);
            }};
}

// The environment's lists are comma-separated, and so are a listen address's options:
// ASKR_SERVER_LISTEN=":80,proxy-protocol" arrives as ":80" and "proxy-protocol". An item
// that is an option goes back onto the address before it.
std::vector<std::string> joined_listen_options(const std::vector<std::string>& items) {
    std::vector<std::string> out;
    for (const auto& item : items) {
        if (!out.empty() && is_listen_option(item)) {
            out.back() += "," + item;
        } else {
            out.push_back(item);
        }
    }
    return out;
}

Binding listen_field(std::vector<ListenAddress> ServeOptions::*member) {
    return {[member](ServeOptions& o, const Value& v) {
                std::vector<ListenAddress> addresses;
                const auto& texts = joined_listen_options(std::get<std::vector<std::string>>(v));
                std::string errors;  // every bad entry, each named when there are several
                for (const auto& text : texts) {
                    try {
                        addresses.push_back(parse_listen_address(text));
                    } catch (const ConfigError& e) {
                        if (!errors.empty()) errors += "; ";
                        errors += texts.size() > 1 ? text + ": " + e.what() : e.what();
                    }
                }
                if (!errors.empty()) throw ConfigError(errors);
                o.*member = std::move(addresses);
            },
            [member](const ServeOptions& o) {
                std::vector<std::string> texts;
                for (const auto& a : o.*member) texts.push_back(a.text());
                return show_list(texts);
            }};
}

// A list of CIDR ranges or addresses, each checked (core/ip_address.hpp).
Binding address_ranges_field(std::vector<std::string> ServeOptions::*member) {
    return {[member](ServeOptions& o, const Value& v) {
                const auto& texts = std::get<std::vector<std::string>>(v);
                std::string errors;
                for (const auto& text : texts) {
                    std::string error;
                    if (text != "unix" && !core::parse_address_range(text, error)) {
                        if (!errors.empty()) errors += "; ";
                        errors += error;
                    }
                }
                if (!errors.empty())
                    throw ConfigError(errors + " (expected CIDR ranges such as 10.0.0.0/8, addresses, or unix)");
                o.*member = texts;
            },
            [member](const ServeOptions& o) { return show_list(o.*member); }};
}

Binding list_field(std::vector<std::string> ServeOptions::*member) {
    return {[member](ServeOptions& o, const Value& v) {
                o.*member = std::get<std::vector<std::string>>(v);
            },
            [member](const ServeOptions& o) { return show_list(o.*member); }};
}

// A table merges per key: the command line's -d memory_limit=... replaces the file's
// memory_limit and keeps its other settings.
Binding key_values_field(KeyValues ServeOptions::*member) {
    return {[member](ServeOptions& o, const Value& v) {
                for (const auto& [key, value] : std::get<KeyValues>(v)) {
                    auto& table = o.*member;
                    auto it = std::find_if(table.begin(), table.end(),
                                           [&](const auto& kv) { return kv.first == key; });
                    if (it != table.end()) {
                        it->second = value;
                    } else {
                        table.emplace_back(key, value);
                    }
                }
            },
            [member](const ServeOptions& o) {
                std::string out = "{";
                for (const auto& [key, value] : o.*member) {
                    out += (out.size() > 1 ? ", " : " ") + (bare_key(key) ? key : quote(key)) +
                           " = " + quote(value);
                }
                return out + (out.size() > 1 ? " }" : "}");
            }};
}

Binding symlinks_binding() {
    return {[](ServeOptions& o, const Value& v) {
                o.symlinks = std::get<std::string>(v) == "inside-root" ? SymlinkPolicy::inside_root
                                                                       : SymlinkPolicy::follow;
            },
            [](const ServeOptions& o) {
                return quote(o.symlinks == SymlinkPolicy::inside_root ? "inside-root" : "follow");
            }};
}

Binding admin_listen_binding() {
    return {[](ServeOptions& o, const Value& v) {
                const auto& text = std::get<std::string>(v);
                if (text == "off") {
                    o.admin_listen.reset();
                    return;
                }
                ListenAddress address;
                try {
                    address = parse_listen_address(text);
                } catch (const ConfigError& e) {
                    throw ConfigError(std::string(e.what()) + ", or off");
                }
                if (address.is_unix()) {
                    throw ConfigError("the admin listener takes HOST:PORT (a unix socket is for --listen)");
                }
                if (address.proxy_protocol) {
                    throw ConfigError(
                        "the admin listener takes no options (proxy-protocol is for [server] "
                        "listen)");
                }
                o.admin_listen = address;
            },
            [](const ServeOptions& o) {
                return quote(o.admin_listen ? o.admin_listen->text() : "off");
            }};
}

// [cache] redis, [broadcast] redis: checked when read, so that a mistyped URL stops the start.
Binding redis_url_binding(std::string ServeOptions::*member) {
    return {[member](ServeOptions& o, const Value& v) {
                const auto& text = std::get<std::string>(v);
                if (!text.empty()) parse_redis_url(text);
                o.*member = text;
            },
            [member](const ServeOptions& o) { return quote(o.*member); }};
}

// [broadcast] redis_key: a Redis key, printable, so that it reads in redis-cli and logs.
Binding redis_key_binding() {
    return {[](ServeOptions& o, const Value& v) {
                const auto& text = std::get<std::string>(v);
                if (text.empty() || text.size() > 128)
                    throw ConfigError("must be 1 to 128 bytes long");
                for (unsigned char c : text) {
                    if (c <= ' ' || c >= 0x7f)
                        throw ConfigError("may only hold printable ASCII without spaces");
                }
                o.broadcast_redis_key = text;
            },
            [](const ServeOptions& o) { return quote(o.broadcast_redis_key); }};
}

Binding cache_prefix_binding() {
    return {[](ServeOptions& o, const Value& v) {
                const auto& text = std::get<std::string>(v);
                if (text.empty() || text.size() > 64) {
                    throw ConfigError("expected 1 to 64 bytes (such as \"askr:\"), got " +
                                      std::to_string(text.size()));
                }
                o.cache_prefix = text;
            },
            [](const ServeOptions& o) { return quote(o.cache_prefix); }};
}

// --- the schema -----------------------------------------------------------------------
//
// Adding an option: give ServeOptions the field (its initializer is the default), then add
// one entry here: section and key (snake_case; a new section also goes into sections()),
// type, CLI flag ("" for none), value name, doc, an example (a valid non-default value in
// TOML syntax: the docs show it and the unit tests round-trip it), min/max or choices, and
// a binding (text_field, flag_field, count_field, seconds_field, size_field, listen_field,
// list_field, key_values_field, or a Binding{apply, show} of its own). The TOML key, the
// ASKR_SECTION_KEY variable, the flag, --help and docs/configuration.md follow from it.
// Checks across options or against the file system go in finalize() (loader.cpp).
// Regenerate the docs: cmake --build build --target config-docs.

constexpr std::int64_t one_day = 86400;

const std::vector<Option>& table() {
    static const std::vector<Option> options = {
        // [server]
        {.section = "server",
         .key = "root",
         .type = Type::path,
         .cli = "--root,-r",
         .value_name = "DIR",
         .doc = "Document root: the app's public folder. Required (in the file, the environment "
                "or on the command line); a relative path is taken from the current directory.",
         .example = "\"/srv/app/public\"",
         .default_doc = "(required)",
         .bind = text_field(&ServeOptions::root)},
        {.section = "server",
         .key = "listen",
         .type = Type::list,
         .cli = "--listen,-l",
         .value_name = "HOST:PORT",
         .doc = "Addresses to listen on: HOST:PORT, [IPv6]:PORT, :PORT for all IPv4 addresses, or "
                "unix:/PATH for a unix socket (behind a proxy on the same machine; `,mode=0660` "
                "sets its permissions, 0660 by default; a stale socket file is replaced and the "
                "file is removed on stop). With TLS, every one speaks HTTPS. The command line's --listen (repeatable) "
                "replaces the file's list. `,proxy-protocol` after an address expects every "
                "connection to open with a PROXY protocol header (v1 or v2) from a load balancer, "
                "whose client address becomes the request's (docs/proxies.md).",
         .example = "[\"0.0.0.0:80\", \"[::]:80\"]",
         .bind = listen_field(&ServeOptions::listen)},
        {.section = "server",
         .key = "index",
         .cli = "--index",
         .value_name = "NAME",
         .doc = "Directory index and front controller: requests for paths that do not exist go to "
                "/NAME (DokuWiki: doku.php). A file name, no slash.",
         .example = "\"app.php\"",
         .bind = text_field(&ServeOptions::index)},
        {.section = "server",
         .key = "sendfile_roots",
         .type = Type::list,
         .cli = "--sendfile-root",
         .value_name = "DIR",
         .doc = "Directories whose files a PHP response may name in `X-Sendfile: /abs/path` or "
                "`X-Accel-Redirect: /abs/path`: the server then answers with that file as with a "
                "static one (Range, HEAD, ETag, conditional requests), keeping the script's other "
                "headers and dropping its body. A path that resolves (`..`, symbolic links) "
                "outside every root, or is missing or not a readable file, is answered 500. With "
                "no root, both headers are ordinary ones and go to the client. Repeatable; "
                "docs/sendfile.md.",
         .example = "[\"/srv/app/storage/downloads\"]",
         .default_doc = "(none: off)",
         .bind = list_field(&ServeOptions::sendfile_roots)},
        {.section = "server",
         .key = "health_path",
         .cli = "--health-path",
         .value_name = "PATH",
         .doc = "A path on the main listeners answered `200 ok` by the I/O thread, without PHP "
                "and before the app's routes, for a load balancer's liveness probe. The admin "
                "listener's /health and /ready answer the same questions for the whole server. "
                "docs/proxies.md.",
         .example = "\"/healthz\"",
         .default_doc = "(none: off)",
         .bind = text_field(&ServeOptions::health_path)},
        {.section = "server",
         .key = "ready_path",
         .cli = "--ready-path",
         .value_name = "PATH",
         .doc = "A path on the main listeners answered `200 ready` while the worker that reads "
                "it takes requests, and `503` once it drains (a graceful stop, a reload, "
                "--max-requests) or before its worker script is ready: a load balancer stops "
                "sending before connections are closed. Without PHP, before the app's routes. "
                "docs/proxies.md.",
         .example = "\"/readyz\"",
         .default_doc = "(none: off)",
         .bind = text_field(&ServeOptions::ready_path)},
        {.section = "server",
         .key = "trusted_proxies",
         .type = Type::list,
         .cli = "--trusted-proxy",
         .value_name = "CIDR",
         .doc = "Reverse proxies whose forwarding headers are believed: IPv4 or IPv6 ranges "
                "(10.0.0.0/8, fd00::/8) or plain addresses. From a peer in one of them, "
                "`Forwarded` (RFC 7239) or else `X-Forwarded-For`, `-Proto`, `-Host` and `-Port` "
                "set the client address, scheme, host and port PHP and the access log see; from "
                "any other peer they are ordinary headers. `unix` trusts every peer of a unix:/PATH "
                "listener. Repeatable; docs/proxies.md.",
         .example = "[\"127.0.0.1\", \"10.0.0.0/8\", \"unix\"]",
         .default_doc = "(none: the headers are ordinary ones)",
         .bind = address_ranges_field(&ServeOptions::trusted_proxies)},
        {.section = "server",
         .key = "max_body_size",
         .type = Type::size,
         .cli = "--max-body-size",
         .value_name = "SIZE",
         .doc = "Largest request body accepted (also chunked ones); larger bodies get 413. Units "
                "K, M, G, T (binary), or a number of bytes.",
         .example = "\"64M\"",
         .bind = size_field(&ServeOptions::max_body_size)},
        {.section = "server",
         .key = "response_spool_max",
         .type = Type::size,
         .cli = "--response-spool-max",
         .value_name = "SIZE",
         .doc = "A PHP response is held in memory up to 1 MiB ahead of a slow client; past "
                "that the rest goes to an unlinked temporary file in $TMPDIR (or /tmp), up to "
                "this much per response, so that the PHP worker finishes the script and takes "
                "the next request instead of waiting for the client (nginx's "
                "fastcgi_max_temp_file_size). Past it PHP waits. 0 = never spool: PHP waits "
                "once 1 MiB is unsent.",
         .example = "\"256M\"",
         .bind = size_field(&ServeOptions::response_spool_max)},
        {.section = "server",
         .key = "max_header_size",
         .type = Type::size,
         .cli = "--max-header-size",
         .value_name = "SIZE",
         .doc = "Request header fields, all together (names and values); larger get 431. From 1K "
                "to 1M.",
         .example = "\"64K\"",
         .bind = bounded_size_field(&ServeOptions::max_header_size, 1 << 10, 1 << 20)},
        {.section = "server",
         .key = "max_header_count",
         .type = Type::integer,
         .cli = "--max-header-count",
         .value_name = "N",
         .doc = "Request header fields, in number; more get 431.",
         .example = "200",
         .min = 8,
         .max = 10000,
         .bind = count_field(&ServeOptions::max_header_count)},
        {.section = "server",
         .key = "max_uri_size",
         .type = Type::size,
         .cli = "--max-uri-size",
         .value_name = "SIZE",
         .doc = "Request-target (path and query string) length; longer get 414. From 256 bytes "
                "to 1M.",
         .example = "\"16K\"",
         .bind = bounded_size_field(&ServeOptions::max_uri_size, 256, 1 << 20)},
        {.section = "server",
         .key = "http2_max_streams",
         .type = Type::integer,
         .cli = "--http2-max-streams",
         .value_name = "N",
         .doc = "HTTP/2: streams a client may have open at once on one connection "
                "(SETTINGS_MAX_CONCURRENT_STREAMS, RFC 9113 section 6.5.2); docs/http2.md.",
         .example = "250",
         .min = 1,
         .max = 10000,
         .bind = count_field(&ServeOptions::h2_max_streams)},
        {.section = "server",
         .key = "max_connections",
         .type = Type::integer,
         .cli = "--max-connections",
         .value_name = "N",
         .doc = "Open client connections per worker. A full worker passes new connections to one "
                "with room; when every worker is full, new connections get 503 (Retry-After: 1) "
                "and are closed, counted and logged (docs/hardening.md).",
         .example = "4096",
         .min = 1,
         .max = 1000000,
         .bind = count_field(&ServeOptions::max_connections)},
        {.section = "server",
         .key = "request_timeout",
         .type = Type::seconds,
         .cli = "--request-timeout",
         .value_name = "S",
         .doc = "Wall-clock seconds a PHP request may run; past it the client gets 504, the log "
                "names the request, and the worker is ended and replaced (php-fpm's "
                "request_terminate_timeout). max_execution_time counts CPU "
                "time only and never fires while a script waits on a hung call. 0 = no limit.",
         .example = "120",
         .min = 0,
         .max = one_day,
         .bind = seconds_field(&ServeOptions::request_timeout)},
        {.section = "server",
         .key = "symlinks",
         .type = Type::choice,
         .cli = "--symlinks",
         .value_name = "POLICY",
         .doc = "follow (as nginx does) or inside-root: refuse files whose real path is outside "
                "the root.",
         .example = "\"inside-root\"",
         .choices = {"follow", "inside-root"},
         .bind = symlinks_binding()},
        {.section = "server",
         .key = "header_timeout",
         .type = Type::seconds,
         .cli = "--header-timeout",
         .value_name = "S",
         .doc = "Seconds from the first byte of a request to the end of its headers (the "
                "slowloris bound).",
         .example = "20",
         .min = 1,
         .max = one_day,
         .bind = seconds_field(&ServeOptions::header_timeout)},
        {.section = "server",
         .key = "keepalive_timeout",
         .type = Type::seconds,
         .cli = "--keepalive-timeout",
         .value_name = "S",
         .doc = "Seconds an idle keep-alive connection is kept between requests.",
         .example = "75",
         .min = 1,
         .max = one_day,
         .bind = seconds_field(&ServeOptions::keepalive_timeout)},
        {.section = "server",
         .key = "body_timeout",
         .type = Type::seconds,
         .cli = "--body-timeout",
         .value_name = "S",
         .doc = "Longest pause, in seconds, while a request body arrives (a stall, not the total).",
         .example = "30",
         .min = 1,
         .max = one_day,
         .bind = seconds_field(&ServeOptions::body_timeout)},
        {.section = "server",
         .key = "write_timeout",
         .type = Type::seconds,
         .cli = "--write-timeout",
         .value_name = "S",
         .doc = "Longest stall, in seconds, writing a response to a client.",
         .example = "30",
         .min = 1,
         .max = one_day,
         .bind = seconds_field(&ServeOptions::write_timeout)},
        {.section = "server",
         .key = "min_send_rate",
         .type = Type::size,
         .cli = "--min-send-rate",
         .value_name = "SIZE",
         .doc = "Bytes a second a client must take a response at while Askr waits on it, "
                "judged over 20 s of waiting (time PHP spends producing the response does not "
                "count); a slower client is disconnected. Ends slow-read attacks that take a "
                "byte now and then to hold a connection and its spool file. Over HTTP/2 the "
                "rate is the connection's. 0 = off (only --write-timeout applies).",
         .example = "\"4K\"",
         .bind = size_field(&ServeOptions::min_send_rate)},
        {.section = "server",
         .key = "boot_timeout",
         .type = Type::seconds,
         .cli = "--boot-timeout",
         .value_name = "S",
         .doc = "During a reload, seconds a new worker may take until it can serve (worker mode: "
                "until its script reaches askr_handle_request()); past it the reload fails and the "
                "previous generation keeps serving (docs/reload.md).",
         .example = "120",
         .min = 1,
         .max = one_day,
         .bind = seconds_field(&ServeOptions::boot_timeout)},
        {.section = "server",
         .key = "shutdown_timeout",
         .type = Type::seconds,
         .cli = "--shutdown-timeout",
         .value_name = "S",
         .doc = "A graceful stop (SIGTERM) waits at most this many seconds for in-flight requests.",
         .example = "10",
         .min = 1,
         .max = one_day,
         .bind = seconds_field(&ServeOptions::shutdown_timeout)},
        {.section = "server",
         .key = "user",
         .cli = "--user",
         .value_name = "NAME",
         .doc = "When started as root: PHP (zygote and workers) runs as this user. The master "
                "keeps root only to bind ports and supervise.",
         .example = "\"www-data\"",
         .default_doc = "(the starting user)",
         .bind = text_field(&ServeOptions::user)},
        {.section = "server",
         .key = "group",
         .cli = "--group",
         .value_name = "NAME",
         .doc = "Group for `user` (needs `user`).",
         .example = "\"www-data\"",
         .default_doc = "(the user's primary group)",
         .bind = text_field(&ServeOptions::group)},
        {.section = "server",
         .key = "control_socket",
         .type = Type::path,
         .cli = "--control-socket",
         .value_name = "PATH",
         .doc = "Unix socket that `askr status` asks for the worker table (`askr status` finds it "
                "in askr.toml too).",
         .example = "\"/run/askr/control.sock\"",
         .default_doc = "`$XDG_RUNTIME_DIR` or `/tmp`, `askr-PORT.sock`",
         .bind = text_field(&ServeOptions::control_socket)},

        // [tls]
        {.section = "tls",
         .key = "cert",
         .type = Type::path,
         .cli = "--tls-cert",
         .value_name = "FILE",
         .doc = "PEM certificate chain, leaf first. With it (and `key`), every `listen` address "
                "speaks HTTPS. Re-read on SIGHUP.",
         .example = "\"/etc/letsencrypt/live/example.org/fullchain.pem\"",
         .default_doc = "(none)",
         .bind = text_field(&ServeOptions::tls_cert)},
        {.section = "tls",
         .key = "key",
         .type = Type::path,
         .cli = "--tls-key",
         .value_name = "FILE",
         .doc = "PEM private key of `cert` (unencrypted).",
         .example = "\"/etc/letsencrypt/live/example.org/privkey.pem\"",
         .default_doc = "(none)",
         .bind = text_field(&ServeOptions::tls_key)},
        {.section = "tls",
         .key = "sni",
         .type = Type::list,
         .cli = "--tls-sni",
         .value_name = "CERT,KEY",
         .doc = "More certificates, each \"CERT_FILE,KEY_FILE\" (PEM), served to clients whose SNI "
                "name is one of the certificate's DNS names (exact first, then a one-label "
                "wildcard). Other clients get `cert`. Needs `cert`.",
         .example = "[\"/etc/ssl/shop.pem,/etc/ssl/shop.key\"]",
         .bind = certificate_pairs_binding()},
        {.section = "tls",
         .key = "self_signed",
         .type = Type::boolean,
         .cli = "--tls-self-signed",
         .doc = "Serve HTTPS with a self-signed certificate made at start (for local use). "
                "Excludes `cert`.",
         .example = "true",
         .bind = flag_field(&ServeOptions::tls_self_signed)},
        {.section = "tls",
         .key = "self_signed_dir",
         .type = Type::path,
         .cli = "--tls-self-signed-dir",
         .value_name = "DIR",
         .doc = "Where `self_signed` keeps its certificate and key.",
         .example = "\"/var/lib/askr/tls\"",
         .default_doc = "`$XDG_RUNTIME_DIR/askr` or `/tmp/askr-tls-UID`",
         .bind = text_field(&ServeOptions::tls_self_signed_dir)},
        {.section = "tls",
         .key = "handshake_timeout",
         .type = Type::seconds,
         .cli = "--tls-handshake-timeout",
         .value_name = "S",
         .doc = "A client that does not complete the TLS handshake in this many seconds is closed.",
         .example = "5",
         .min = 1,
         .max = 3600,
         .bind = seconds_field(&ServeOptions::tls_handshake_timeout)},
        {.section = "tls",
         .key = "listen_http",
         .type = Type::list,
         .cli = "--listen-http",
         .value_name = "HOST:PORT",
         .doc = "Plain-HTTP addresses that redirect to HTTPS (308), except "
                "/.well-known/acme-challenge/, served from the root (certbot's webroot mode). "
                "Needs TLS. Takes the same options as [server] listen (`,proxy-protocol`).",
         .example = "[\"0.0.0.0:80\"]",
         .bind = listen_field(&ServeOptions::listen_http)},

        // [php]
        {.section = "php",
         .key = "ini",
         .type = Type::table,
         .cli = "--php-ini,-d",
         .value_name = "KEY=VALUE",
         .doc = "PHP ini settings applied after php.ini (the embed SAPI's "
                "/etc/php/*/embed/php.ini). In the file a table (`[php.ini]` with `memory_limit = "
                "\"256M\"`; dotted keys such as `opcache.enable` need no quotes), on the command "
                "line -d KEY=VALUE (repeatable). Sources merge per setting: -d replaces the "
                "file's value of that one setting.",
         .example = "{ memory_limit = \"256M\", \"opcache.validate_timestamps\" = \"0\" }",
         .bind = key_values_field(&ServeOptions::php_ini)},
        {.section = "php",
         .key = "extensions",
         .type = Type::list,
         .cli = "--php-extension",
         .value_name = "NAME",
         .doc = "Extensions the app needs (names as `php -m` prints them, e.g. pdo_mysql, intl, "
                "opcache). Checked at start: a missing one stops the start with the package to "
                "install.",
         .example = "[\"intl\", \"pdo_sqlite\"]",
         .bind = list_field(&ServeOptions::php_extensions)},
        {.section = "php",
         .key = "env",
         .type = Type::table,
         .cli = "--php-env",
         .value_name = "NAME=VALUE",
         .doc = "Environment variables PHP sees (getenv(), $_ENV), as php-fpm's env[NAME]. PHP "
                "sees a clean environment: these, the ones `pass_env` names, nothing else of "
                "the server's (docs/php.md). ASKR_* names are refused.",
         .example = "{ APP_ENV = \"production\" }",
         .default_doc = "(none)",
         .bind = key_values_field(&ServeOptions::php_env)},
        {.section = "php",
         .key = "pass_env",
         .type = Type::list,
         .cli = "--php-pass-env",
         .value_name = "NAME",
         .doc = "Variables of the server's own environment passed on to PHP as they are; the "
                "rest (secrets, Askr's own ASKR_* settings, which are refused here) never "
                "reach scripts.",
         .example = "[\"PATH\", \"DATABASE_URL\"]",
         .default_doc = "`[\"PATH\", \"TMPDIR\"]`",
         .bind = list_field(&ServeOptions::php_pass_env)},

        // [worker]
        {.section = "worker",
         .key = "script",
         .type = Type::path,
         .cli = "--worker",
         .value_name = "SCRIPT",
         .doc = "Worker mode: this script boots the app once per worker process and loops on "
                "askr_handle_request() (docs/worker-mode.md).",
         .example = "\"/srv/app/worker.php\"",
         .default_doc = "(classic mode)",
         .bind = text_field(&ServeOptions::worker_script)},
        {.section = "worker",
         .key = "max_requests",
         .type = Type::integer,
         .cli = "--max-requests",
         .value_name = "N",
         .doc = "Recycle a worker process after this many requests, plus up to 10% so that "
                "workers do not recycle together. 0 = never.",
         .example = "10000",
         .min = 0,
         .bind = count_field(&ServeOptions::max_requests)},
        {.section = "worker",
         .key = "frankenphp_compat",
         .type = Type::boolean,
         .cli = "--frankenphp-compat",
         .doc = "Also provide frankenphp_handle_request(), frankenphp_finish_request() and "
                "$_SERVER['FRANKENPHP_WORKER'] (run FrankenPHP worker scripts unmodified).",
         .example = "true",
         .bind = flag_field(&ServeOptions::frankenphp_compat)},

        {.section = "worker",
         .key = "cow",
         .type = Type::boolean,
         .cli = "--cow",
         .doc = "Copy-on-write template: the zygote runs the worker script once per generation, "
                "up to askr_cow_ready() (the app booted), and forks the workers from that warm "
                "state; a replaced worker starts warm (a fork, not a boot). Needs `script`.",
         .example = "true",
         .bind = flag_field(&ServeOptions::cow)},
        {.section = "worker",
         .key = "paranoid",
         .type = Type::boolean,
         .cli = "--paranoid",
         .doc = "Development only: after a warm-up, warn about static properties, globals and "
                "watched container bindings that keep growing or changing between requests "
                "(state bleeding from one request into the next). Needs `script`.",
         .example = "true",
         .bind = flag_field(&ServeOptions::paranoid)},

        // [workers]
        {.section = "workers",
         .key = "count",
         .type = Type::integer,
         .cli = "--workers,-w",
         .value_name = "N",
         .doc = "Worker processes (each one PHP thread and one I/O thread).",
         .example = "4",
         .default_doc = "number of CPU cores",
         .min = 1,
         .max = 1024,
         .bind = count_field(&ServeOptions::workers)},
        {.section = "workers",
         .key = "move_after_us",
         .type = Type::integer,
         .cli = "--move-after-us",
         .value_name = "US",
         .doc = "Microseconds: a keep-alive HTTP/1.1 connection whose new PHP request would wait "
                "at least this long behind others on its worker (queued requests times the "
                "worker's average PHP time, or a script running 10 ms or more) moves, with its "
                "request, to a worker whose PHP is idle. 0 never moves connections "
                "(docs/architecture.md).",
         .example = "1000",
         .min = 0,
         .max = 60000000,
         .bind = count_field(&ServeOptions::move_after_us)},

        // [admin]
        {.section = "admin",
         .key = "listen",
         .cli = "--admin-listen",
         .value_name = "HOST:PORT|off",
         .doc = "Admin listener (status API, metrics, dashboard), served by the master, or off. "
                "Bound to anything but loopback it requires `token`.",
         .example = "\"off\"",
         .bind = admin_listen_binding()},
        {.section = "admin",
         .key = "token",
         .cli = "--admin-token",
         .value_name = "TOKEN",
         .doc = "Bearer token the admin listener requires (at least 16 characters). Prefer the "
                "file or ASKR_ADMIN_TOKEN to the command line, which other users can see in ps.",
         .example = "\"0123456789abcdef0123\"",
         .default_doc = "(none)",
         .bind = text_field(&ServeOptions::admin_token)},

        // [cache]
        {.section = "cache",
         .key = "slots",
         .type = Type::integer,
         .cli = "--cache-slots",
         .value_name = "N",
         .doc =
             "Entries the shared-memory cache behind askr_cache_*() is sized for (docs/cache.md); "
             "each costs about 73 bytes of address space, touched only when used. 0 turns the "
             "cache off (the functions then throw), unless `redis` is set.",
         .example = "1000000",
         .min = 0,
         .max = 1ll << 28,
         .bind = count_field(&ServeOptions::cache_slots)},
        {.section = "cache",
         .key = "memory",
         .type = Type::size,
         .cli = "--cache-memory",
         .value_name = "SIZE",
         .doc = "Memory for the cache's keys and values (in 128-byte blocks); when full, the least "
                "recently used entries are evicted. From 64K to 256G.",
         .example = "\"512M\"",
         .bind = bounded_size_field(&ServeOptions::cache_memory, 64 << 10, 256ull << 30)},
        {.section = "cache",
         .key = "max_value",
         .type = Type::size,
         .cli = "--cache-max-value",
         .value_name = "SIZE",
         .doc = "Largest value one key may hold (a serialized array counts as its serialized "
                "size); larger ones make askr_cache_set() throw. At most `memory`.",
         .example = "\"4M\"",
         .bind = bounded_size_field(&ServeOptions::cache_max_value, 1, 1ull << 30)},
        {.section = "cache",
         .key = "redis",
         .cli = "--cache-redis",
         .value_name = "URL",
         .doc = "Keep the cache in Redis instead of shared memory, so that several machines share "
                "it (same functions, same semantics; docs/cache.md, \"Redis\"): "
                "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or "
                "unix:/PATH[?db=N&password=SECRET]. Each worker opens one connection when it "
                "first uses the cache. Prefer the file or ASKR_CACHE_REDIS to the command line "
                "for a password.",
         .example = "\"redis://10.0.0.5:6379/1\"",
         .default_doc = "(none: shared memory)",
         .bind = redis_url_binding(&ServeOptions::cache_redis)},
        {.section = "cache",
         .key = "prefix",
         .cli = "--cache-prefix",
         .value_name = "TEXT",
         .doc = "With `redis`: every key is stored as prefix + key, and askr_cache_flush() "
                "removes only keys with this prefix (1 to 64 bytes).",
         .example = "\"shop:cache:\"",
         .bind = cache_prefix_binding()},
        {.section = "cache",
         .key = "redis_timeout_ms",
         .type = Type::integer,
         .cli = "--cache-redis-timeout-ms",
         .value_name = "MS",
         .doc =
             "With `redis`: milliseconds a connect or a command may take. Past it (or when Redis "
             "is down) the call fails as a miss (get returns the default, set returns false; "
             "docs/cache.md) and the worker waits a short backoff before trying Redis again.",
         .example = "100",
         .min = 1,
         .max = 60000,
         .bind = count_field(&ServeOptions::cache_redis_timeout_ms)},

        // [broadcast]
        {.section = "broadcast",
         .key = "enabled",
         .type = Type::boolean,
         .cli = "--broadcast,!--no-broadcast",
         .doc = "Live broadcasting (Server-Sent Events, docs/broadcast.md): askr_broadcast() "
                "in PHP, GET /askr/events for browsers, across every worker without a broker. "
                "Off by default: /askr/events is then an ordinary path of the app and "
                "askr_broadcast() throws.",
         .example = "true",
         .bind = flag_field(&ServeOptions::broadcast)},
        {.section = "broadcast",
         .key = "ring",
         .type = Type::size,
         .cli = "--broadcast-ring",
         .value_name = "SIZE",
         .doc = "Shared memory for the ring of recent events (what a reconnecting client "
                "resumes from with Last-Event-ID); when full, the oldest events are dropped. "
                "Pages are allocated as events fill them. From 64K to 4G.",
         .example = "\"64M\"",
         .bind = bounded_size_field(&ServeOptions::broadcast_ring, 64 << 10, 4ull << 30)},
        {.section = "broadcast",
         .key = "max_data",
         .type = Type::size,
         .cli = "--broadcast-max-data",
         .value_name = "SIZE",
         .doc = "Largest payload of one event; larger ones make askr_broadcast() throw. At most "
                "a quarter of `ring`.",
         .example = "\"256K\"",
         .bind = bounded_size_field(&ServeOptions::broadcast_max_data, 1, 16ull << 20)},
        {.section = "broadcast",
         .key = "max_channel_length",
         .type = Type::integer,
         .cli = "--broadcast-max-channel-length",
         .value_name = "N",
         .doc = "Longest channel name, in bytes. Names use letters, digits and `_ - . : @ =`.",
         .example = "128",
         .min = 1,
         .max = 1024,
         .bind = count_field(&ServeOptions::broadcast_max_channel_length)},
        {.section = "broadcast",
         .key = "max_channels",
         .type = Type::integer,
         .cli = "--broadcast-max-channels",
         .value_name = "N",
         .doc = "Channels one subscription may name; more are refused with 400.",
         .example = "32",
         .min = 1,
         .max = 1024,
         .bind = count_field(&ServeOptions::broadcast_max_channels)},
        {.section = "broadcast",
         .key = "max_subscribers",
         .type = Type::integer,
         .cli = "--broadcast-max-subscribers",
         .value_name = "N",
         .doc = "Open subscriber streams per worker; past it a subscription is refused with "
                "503. Each also counts as a connection "
                "(--max-connections) over HTTP/1.1.",
         .example = "5000",
         .min = 1,
         .max = 1000000,
         .bind = count_field(&ServeOptions::broadcast_max_subscribers)},
        {.section = "broadcast",
         .key = "buffer",
         .type = Type::size,
         .cli = "--broadcast-buffer",
         .value_name = "SIZE",
         .doc = "Event bytes a subscriber may have waiting to be written; a subscriber that "
                "does not read is disconnected when it has more (it reconnects and resumes "
                "with Last-Event-ID). From 4K to 1G.",
         .example = "\"4M\"",
         .bind = bounded_size_field(&ServeOptions::broadcast_buffer, 4 << 10, 1ull << 30)},
        {.section = "broadcast",
         .key = "heartbeat",
         .type = Type::seconds,
         .cli = "--broadcast-heartbeat",
         .value_name = "S",
         .doc = "Seconds between comment lines sent to an idle subscriber, so that proxies keep "
                "the stream open and a client that left is noticed.",
         .example = "30",
         .min = 1,
         .max = 3600,
         .bind = seconds_field(&ServeOptions::broadcast_heartbeat)},
        {.section = "broadcast",
         .key = "retry",
         .type = Type::integer,
         .cli = "--broadcast-retry",
         .value_name = "MS",
         .doc = "Milliseconds a browser waits before reconnecting a stream that ended (the "
                "`retry:` field sent when a stream starts).",
         .example = "1000",
         .min = 0,
         .max = 3600000,
         .bind = count_field(&ServeOptions::broadcast_retry_ms)},
        {.section = "broadcast",
         .key = "metrics_channels",
         .type = Type::integer,
         .cli = "--broadcast-metrics-channels",
         .value_name = "N",
         .doc = "Channels whose subscribers the metrics count one by one (/api/metrics, "
                "/metrics, the dashboard): the busiest N; the subscribers of all others are "
                "counted together as `(other)`. Each worker keeps that many in shared memory, "
                "so clients naming many channels cannot grow it. 0: totals only.",
         .example = "100",
         .min = 0,
         .max = 10000,
         .bind = count_field(&ServeOptions::broadcast_metrics_channels)},
        {.section = "broadcast",
         .key = "secret",
         .cli = "--broadcast-secret",
         .value_name = "SECRET",
         .doc = "Key of the HMAC-SHA256 that signs askr_broadcast_token()'s tokens for "
                "`private-` channels (at least 32 characters). Unset, the master makes a "
                "random one at start: tokens then stay good across reloads, not restarts. "
                "Prefer the file or ASKR_BROADCAST_SECRET to the command line.",
         .example = "\"a-long-random-string-of-32-characters-or-more\"",
         .default_doc = "(random per start)",
         .bind = text_field(&ServeOptions::broadcast_secret)},
        {.section = "broadcast",
         .key = "redis",
         .cli = "--broadcast-redis",
         .value_name = "URL",
         .doc = "Relay events through Redis to every server that names the same Redis and "
                "`redis_key` (docs/broadcast.md, \"Several nodes (Redis)\"): a publish "
                "anywhere reaches the subscribers of every node, with the same id everywhere, "
                "so that a browser resumes on any node. URL as for [cache] redis. Each node "
                "reads with one connection (a relay process of the master); each worker that "
                "publishes opens one to write. Redis away: publishes reach this node's "
                "subscribers only, and the relay reconnects by itself.",
         .example = "\"redis://10.0.0.5:6379/0\"",
         .default_doc = "(none: this node only)",
         .bind = redis_url_binding(&ServeOptions::broadcast_redis)},
        {.section = "broadcast",
         .key = "redis_key",
         .cli = "--broadcast-redis-key",
         .value_name = "KEY",
         .doc = "With `redis`: the key of the Redis stream the nodes share (1 to 128 printable "
                "bytes). Servers with another key do not see each other's events.",
         .example = "\"shop:broadcast\"",
         .bind = redis_key_binding()},
        {.section = "broadcast",
         .key = "redis_length",
         .type = Type::integer,
         .cli = "--broadcast-redis-length",
         .value_name = "N",
         .doc = "With `redis`: about how many recent events the stream keeps (XADD MAXLEN ~). "
                "A node whose relay was away for longer misses the older ones (logged); a "
                "node that starts fills its ring from them.",
         .example = "100000",
         .min = 100,
         .max = 100000000,
         .bind = count_field(&ServeOptions::broadcast_redis_length)},
        {.section = "broadcast",
         .key = "redis_timeout_ms",
         .type = Type::integer,
         .cli = "--broadcast-redis-timeout-ms",
         .value_name = "MS",
         .doc = "With `redis`: milliseconds askr_broadcast() may wait for Redis (to connect, "
                "then for XADD). Past it the event goes to this node's subscribers only, and "
                "the worker waits a short backoff before trying Redis again.",
         .example = "100",
         .min = 1,
         .max = 60000,
         .bind = count_field(&ServeOptions::broadcast_redis_timeout_ms)},

        // [reload]
        {.section = "reload",
         .key = "canary",
         .type = Type::boolean,
         .cli = "--canary",
         .doc = "A reload (SIGHUP) starts one worker of the new generation beside the old ones "
                "and watches it for canary_seconds: it must boot, stay alive, serve requests "
                "and keep its share of 5xx answers within canary_error_margin of the old "
                "generation's. Then the rest roll; otherwise the canary is retired and the old "
                "generation serves on untouched (docs/reload.md).",
         .example = "true",
         .bind = flag_field(&ServeOptions::canary)},
        {.section = "reload",
         .key = "canary_seconds",
         .type = Type::seconds,
         .cli = "--canary-seconds",
         .value_name = "S",
         .doc = "How long the canary is watched once it can serve.",
         .example = "30",
         .min = 1,
         .max = one_day,
         .bind = seconds_field(&ServeOptions::canary_seconds)},
        {.section = "reload",
         .key = "canary_error_margin",
         .type = Type::integer,
         .cli = "--canary-error-margin",
         .value_name = "PERCENT",
         .doc = "Percentage points by which the canary's share of 5xx answers may exceed the "
                "old generation's over the same seconds (5: 1% before, up to 6% allowed).",
         .example = "10",
         .min = 0,
         .max = 100,
         .bind = count_field(&ServeOptions::canary_error_margin)},

        // [queue], [scheduler]
        {.section = "queue",
         .key = "workers",
         .type = Type::integer,
         .cli = "--queue",
         .value_name = "N",
         .doc = "Queue sidecars: N long-running PHP processes forked from the current "
                "generation beside the web workers, each running [queue] script the way the CLI "
                "would, restarted when they exit and stopped between jobs on shutdown and reload "
                "(askr_sidecar_should_stop(); docs/sidecars.md).",
         .example = "2",
         .min = 0,
         .max = 256,
         .bind = count_field(&ServeOptions::queue_workers)},
        {.section = "queue",
         .key = "script",
         .cli = "--queue-script",
         .value_name = "FILE",
         .doc = "The PHP script each queue sidecar runs: a loop that takes jobs and returns once "
                "askr_sidecar_should_stop() says so (Laravel: integrations/laravel/queue.php).",
         .example = "\"/srv/app/queue.php\"",
         .default_doc = "(none)",
         .bind = text_field(&ServeOptions::queue_script)},
        {.section = "queue",
         .key = "stop_timeout",
         .type = Type::seconds,
         .cli = "--queue-stop-timeout",
         .value_name = "S",
         .doc = "Seconds a sidecar told to stop (shutdown, reload) has to finish its job and "
                "return; past it, it is killed.",
         .example = "300",
         .min = 1,
         .max = one_day,
         .bind = seconds_field(&ServeOptions::queue_stop_timeout)},
        {.section = "scheduler",
         .key = "script",
         .cli = "--scheduler-script",
         .value_name = "FILE",
         .doc = "A PHP script the built-in cron runs once a minute at second 0, in a fresh "
                "sidecar, never two at once (a run still going at the next minute skips that "
                "minute, logged). Laravel: integrations/laravel/scheduler.php (schedule:run).",
         .example = "\"/srv/app/scheduler.php\"",
         .default_doc = "(none)",
         .bind = text_field(&ServeOptions::scheduler_script)},
        {.section = "scheduler",
         .key = "interval",
         .type = Type::seconds,
         .cli = "--scheduler-interval",
         .value_name = "S",
         .doc = "How often the scheduler runs, at wall-clock multiples of it: 60 is second 0 of "
                "every minute, as cron and Laravel's schedule:run expect.",
         .example = "300",
         .min = 1,
         .max = 3600,
         .bind = seconds_field(&ServeOptions::scheduler_interval)},
        {.section = "scheduler",
         .key = "timeout",
         .type = Type::seconds,
         .cli = "--scheduler-timeout",
         .value_name = "S",
         .doc = "Seconds a scheduler run may take; past it, it is told to stop, and killed "
                "[queue] stop_timeout later.",
         .example = "120",
         .min = 1,
         .max = one_day,
         .bind = seconds_field(&ServeOptions::scheduler_timeout)},

        // [compression]
        {.section = "compression",
         .key = "enabled",
         .type = Type::boolean,
         .cli = "--compression,!--no-compression",
         .doc = "Compress responses for clients that accept it (Accept-Encoding: zstd, br, "
                "gzip): PHP responses as they stream, static files from a precompressed "
                "sibling (file.zst, file.br, file.gz) or compressed once and kept. "
                "--no-compression turns it off; docs/compression.md (and BREACH there).",
         .example = "false",
         .bind = flag_field(&ServeOptions::compression)},
        {.section = "compression",
         .key = "gzip_level",
         .type = Type::integer,
         .cli = "--compression-gzip-level",
         .value_name = "N",
         .doc = "gzip level, 1 (fastest) to 9 (smallest).",
         .example = "6",
         .min = 1,
         .max = 9,
         .bind = count_field(&ServeOptions::compression_gzip_level)},
        {.section = "compression",
         .key = "br_level",
         .type = Type::integer,
         .cli = "--compression-br-level",
         .value_name = "N",
         .doc = "Brotli quality, 0 (fastest) to 11 (smallest; far too slow for responses made "
                "per request: precompress static files instead).",
         .example = "5",
         .min = 0,
         .max = 11,
         .bind = count_field(&ServeOptions::compression_br_level)},
        {.section = "compression",
         .key = "zstd_level",
         .type = Type::integer,
         .cli = "--compression-zstd-level",
         .value_name = "N",
         .doc = "Zstandard level, 1 (fastest) to 19 (smallest).",
         .example = "6",
         .min = 1,
         .max = 19,
         .bind = count_field(&ServeOptions::compression_zstd_level)},
        {.section = "compression",
         .key = "min_size",
         .type = Type::size,
         .cli = "--compression-min-size",
         .value_name = "SIZE",
         .doc = "A body whose length is known before it is sent (a whole PHP response, a "
                "static file without a precompressed sibling) goes uncompressed below this "
                "size. A PHP response that streams (flush()) is compressed whatever its size.",
         .example = "\"256\"",
         .bind = size_field(&ServeOptions::compression_min_size)},
        {.section = "compression",
         .key = "static_max_size",
         .type = Type::size,
         .cli = "--compression-static-max-size",
         .value_name = "SIZE",
         .doc = "Static files up to this size without a precompressed sibling are compressed "
                "once per coding on their first request and kept in memory (`static_memory`); "
                "larger ones go uncompressed, by sendfile. 0: precompressed siblings only. At "
                "most 64M.",
         .example = "\"4M\"",
         .bind = bounded_size_field(&ServeOptions::compression_static_max, 0, 64ull << 20)},
        {.section = "compression",
         .key = "static_memory",
         .type = Type::size,
         .cli = "--compression-static-memory",
         .value_name = "SIZE",
         .doc = "Memory each worker keeps compressed copies of static files in; when full, the "
                "least recently used copies go (and are made again when asked for). At most 4G.",
         .example = "\"64M\"",
         .bind = bounded_size_field(&ServeOptions::compression_static_memory, 0, 4ull << 30)},
        {.section = "compression",
         .key = "types",
         .type = Type::list,
         .cli = "--compression-type",
         .value_name = "TYPE",
         .doc = "Media types compressed: type/subtype, type/* or +suffix (+json matches "
                "application/ld+json). Images, video, archives and fonts other than these are "
                "compressed already. The command line's --compression-type (repeatable) "
                "replaces the list.",
         .example = "[\"text/html\", \"application/json\"]",
         .bind = list_field(&ServeOptions::compression_types)},

        // [log]
        {.section = "log",
         .key = "level",
         .type = Type::choice,
         .cli = "--log-level",
         .value_name = "LEVEL",
         .doc = "Least severe messages logged.",
         .example = "\"debug\"",
         .choices = {"trace", "debug", "info", "warn", "error"},
         .bind = text_field(&ServeOptions::log_level)},
        {.section = "log",
         .key = "error_log",
         .type = Type::path,
         .cli = "--error-log",
         .value_name = "PATH",
         .doc = "The server's log, PHP's errors included, goes to this file (created by the "
                "master, handed to `user`); SIGUSR1 reopens it (logrotate).",
         .example = "\"/var/log/askr/error.log\"",
         .default_doc = "(standard error)",
         .bind = text_field(&ServeOptions::error_log)},
        {.section = "log",
         .key = "access_log",
         .type = Type::path,
         .cli = "--access-log",
         .value_name = "PATH",
         .doc = "Access log, one line per request, written by the workers (one write per line, "
                "flushed every second); SIGUSR1 reopens it (logrotate).",
         .example = "\"/var/log/askr/access.log\"",
         .default_doc = "(off)",
         .bind = text_field(&ServeOptions::access_log)},
        {.section = "log",
         .key = "access_log_format",
         .type = Type::choice,
         .cli = "--access-log-format",
         .value_name = "FORMAT",
         .doc = "combined (Apache/nginx combined format) or json (one JSON object a line).",
         .example = "\"json\"",
         .choices = {"combined", "json"},
         .bind = text_field(&ServeOptions::access_log_format)},
    };
    return options;
}

bool parse_integer(std::string_view text, std::int64_t& out) {
    if (!text.empty() && text.front() == '+') text.remove_prefix(1);
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

std::string trim(std::string_view text) {
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
        text.remove_prefix(1);
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
        text.remove_suffix(1);
    return std::string(text);
}

std::vector<std::string> split(const std::string& text, char separator) {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (;;) {
        auto end = text.find(separator, start);
        auto piece = trim(std::string_view(text).substr(
            start, end == std::string::npos ? std::string::npos : end - start));
        if (!piece.empty()) out.push_back(piece);
        if (end == std::string::npos) return out;
        start = end + 1;
    }
}

}  // namespace

std::string Option::name() const {
    return std::string(section) + "." + std::string(key);
}

std::string Option::env() const {
    std::string out = "ASKR_" + std::string(section) + "_" + std::string(key);
    for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

std::string Option::flag() const {
    if (cli.empty()) return "";
    auto comma = cli.find(',');
    return std::string(cli.substr(0, comma));
}

std::string Option::expectation() const {
    switch (type) {
        case Type::string:
            return "a string";
        case Type::path:
            return "a path (a string)";
        case Type::boolean:
            return "true or false";
        case Type::integer:
        case Type::seconds: {
            std::string what = type == Type::seconds ? "a whole number of seconds" : "an integer";
            if (max == std::numeric_limits<std::int64_t>::max())
                return what + " >= " + std::to_string(min);
            return what + " from " + std::to_string(min) + " to " + std::to_string(max);
        }
        case Type::size:
            return "a size such as 512K, 10M or 1G (or a number of bytes)";
        case Type::choice: {
            std::string out = "one of";
            for (std::size_t i = 0; i < choices.size(); ++i) {
                out += (i == 0                    ? " "
                        : i + 1 == choices.size() ? " or "
                                                  : ", ") +
                       std::string(choices[i]);
            }
            return out;
        }
        case Type::list:
            return "a list of " + std::string(value_name) + " strings";
        case Type::table:
            return "a table of " + std::string(value_name) + " settings";
    }
    return "";
}

std::string Option::default_text() const {
    if (!default_doc.empty()) return std::string(default_doc);
    return "`" + bind.show(ServeOptions{}) + "`";
}

std::span<const Option> schema() {
    return table();
}

std::span<const std::pair<std::string_view, std::string_view>> sections() {
    static const std::pair<std::string_view, std::string_view> list[] = {
        {"server", "Listening, the document root, limits and timeouts."},
        {"tls", "HTTPS (docs/tls.md)."},
        {"php", "The embedded PHP: ini settings and the extensions the app needs."},
        {"worker", "Worker mode (docs/worker-mode.md) and recycling."},
        {"workers", "The worker processes."},
        {"admin", "The admin listener (status API, metrics, dashboard)."},
        {"cache", "The cache behind askr_cache_*(): shared memory, or Redis (docs/cache.md)."},
        {"broadcast", "Live broadcasting to browsers, Server-Sent Events (docs/broadcast.md)."},
        {"reload", "Rolling reloads: the canary (docs/reload.md)."},
        {"queue", "Queue sidecars: PHP processes beside the web workers (docs/sidecars.md)."},
        {"scheduler", "The built-in cron: a PHP script once a minute (docs/sidecars.md)."},
        {"compression", "Response compression: gzip, br, zstd (docs/compression.md)."},
        {"log", "Logging."},
    };
    return list;
}

const Option* find_option(std::string_view section, std::string_view key) {
    for (const auto& option : table()) {
        if (option.section == section && option.key == key) return &option;
    }
    return nullptr;
}

void validate(const Option& option, const Value& value) {
    if (const auto* number = std::get_if<std::int64_t>(&value);
        number && (option.type == Type::integer || option.type == Type::seconds)) {
        if (*number < option.min || *number > option.max)
            throw ConfigError("expected " + option.expectation());
    }
    if (const auto* word = std::get_if<std::string>(&value); word && option.type == Type::choice) {
        if (std::find(option.choices.begin(), option.choices.end(), *word) ==
            option.choices.end()) {
            throw ConfigError("expected " + option.expectation());
        }
    }
    // The binding's own checks (addresses) run on a scratch copy: nothing is stored here.
    ServeOptions scratch;
    option.bind.apply(scratch, value);
}

Value parse_text(const Option& option, const std::vector<std::string>& pieces,
                 bool from_environment) {
    const std::string last = pieces.empty() ? std::string() : pieces.back();
    auto fail = [&]() -> ConfigError { return ConfigError("expected " + option.expectation()); };
    Value value;
    switch (option.type) {
        case Type::string:
        case Type::path:
            value = last;
            break;
        case Type::choice:
            value = trim(last);
            break;
        case Type::boolean: {
            std::string word = trim(last);
            for (auto& c : word) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            if (word == "true" || word == "1" || word == "yes" || word == "on") {
                value = true;
            } else if (word == "false" || word == "0" || word == "no" || word == "off") {
                value = false;
            } else {
                throw fail();
            }
            break;
        }
        case Type::integer:
        case Type::seconds: {
            std::int64_t number = 0;
            if (!parse_integer(trim(last), number)) throw fail();
            value = number;
            break;
        }
        case Type::size: {
            auto size = core::parse_size(last);
            if (!size ||
                *size > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
                throw fail();
            value = static_cast<std::int64_t>(*size);
            break;
        }
        case Type::list: {
            std::vector<std::string> items;
            for (const auto& piece : pieces) {
                if (from_environment) {
                    for (auto& item : split(piece, ',')) items.push_back(item);
                } else {
                    items.push_back(piece);
                }
            }
            value = std::move(items);
            break;
        }
        case Type::table: {
            KeyValues settings;
            for (const auto& piece : pieces) {
                for (const auto& item :
                     from_environment ? split(piece, ';') : std::vector<std::string>{piece}) {
                    auto eq = item.find('=');
                    if (eq == std::string::npos || trim(item.substr(0, eq)).empty()) {
                        throw ConfigError(item + ": expected KEY=VALUE, e.g. memory_limit=256M");
                    }
                    settings.emplace_back(trim(item.substr(0, eq)), item.substr(eq + 1));
                }
            }
            value = std::move(settings);
            break;
        }
    }
    validate(option, value);
    return value;
}

}  // namespace askr::config
