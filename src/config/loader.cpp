#include "config/loader.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <toml++/toml.h>

#include "core/size.hpp"
#include "core/suggest.hpp"

extern char** environ;

namespace askr::config {

namespace {

namespace fs = std::filesystem;

std::string quote_text(const std::string& text) {
    std::string out = "\"";
    for (char c : text) out += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
    return out + "\"";
}

// "a string", "an integer", ... for "got ..." in messages.
std::string describe(const toml::node& node) {
    switch (node.type()) {
        case toml::node_type::string:
            return "a string";
        case toml::node_type::integer:
            return "an integer";
        case toml::node_type::floating_point:
            return "a float";
        case toml::node_type::boolean:
            return "a boolean";
        case toml::node_type::array:
            return "an array";
        case toml::node_type::table:
            return "a table";
        default:
            return "a date/time";
    }
}

// The node as written, for messages ("\"10 XB\"", "99999", "[...]").
std::string show(const toml::node& node) {
    if (const auto* s = node.as_string()) return quote_text(s->get());
    if (node.is_table()) return "{...}";
    if (const auto* array = node.as_array()) {
        std::string out = "[";
        for (const auto& element : *array) out += (out.size() > 1 ? ", " : "") + show(element);
        return out.size() <= 80 ? out + "]" : "[...]";
    }
    std::ostringstream out;
    node.visit([&out](const auto& n) { out << n; });
    return out.str();
}

std::string section_names() {
    std::string out;
    for (const auto& [name, about] : sections())
        out += (out.empty() ? "" : ", ") + std::string(name);
    return out;
}

bool known_section(std::string_view name) {
    for (const auto& [section, about] : sections()) {
        if (section == name) return true;
    }
    return false;
}

std::vector<std::string> keys_of(std::string_view section) {
    std::vector<std::string> keys;
    for (const auto& option : schema()) {
        if (option.section == section) keys.emplace_back(option.key);
    }
    return keys;
}

// Flattens a [php.ini] table: `opcache.enable = 1` is a nested table in TOML.
void flatten(const toml::table& table, const std::string& prefix, KeyValues& out,
             const std::string& where, std::vector<std::string>& errors) {
    for (const auto& [key, node] : table) {
        const std::string name = prefix + std::string(key.str());
        if (const auto* nested = node.as_table()) {
            flatten(*nested, name + ".", out, where, errors);
        } else if (const auto* s = node.as_string()) {
            out.emplace_back(name, s->get());
        } else if (const auto* b = node.as_boolean()) {
            out.emplace_back(name, b->get() ? "1" : "0");
        } else if (node.is_integer() || node.is_floating_point()) {
            out.emplace_back(name, show(node));
        } else {
            errors.push_back(where + ":" + std::to_string(node.source().begin.line) +
                             ": [php.ini] " + name +
                             ": expected a string, number or boolean, got " + describe(node));
        }
    }
}

// Converts a TOML node to the option's Value; throws ConfigError saying what is expected.
Value read_node(const Option& option, const toml::node& node, const std::string& file,
                std::vector<std::string>& errors) {
    auto wrong_type = [&]() {
        return ConfigError("expected " + option.expectation() + ", got " + describe(node));
    };
    Value value;
    switch (option.type) {
        case Type::string:
        case Type::path:
        case Type::choice:
            if (!node.is_string()) throw wrong_type();
            value = node.as_string()->get();
            break;
        case Type::boolean:
            if (!node.is_boolean()) throw wrong_type();
            value = node.as_boolean()->get();
            break;
        case Type::integer:
        case Type::seconds:
            if (!node.is_integer()) throw wrong_type();
            value = node.as_integer()->get();
            break;
        case Type::size:
            if (node.is_integer()) {
                if (node.as_integer()->get() < 0)
                    throw ConfigError("expected " + option.expectation() + ", not a negative size");
                value = node.as_integer()->get();
            } else if (node.is_string()) {
                return parse_text(option, {node.as_string()->get()}, false);
            } else {
                throw wrong_type();
            }
            break;
        case Type::list: {
            std::vector<std::string> items;
            if (const auto* s = node.as_string()) {
                items.push_back(s->get());  // a single value stands for a list of one
            } else if (const auto* array = node.as_array()) {
                for (const auto& element : *array) {
                    if (!element.is_string()) {
                        throw ConfigError("expected " + option.expectation() + ", got " +
                                          describe(element) + " in the list");
                    }
                    items.push_back(element.as_string()->get());
                }
            } else {
                throw wrong_type();
            }
            value = std::move(items);
            break;
        }
        case Type::table: {
            const auto* table = node.as_table();
            if (!table) throw wrong_type();
            KeyValues settings;
            flatten(*table, "", settings, file, errors);
            value = std::move(settings);
            break;
        }
    }
    validate(option, value);
    return value;
}

void read_file(Config& config, const std::string& path, std::vector<std::string>& errors) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        std::error_code ec(errno, std::generic_category());
        errors.push_back(path + ": cannot read the config file: " + ec.message());
        return;
    }
    std::ostringstream content;
    content << in.rdbuf();
    toml::table root;
    try {
        root = toml::parse(content.str(), path);
    } catch (const toml::parse_error& e) {
        errors.push_back(path + ":" + std::to_string(e.source().begin.line) + ":" +
                         std::to_string(e.source().begin.column) +
                         ": TOML syntax error: " + std::string(e.description()));
        return;
    }
    for (const auto& [section_key, section_node] : root) {
        const std::string section(section_key.str());
        const std::string at = path + ":" + std::to_string(section_key.source().begin.line) + ": ";
        const auto* table = section_node.as_table();
        if (!table) {
            // A key outside any section: say which section it belongs in, if any.
            std::string hint;
            for (const auto& option : schema()) {
                if (option.key == section && hint.empty()) {
                    hint = "; did you mean [" + std::string(option.section) + "] " + section + "?";
                }
            }
            errors.push_back(at + section + ": keys belong in a section ([server], [tls], ...)" +
                             hint);
            continue;
        }
        if (!known_section(section)) {
            std::vector<std::string> names;
            for (const auto& [name, about] : sections()) names.emplace_back(name);
            auto suggestion = core::closest(section, names);
            errors.push_back(at + "[" + section + "]: unknown section" +
                             (suggestion.empty() ? "" : "; did you mean [" + suggestion + "]?") +
                             " (sections: " + section_names() + ")");
            continue;
        }
        for (const auto& [key_name, node] : *table) {
            const std::string key(key_name.str());
            const std::string line = std::to_string(node.source().begin.line);
            const Option* option = find_option(section, key);
            if (!option) {
                std::string message =
                    path + ":" + line + ": [" + section + "] " + key + ": unknown key";
                auto suggestion = core::closest(key, keys_of(section));
                if (!suggestion.empty()) {
                    message += "; did you mean " + suggestion + "?";
                } else if (const auto* elsewhere = [&]() -> const Option* {
                               for (const auto& o : schema()) {
                                   if (o.key == key) return &o;
                               }
                               return nullptr;
                           }()) {
                    message += "; it belongs in [" + std::string(elsewhere->section) + "]";
                } else {
                    std::string keys;
                    for (const auto& k : keys_of(section)) keys += (keys.empty() ? "" : ", ") + k;
                    message += " (keys of [" + section + "]: " + keys + ")";
                }
                errors.push_back(message);
                continue;
            }
            const std::string where =
                path + ":" + line + ": [" + section + "] " + key + " = " + show(node);
            try {
                Value value = read_node(*option, node, path, errors);
                option->bind.apply(config.options, value);
                config.origins[option->name()] = {Origin::Source::file, path,
                                                  static_cast<int>(node.source().begin.line),
                                                  show(node)};
            } catch (const ConfigError& e) {
                errors.push_back(where + ": " + e.what());
            }
        }
    }
}

void read_environment(Config& config,
                      const std::vector<std::pair<std::string, std::string>>& environment,
                      std::vector<std::string>& errors) {
    std::vector<std::string> names;
    for (const auto& option : schema()) names.push_back(option.env());
    for (const auto& [name, text] : environment) {
        if (!name.starts_with("ASKR_") || name == "ASKR_CONFIG") continue;
        const Option* option = nullptr;
        for (const auto& o : schema()) {
            if (o.env() == name) option = &o;
        }
        if (!option) {
            // Only names in a section's namespace are ours: a typo there must not pass silently.
            bool ours = false;
            for (const auto& [section, about] : sections()) {
                std::string prefix = "ASKR_" + std::string(section) + "_";
                for (auto& c : prefix)
                    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
                ours = ours || name.starts_with(prefix);
            }
            if (ours) {
                auto suggestion = core::closest(name, names);
                errors.push_back("environment " + name + ": unknown variable" +
                                 (suggestion.empty() ? "" : "; did you mean " + suggestion + "?"));
            }
            continue;
        }
        try {
            option->bind.apply(config.options, parse_text(*option, {text}, true));
            config.origins[option->name()] = {Origin::Source::environment, "", 0, text};
        } catch (const ConfigError& e) {
            errors.push_back("environment " + name + "=" + text + ": " + e.what());
        }
    }
}

void read_command_line(Config& config, const CommandLineValues& values,
                       std::vector<std::string>& errors) {
    for (const auto& [option, pieces] : values) {
        std::string text;
        for (const auto& piece : pieces) text += (text.empty() ? "" : " ") + piece;
        try {
            option->bind.apply(config.options, parse_text(*option, pieces, false));
            config.origins[option->name()] = {Origin::Source::command_line, "", 0, text};
        } catch (const ConfigError& e) {
            errors.push_back(option->flag() + " " + text + ": " + e.what());
        }
    }
}

std::string absolute(const std::string& path) {
    return fs::absolute(path).lexically_normal().string();
}

// A health or readiness path: compared with request targets byte for byte, so it must be
// one a client sends as it is.
bool valid_probe_path(const std::string& path) {
    return path.size() <= 256 && path.front() == '/' &&
           std::all_of(path.begin(), path.end(), [](char c) {
               const auto u = static_cast<unsigned char>(c);
               return u > 0x20 && u < 0x7f && c != '?' && c != '#' && c != '%';
           });
}

}  // namespace

ConfigErrors::ConfigErrors(std::vector<std::string> messages)
    : ConfigError([&] {
          std::string all;
          for (const auto& m : messages) all += (all.empty() ? "" : "\n") + m;
          return all;
      }()),
      messages_(std::move(messages)) {}

std::string Config::where(const Option& option) const {
    auto it = origins.find(option.name());
    const std::string name = "[" + std::string(option.section) + "] " + std::string(option.key);
    if (it == origins.end()) return name + " (default)";
    const Origin& origin = it->second;
    switch (origin.source) {
        case Origin::Source::file:
            return origin.file + ":" + std::to_string(origin.line) + ": " + name + " = " +
                   origin.text;
        case Origin::Source::environment:
            return "environment " + option.env() + "=" + origin.text;
        case Origin::Source::command_line:
            return option.flag() + " " + origin.text;
        case Origin::Source::defaults:
            break;
    }
    return name + " (default)";
}

std::string Config::where(std::string_view section, std::string_view key) const {
    const Option* option = find_option(section, key);
    return option ? where(*option) : "[" + std::string(section) + "] " + std::string(key);
}

std::string find_config_file(const std::string& explicit_file) {
    if (!explicit_file.empty()) return explicit_file;
    if (const char* env = std::getenv("ASKR_CONFIG"); env && *env) return env;
    std::error_code ec;
    if (fs::exists("askr.toml", ec)) return "askr.toml";
    return "";
}

std::vector<std::pair<std::string, std::string>> askr_environment() {
    std::vector<std::pair<std::string, std::string>> out;
    for (char** e = environ; e && *e; ++e) {
        std::string_view entry(*e);
        if (!entry.starts_with("ASKR_")) continue;
        auto eq = entry.find('=');
        if (eq == std::string_view::npos) continue;
        out.emplace_back(entry.substr(0, eq), entry.substr(eq + 1));
    }
    return out;
}

Config load(const Sources& sources) {
    Config config;
    config.file = sources.config_file;
    std::vector<std::string> errors;
    if (!sources.config_file.empty()) {
        read_file(config, sources.config_file, errors);
        // toml++ iterates keys in sorted order: report in the file's order instead.
        auto line_of = [&](const std::string& m) {
            return std::atoi(m.c_str() + std::min(m.size(), sources.config_file.size() + 1));
        };
        std::stable_sort(errors.begin(), errors.end(),
                         [&](const auto& a, const auto& b) { return line_of(a) < line_of(b); });
    }
    read_environment(config, sources.environment, errors);
    read_command_line(config, sources.command_line, errors);
    if (!errors.empty()) throw ConfigErrors(std::move(errors));
    return config;
}

void finalize(Config& config) {
    ServeOptions& o = config.options;
    std::vector<std::string> errors;
    auto fail = [&](std::string_view section, std::string_view key, const std::string& what) {
        errors.push_back(config.where(section, key) + ": " + what);
    };
    // A relative path in the file is relative to the current directory, as on the command line.
    if (o.root.empty()) {
        errors.push_back(
            "[server] root is required: give --root DIR, ASKR_SERVER_ROOT=DIR, or root = \"DIR\" "
            "in the [server] section of askr.toml");
    } else {
        std::error_code ec;
        auto root = fs::canonical(o.root, ec);
        if (ec) {
            fail("server", "root", ec.message() + ": expected the app's public folder");
        } else if (!fs::is_directory(root, ec)) {
            fail("server", "root", "not a directory: expected the app's public folder");
        } else if (::access(root.c_str(), R_OK | X_OK) != 0) {
            fail("server", "root",
                 "not readable by this user: expected a directory it can list (r-x)");
        } else {
            o.root = root.string();
        }
    }
    // Made real paths once: a sendfile path is resolved and compared against these.
    for (auto& dir : o.sendfile_roots) {
        std::error_code ec;
        auto real = fs::canonical(dir, ec);
        if (ec) {
            fail("server", "sendfile_roots",
                 dir + ": " + ec.message() + ": expected a directory whose files PHP may send");
        } else if (!fs::is_directory(real, ec)) {
            fail("server", "sendfile_roots",
                 dir + ": not a directory: expected a directory whose files PHP may send");
        } else {
            dir = real.string();
        }
    }
    for (const auto& [key, path] : {std::pair{"health_path", &o.health_path},
                                     std::pair{"ready_path", &o.ready_path}}) {
        if (!path->empty() && !valid_probe_path(*path)) {
            fail("server", key,
                 "expected an absolute path such as /healthz (no query, no fragment, no "
                 "spaces), or \"\" for none");
        }
    }
    if (!o.health_path.empty() && o.health_path == o.ready_path) {
        fail("server", "ready_path", "is the same path as [server] health_path: choose another");
    }
    if (o.listen.empty()) fail("server", "listen", "expected at least one address");
    if (o.index.empty() || o.index.find('/') != std::string::npos || o.index.front() == '.') {
        fail("server", "index", "expected a file name such as index.php or doku.php");
    }
    if (!o.group.empty() && o.user.empty())
        fail("server", "group", "needs [server] user (--user) as well");

    // TLS options that only make sense together.
    if (o.tls_cert.empty() != o.tls_key.empty()) {
        if (o.tls_cert.empty()) {
            fail("tls", "key", "needs [tls] cert (--tls-cert), the certificate it belongs to");
        } else {
            fail("tls", "cert", "needs [tls] key (--tls-key), its private key");
        }
    }
    if (o.tls_self_signed && !o.tls_cert.empty()) {
        fail("tls", "self_signed",
             "[tls] self_signed and [tls] cert exclude each other: choose one");
    }
    if (!o.tls_self_signed_dir.empty() && !o.tls_self_signed) {
        fail("tls", "self_signed_dir", "needs [tls] self_signed = true (--tls-self-signed)");
    }
    if (!o.listen_http.empty() && !o.tls()) {
        fail("tls", "listen_http",
             "redirects to HTTPS: it needs [tls] cert and key, or self_signed");
    }
    for (auto [path, key] : {std::pair{&o.tls_cert, "cert"}, {&o.tls_key, "key"}}) {
        if (path->empty()) continue;
        if (::access(path->c_str(), R_OK) != 0) {
            fail("tls", key,
                 "cannot read: " + std::error_code(errno, std::generic_category()).message());
        }
    }
    for (auto* path : {&o.tls_cert, &o.tls_key, &o.tls_self_signed_dir}) {
        if (!path->empty()) *path = absolute(*path);  // SIGHUP re-reads them
    }
    if (o.cache_slots > 0 && o.cache_redis.empty() && o.cache_max_value > o.cache_memory) {
        fail("cache", "max_value",
             "is larger than [cache] memory (" + core::format_size(o.cache_memory) +
                 "): lower it or give the cache more memory");
    }
    if (o.broadcast &&
        o.broadcast_max_data + 2 * o.broadcast_max_channel_length > o.broadcast_ring / 4 - 64) {
        fail("broadcast", "max_data",
             "must fit a quarter of [broadcast] ring (" + core::format_size(o.broadcast_ring) +
                 ") with the channel name: lower it or give the ring more memory");
    }
    if (!o.broadcast && !o.broadcast_redis.empty()) {
        fail("broadcast", "redis",
             "relays events between servers, but broadcasting is off: set [broadcast] enabled "
             "= true (or --broadcast), or remove redis");
    }
    if (!o.broadcast_secret.empty() && o.broadcast_secret.size() < 32) {
        fail("broadcast", "secret", "must be at least 32 characters (a random string)");
    }
    if (o.broadcast && o.broadcast_buffer < 2 * o.broadcast_max_data) {
        fail("broadcast", "buffer",
             "must hold two events of [broadcast] max_data (" +
                 core::format_size(o.broadcast_max_data) +
                 "): a subscriber holds one while it writes another");
    }
    if (!o.tls_sni.empty() && o.tls_cert.empty()) {
        fail("tls", "sni",
             "adds certificates to [tls] cert: give the default one with cert and key");
    }
    for (auto& [cert, key] : o.tls_sni) {
        for (auto* path : {&cert, &key}) {
            if (::access(path->c_str(), R_OK) != 0) {
                fail("tls", "sni",
                     *path + ": cannot read: " +
                         std::error_code(errno, std::generic_category()).message());
            }
            *path = absolute(*path);
        }
    }

    if (!o.worker_script.empty()) {
        std::error_code ec;
        auto script = fs::canonical(o.worker_script, ec);
        if (ec || !fs::is_regular_file(script, ec)) {
            fail("worker", "script",
                 "no such file (" + (ec ? ec.message() : std::string("not a regular file")) +
                     "): expected the PHP script that boots the app");
        } else {
            o.worker_script = script.string();
        }
    }
    for (auto [section, script] : {std::pair{"queue", &o.queue_script},
                                   std::pair{"scheduler", &o.scheduler_script}}) {
        if (script->empty()) continue;
        std::error_code ec;
        auto real = fs::canonical(*script, ec);
        if (ec || !fs::is_regular_file(real, ec)) {
            fail(section, "script",
                 *script + ": no such file (" +
                     (ec ? ec.message() : std::string("not a regular file")) +
                     "): expected the PHP script the sidecar runs");
        } else {
            *script = real.string();
        }
    }
    if (o.queue_workers > 0 && o.queue_script.empty())
        fail("queue", "workers", "needs [queue] script (--queue-script): the script they run");
    if (o.queue_workers == 0 && !o.queue_script.empty())
        fail("queue", "script", "is set but [queue] workers (--queue N) is 0: set how many");
    if (o.cow && o.worker_script.empty())
        fail("worker", "cow", "needs worker mode: set [worker] script (--worker)");
    if (o.paranoid && o.worker_script.empty()) {
        fail("worker", "paranoid", "needs worker mode: set [worker] script (--worker)");
    }
    if (o.workers == 0) {
        long cores = ::sysconf(_SC_NPROCESSORS_ONLN);
        o.workers = cores > 0 ? static_cast<unsigned>(cores) : 1;
    }
    if (!o.control_socket.empty()) o.control_socket = absolute(o.control_socket);
    // The server does not chdir, but SIGUSR1 must reopen the same files.
    for (auto* path : {&o.access_log, &o.error_log}) {
        if (!path->empty()) *path = absolute(*path);
    }

    // The names of PHP's environment: what setenv() takes, and never Askr's own settings
    // (the admin token among them), which would otherwise reach every script.
    auto check_env_name = [&](std::string_view key, const std::string& name) {
        if (name.empty() || name.find('=') != std::string::npos ||
            name.find('\0') != std::string::npos) {
            fail("php", key, "\"" + name + "\" is not a variable name (no '=', not empty)");
        } else if (name.starts_with("ASKR_")) {
            fail("php", key,
                 "Askr's own ASKR_* variables are never passed to PHP (they hold its settings, "
                 "the admin token among them); give the app's variable a name of its own");
        }
    };
    for (const auto& [name, value] : o.php_env) check_env_name("env", name);
    for (const auto& name : o.php_pass_env) check_env_name("pass_env", name);

    if (!o.admin_token.empty() && o.admin_token.size() < 16) {
        fail("admin", "token", "expected at least 16 characters (e.g. openssl rand -hex 16)");
    }
    if (o.admin_listen && !is_loopback(*o.admin_listen) && o.admin_token.empty()) {
        fail("admin", "listen",
             "not a loopback address: the admin listener then requires [admin] token "
             "(ASKR_ADMIN_TOKEN), or bind it to 127.0.0.1");
    }
    if (!errors.empty()) throw ConfigErrors(std::move(errors));
}

Config load_and_finalize(const std::string& explicit_file, const CommandLineValues& command_line) {
    Sources sources{find_config_file(explicit_file), askr_environment(), command_line};
    Config config = load(sources);
    finalize(config);
    return config;
}

}  // namespace askr::config
