#include "doctor/config_check.hpp"

#include <cstdio>
#include <utility>

#include "config/loader.hpp"
#include "config/redis_url.hpp"
#include "http/tls/tls_context.hpp"

namespace askr::doctor {

using config::Config;
using config::ConfigError;
using config::ConfigErrors;
using config::ServeOptions;

namespace {

std::string summary(const Config& config) {
    const ServeOptions& o = config.options;
    std::string listen;
    for (auto a : o.listen) {
        const bool proxy_protocol = std::exchange(a.proxy_protocol, false);
        listen += (listen.empty() ? "" : ", ") + std::string(o.tls() ? "https://" : "http://") +
                  a.text() + (proxy_protocol ? " (PROXY protocol)" : "");
    }
    return "listen " + listen + "; root " + o.root + "; " + std::to_string(o.workers) + " worker" +
           (o.workers == 1 ? "" : "s") +
           (o.worker_script.empty() ? " (classic mode)"
                                    : " (worker mode: " + o.worker_script + ")") +
           "; TLS " +
           (o.tls_self_signed    ? "self-signed"
            : o.tls_cert.empty() ? "off"
                                 : o.tls_cert) +
           "; admin " + (o.admin_listen ? o.admin_listen->text() : "off") + "; cache " +
           (!o.cache_redis.empty() ? "Redis " + config::parse_redis_url(o.cache_redis).describe()
            : o.cache_slots > 0    ? "shared memory"
                                   : "off");
}

}  // namespace

int run_config_check(const std::string& file) {
    const std::string path = config::find_config_file(file);
    if (path.empty()) {
        std::fprintf(
            stderr,
            "askr: no configuration file: name one (askr config-check FILE), set ASKR_CONFIG, "
            "or create ./askr.toml\n");
        return 2;
    }
    try {
        Config loaded = config::load({path, config::askr_environment(), {}});
        config::finalize(loaded);
        if (!loaded.options.tls_cert.empty()) {
            try {
                http::tls::TlsContext context(loaded.options.tls_cert, loaded.options.tls_key);
            } catch (const ConfigError& e) {
                throw ConfigErrors({loaded.where("tls", "cert") + ": " + e.what()});
            }
        }
        std::printf("%s: ok (%s)\n", path.c_str(), summary(loaded).c_str());
        return 0;
    } catch (const ConfigErrors& e) {
        for (const auto& m : e.messages()) std::fprintf(stderr, "askr: %s\n", m.c_str());
        std::fprintf(stderr, "askr: %s: %zu error%s\n", path.c_str(), e.messages().size(),
                     e.messages().size() == 1 ? "" : "s");
        return 2;
    } catch (const ConfigError& e) {
        std::fprintf(stderr, "askr: %s\n", e.what());
        return 2;
    }
}

}  // namespace askr::doctor
