#include "doctor/doctor.hpp"

#include <arpa/inet.h>
#include <grp.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <optional>

#include "cache/redis_connection.hpp"
#include "config/loader.hpp"
#include "config/redis_url.hpp"
#include "core/unique_fd.hpp"
#include "http/tls/tls_context.hpp"
#include "php/engine.hpp"

namespace askr::doctor {

namespace {

constexpr rlim_t recommended_nofile = 4096;
constexpr int expiry_warning_days = 30;

// End of security support per PHP branch (https://www.php.net/supported-versions.php).
struct Branch {
    const char* version;
    int year, month, day;
};
constexpr Branch php_support_ends[] = {
    {"8.1", 2025, 12, 31}, {"8.2", 2026, 12, 31}, {"8.3", 2027, 12, 31}, {"8.4", 2028, 12, 31}};

std::string major_minor(const std::string& version) {
    auto first = version.find('.');
    auto second = version.find('.', first + 1);
    return first == std::string::npos ? version : version.substr(0, second);
}

void check_php(const php::EngineReport& php, const config::Config* config,
               std::vector<Finding>& out) {
    if (!php.started) {
        out.push_back(
            {Status::fail, "php", "PHP did not start: " + php.error,
             "fix the PHP messages above (php.ini under /etc/php/*/embed, [php] ini settings)"});
        return;
    }
    const std::string branch = major_minor(php.version);
    if (php.thread_safe) {
        out.push_back(
            {Status::fail, "php", "PHP " + php.version + ", ZTS (thread-safe) build",
             "Askr runs one PHP interpreter per process and expects an NTS build: install libphp" +
                 branch + "-embed from Debian"});
    } else {
        out.push_back({Status::ok, "php",
                       "PHP " + php.version + ", NTS (non-thread-safe) build, embed SAPI", ""});
    }
    for (const auto& b : php_support_ends) {
        if (branch != b.version) continue;
        std::tm end{};
        end.tm_year = b.year - 1900;
        end.tm_mon = b.month - 1;
        end.tm_mday = b.day;
        const double days = std::difftime(::timegm(&end), std::time(nullptr)) / 86400;
        char date[16];
        std::snprintf(date, sizeof date, "%04d-%02d-%02d", b.year, b.month, b.day);
        if (days < 0) {
            out.push_back(
                {Status::warn, "php-support",
                 "PHP " + branch + " has had no security fixes since " + date,
                 "move to a supported PHP (libphp8.3-embed or libphp8.4-embed) and rebuild Askr"});
        } else if (days < 90) {
            out.push_back({Status::warn, "php-support",
                           "PHP " + branch + " security support ends on " + date,
                           "plan the move to PHP 8.3 or 8.4 (libphp8.3-embed, libphp8.4-embed) and "
                           "rebuild Askr"});
        }
    }
    if (!php.opcache_loaded) {
        out.push_back({Status::fail, "opcache", "opcache is not loaded in the embed SAPI",
                       "apt-get install php" + branch + "-opcache (it adds /etc/php/" + branch +
                           "/embed/conf.d/10-opcache.ini)"});
    } else if (!php.opcache_enabled) {
        out.push_back({Status::fail, "opcache",
                       "opcache is loaded but not active under Askr's SAPI (opcache.enable=" +
                           php.opcache_enable_ini + ")",
                       "set opcache.enable=1 (remove opcache.enable=0 from [php] ini or /etc/php/" +
                           branch + "/embed/php.ini)"});
    } else {
        out.push_back({Status::ok, "opcache", "opcache active under Askr's SAPI", ""});
    }
    if (!config) return;
    for (const auto& name : config->options.php_extensions) {
        if (php.has_extension(name)) {
            out.push_back({Status::ok, "extension", name + " loaded", ""});
        } else {
            out.push_back({Status::fail, "extension",
                           name + " is not loaded in the embed SAPI (required by [php] extensions)",
                           "apt-get install php" + branch + "-" + name +
                               ", or enable it in /etc/php/" + branch + "/embed/conf.d/"});
        }
    }
}

void check_io_uring(std::vector<Finding>& out) {
    std::string disabled;
    if (std::ifstream in("/proc/sys/kernel/io_uring_disabled"); in) std::getline(in, disabled);
    io_uring_params params{};
    const long fd = ::syscall(__NR_io_uring_setup, 1, &params);
    if (fd >= 0) {
        ::close(static_cast<int>(fd));
        out.push_back({Status::ok, "io_uring", "io_uring available (io_uring_setup works)", ""});
        return;
    }
    const int error = errno;
    if (error == ENOSYS) {
        out.push_back({Status::warn, "io_uring",
                       "the kernel has no io_uring (io_uring_setup: ENOSYS)",
                       "Askr works without it; for the io_uring backend use Linux 5.10 or later "
                       "with CONFIG_IO_URING"});
    } else {
        out.push_back(
            {Status::warn, "io_uring",
             std::string("io_uring is disabled (io_uring_setup: ") + std::strerror(error) +
                 (disabled.empty() ? "" : ", kernel.io_uring_disabled=" + disabled) + ")",
             "Askr works without it; to allow it: sysctl kernel.io_uring_disabled=0 (or allow this "
             "container's seccomp profile to call io_uring_setup)"});
    }
}

void check_nofile(std::vector<Finding>& out) {
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    const std::string text = "open files limit (RLIMIT_NOFILE) " + std::to_string(limit.rlim_cur) +
                             ", hard " +
                             (limit.rlim_max == RLIM_INFINITY ? std::string("unlimited")
                                                              : std::to_string(limit.rlim_max));
    if (limit.rlim_cur < recommended_nofile) {
        out.push_back(
            {Status::warn, "nofile",
             text + ": below " + std::to_string(recommended_nofile) +
                 ", each connection needs a descriptor",
             "raise it: ulimit -n 65536 before starting, LimitNOFILE=65536 in the systemd unit, or "
             "nofile in /etc/security/limits.conf"});
    } else {
        out.push_back({Status::ok, "nofile", text, ""});
    }
}

// access() as `user` (and `group`): in a child that switches to them, as the zygote
// does before PHP runs (root reads everything, so root's own access() proves nothing).
// Returns 0 or the errno of the failed check; -1 when the user does not exist.
int access_as(const config::ServeOptions& options, const std::string& path) {
    const passwd* user = ::getpwnam(options.user.c_str());
    if (!user) return -1;
    gid_t gid = user->pw_gid;
    if (!options.group.empty()) {
        const group* g = ::getgrnam(options.group.c_str());
        if (!g) return -1;
        gid = g->gr_gid;
    }
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
        if (::setgid(gid) != 0 || ::initgroups(user->pw_name, gid) != 0 ||
            ::setuid(user->pw_uid) != 0) {
            ::_exit(EPERM);
        }
        ::_exit(::access(path.c_str(), R_OK | X_OK) == 0 ? 0 : errno);
    }
    int status = 0;
    if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return EIO;
    return WEXITSTATUS(status);
}

void check_root(const config::Config& config, std::vector<Finding>& out) {
    const auto& options = config.options;
    const auto& root = options.root;
    if (::access(root.c_str(), R_OK | X_OK) != 0) {
        out.push_back({Status::fail, "root", "document root " + root + ": " + std::strerror(errno),
                       "create it or fix its permissions (the PHP user needs r-x)"});
        return;
    }
    if (::geteuid() != 0 || options.user.empty()) {
        out.push_back({Status::ok, "root", "document root " + root + " is readable", ""});
        return;
    }
    const int error = access_as(options, root);
    if (error == 0) {
        out.push_back(
            {Status::ok, "root", "document root " + root + " is readable by " + options.user, ""});
    } else if (error < 0) {
        out.push_back({Status::fail, "root",
                       "[server] user " + options.user + " (or its group) does not exist",
                       "create it (adduser --system " + options.user + ") or name another user"});
    } else {
        out.push_back(
            {Status::fail, "root",
             "document root " + root + " is not readable by " + options.user + ": " +
                 std::strerror(error),
             "give " + options.user + " r-x on the root and its parents (chmod o+rx, or chgrp)"});
    }
}

// Binds the address (as the server would, SO_REUSEADDR) and lets it go again.
void check_port(const std::string& what, const config::ListenAddress& address,
                std::vector<Finding>& out) {
    if (address.is_unix()) {
        const auto slash = address.unix_path.rfind('/');
        const std::string directory = slash == 0 ? "/" : address.unix_path.substr(0, slash);
        if (::access(directory.c_str(), W_OK | X_OK) == 0) {
            out.push_back({Status::ok, "port", what + " " + address.text() + " can be created", ""});
        } else {
            out.push_back({Status::fail, "port",
                           what + " " + address.text() + ": its directory " + directory + " is not writable (" +
                               std::strerror(errno) + ")",
                           "create the directory, owned by the user askr starts as"});
        }
        return;
    }
    const bool v6 = address.host.find(':') != std::string::npos;
    core::UniqueFd fd(::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int result = -1;
    if (v6) {
        sockaddr_in6 sa{};
        sa.sin6_family = AF_INET6;
        sa.sin6_port = htons(address.port);
        if (::inet_pton(AF_INET6, address.host.c_str(), &sa.sin6_addr) == 1) {
            result = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
        } else {
            errno = EINVAL;
        }
    } else {
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(address.port);
        if (::inet_pton(AF_INET, address.host.c_str(), &sa.sin_addr) == 1) {
            result = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
        } else {
            errno = EINVAL;
        }
    }
    if (result == 0) {
        out.push_back({Status::ok, "port", what + " " + address.text() + " can be bound", ""});
        return;
    }
    const int error = errno;
    std::string fix = "choose another address";
    if (error == EADDRINUSE)
        fix = "another process listens there (ss -ltnp 'sport = :" + std::to_string(address.port) +
              "'): stop it or choose another port";
    if (error == EACCES)
        fix =
            "ports below 1024 need root (Askr drops PHP to [server] user) or CAP_NET_BIND_SERVICE";
    if (error == EADDRNOTAVAIL || error == EINVAL)
        fix = "this machine has no such address: use 0.0.0.0, 127.0.0.1 or one of its own";
    out.push_back(
        {Status::fail, "port", what + " " + address.text() + ": " + std::strerror(error), fix});
}

void check_tls(const config::Config& config, std::vector<Finding>& out) {
    const auto& o = config.options;
    if (o.tls_self_signed) {
        out.push_back(
            {Status::ok, "tls", "self-signed certificate, made at start (for local use only)", ""});
        return;
    }
    if (o.tls_cert.empty()) return;
    try {
        http::tls::TlsContext context(o.tls_cert, o.tls_key);
        const std::string what = o.tls_cert + ": " + context.description();
        if (context.expires_within_days(0)) {
            out.push_back({Status::fail, "tls", what + " has EXPIRED",
                           "renew the certificate (certbot renew), then reload (SIGHUP)"});
        } else if (context.expires_within_days(expiry_warning_days)) {
            out.push_back(
                {Status::warn, "tls",
                 what + " expires within " + std::to_string(expiry_warning_days) + " days",
                 "renew the certificate (certbot renew), then reload (SIGHUP)"});
        } else {
            out.push_back({Status::ok, "tls", what + ", key matches", ""});
        }
    } catch (const std::exception& e) {
        out.push_back({Status::fail, "tls", e.what(),
                       "point [tls] cert and key at a PEM chain and its unencrypted key"});
    }
}

const char* label(Status status) {
    switch (status) {
        case Status::ok:
            return "OK  ";
        case Status::warn:
            return "WARN";
        case Status::fail:
            return "FAIL";
    }
    return "";
}

// [cache] redis, [broadcast] redis: the server must answer, with the configured password
// and database. `section` names the option ("cache"), `doc` where it is described.
void check_redis_server(const std::string& text, std::uint32_t timeout_ms,
                        const std::string& section, const std::string& doc,
                        const std::string& use, std::vector<Finding>& out) {
    const config::RedisUrl url = config::parse_redis_url(text);
    cache::RedisConnection connection(url, std::chrono::milliseconds(timeout_ms));
    const std::string check = section == "cache" ? "redis" : section + " redis";
    std::string error;
    if (!connection.connect(error)) {
        out.push_back({Status::fail, check, "Redis " + url.describe() + ": " + error,
                       "start redis-server there, or fix [" + section + "] redis (" + doc + ")"});
        return;
    }
    if (!connection.ping()) {
        out.push_back({Status::fail, check,
                       "Redis " + url.describe() + " does not answer PING within " +
                           std::to_string(timeout_ms) + " ms",
                       "check the server's load, or raise [" + section + "] redis_timeout_ms"});
        return;
    }
    out.push_back({Status::ok, check, "Redis " + url.describe() + " answers PING (" + use + ")", ""});
}

void check_redis(const config::Config& config, std::vector<Finding>& out) {
    const auto& o = config.options;
    if (!o.cache_redis.empty()) {
        check_redis_server(o.cache_redis, o.cache_redis_timeout_ms, "cache",
                           "docs/cache.md, \"Redis\"",
                           "askr_cache_*() keys under \"" + o.cache_prefix + "\"", out);
    }
    if (o.broadcast && !o.broadcast_redis.empty()) {
        check_redis_server(o.broadcast_redis, o.broadcast_redis_timeout_ms, "broadcast",
                           "docs/broadcast.md, \"Several nodes (Redis)\"",
                           "events relayed through the stream " + o.broadcast_redis_key, out);
    }
}

}  // namespace

std::vector<Finding> examine(const config::Config* config) {
    std::vector<Finding> out;
    php::EngineOptions engine;
    if (config) engine.ini = config->options.php_ini;
    check_php(php::inspect_in_child(engine), config, out);
    check_io_uring(out);
    check_nofile(out);
    if (!config) return out;
    check_root(*config, out);
    for (const auto& a : config->options.listen) check_port("listen", a, out);
    for (const auto& a : config->options.listen_http) check_port("listen_http", a, out);
    if (config->options.admin_listen) check_port("admin", *config->options.admin_listen, out);
    check_tls(*config, out);
    check_redis(*config, out);
    if (::geteuid() == 0 && config->options.user.empty()) {
        out.push_back({Status::warn, "user",
                       "started as root without [server] user: PHP scripts would run as root",
                       "set [server] user = \"www-data\" (--user)"});
    }
    return out;
}

// A missing extension is a clear error at start rather than a zygote that fails on every try.
void require_extensions(const config::Config& config) {
    const auto& required = config.options.php_extensions;
    if (required.empty()) return;
    php::EngineOptions engine;
    engine.ini = config.options.php_ini;
    const auto report = php::inspect_in_child(engine);
    if (!report.started) throw config::ConfigError("PHP did not start: " + report.error);
    const std::string branch = major_minor(report.version);
    std::vector<std::string> errors;
    for (const auto& name : required) {
        if (report.has_extension(name)) continue;
        errors.push_back(config.where("php", "extensions") + ": the PHP extension " + name +
                         " is not loaded in the embed SAPI: apt-get install php" + branch + "-" +
                         name + ", or enable it in /etc/php/" + branch + "/embed/conf.d/");
    }
    if (!errors.empty()) throw config::ConfigErrors(std::move(errors));
}

int run_doctor(const std::string& config_file) {
    std::vector<Finding> findings;
    std::optional<config::Config> loaded;
    const std::string path = config::find_config_file(config_file);
    bool environment_sets_options = false;
    for (const auto& [name, value] : config::askr_environment())
        environment_sets_options |= name != "ASKR_CONFIG";
    if (path.empty() && !environment_sets_options) {
        findings.push_back(
            {Status::ok, "config",
             "no config file: root, ports and TLS not checked (askr doctor --config FILE)", ""});
    } else
        try {
            loaded = config::load_and_finalize(config_file, {});
            findings.push_back({Status::ok, "config",
                                path.empty() ? "no config file (defaults and ASKR_* variables)"
                                             : path + " is valid",
                                ""});
        } catch (const config::ConfigErrors& e) {
            for (const auto& m : e.messages()) {
                findings.push_back(
                    {Status::fail, "config", m, "fix the configuration (askr config-check)"});
            }
        }
    auto rest = examine(loaded ? &*loaded : nullptr);
    findings.insert(findings.end(), rest.begin(), rest.end());
    int failures = 0, warnings = 0;
    for (const auto& f : findings) {
        std::printf("%s  %-12s %s\n", label(f.status), f.topic.c_str(), f.detail.c_str());
        if (!f.fix.empty()) std::printf("      %-12s fix: %s\n", "", f.fix.c_str());
        failures += f.status == Status::fail;
        warnings += f.status == Status::warn;
    }
    std::printf("%d failed, %d warning%s\n", failures, warnings, warnings == 1 ? "" : "s");
    std::fflush(stdout);
    return failures > 0 ? 1 : 0;
}

}  // namespace askr::doctor
