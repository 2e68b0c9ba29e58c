// askr: parse the command line, check the configuration, hand over to the server.
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <string_view>

#include <CLI/CLI.hpp>

#include "config/command_line.hpp"
#include "config/docs.hpp"
#include "config/loader.hpp"
#include "core/listen_socket.hpp"
#include "core/log.hpp"
#include "core/suggest.hpp"
#include "doctor/config_check.hpp"
#include "doctor/doctor.hpp"
#include "doctor/version.hpp"
#include "master/control_socket.hpp"
#include "master/master.hpp"

namespace askr {
extern const char* const build_commit;  ///< generated/commit.cpp (scripts/commit.cmake)
}

namespace {

using namespace askr;

// Every line of a configuration error, as "askr: LINE".
int config_error(const config::ConfigError& e) {
    std::string_view text = e.what();
    while (!text.empty()) {
        auto end = text.find('\n');
        std::fprintf(stderr, "askr: %.*s\n", static_cast<int>(text.substr(0, end).size()),
                     text.data());
        if (end == std::string_view::npos) break;
        text.remove_prefix(end + 1);
    }
    return 2;
}

// The control socket `askr status` asks: --socket, else the configuration's (askr.toml,
// ASKR_*), else the default path for --port or the configuration's first listen port.
std::string status_socket_path(const std::string& socket, const CLI::Option& port_option,
                               unsigned port, const std::string& config_file) {
    if (!socket.empty()) return socket;
    const std::string file = config::find_config_file(config_file);
    if (port_option.count() == 0) {
        try {
            const auto config = config::load({file, config::askr_environment(), {}});
            if (!config.options.control_socket.empty()) return config.options.control_socket;
            if (!config.options.listen.empty()) {
                const auto& first = config.options.listen.front();
                if (first.is_unix()) return master::default_control_path(0, first.unix_path);
                port = first.port;
            }
        } catch (const config::ConfigError&) {
            if (!config_file.empty()) throw;  // named on purpose: say what is wrong with it
        }
    }
    return master::default_control_path(port);
}

int serve(const config::CommandLineFlags& flags) {
    ::signal(SIGPIPE, SIG_IGN);  // a client that hangs up is an error code, not a signal
    core::init_logging();
    try {
        config::Config config = config::load_and_finalize(flags.config_file(), flags.given());
        const auto& options = config.options;
        spdlog::set_level(spdlog::level::from_str(options.log_level));
        if (!config.file.empty()) spdlog::info("configuration: {}", config.file);
        doctor::require_extensions(config);
        std::vector<core::ListenSocket> sockets;
        const auto open = [](const config::ListenAddress& address) {
            auto socket = address.is_unix()
                              ? core::open_unix_listen_socket(address.unix_path, address.unix_mode)
                              : core::open_listen_socket(address.host, address.port);
            socket.proxy_protocol = address.proxy_protocol;
            return socket;
        };
        for (const auto& address : options.listen) sockets.push_back(open(address));
        // After --listen: sockets.front() names the server.
        for (const auto& address : options.listen_http) {
            sockets.push_back(open(address));
            sockets.back().redirect_to_https = true;
        }
        return master::run_master(options, sockets);
    } catch (const config::ConfigError& e) {
        return config_error(e);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "askr: %s\n", e.what());
        return 1;
    }
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "Askr: a PHP application server. PHP runs inside the server process: "
        "no FastCGI, no php-fpm, no proxy in front.",
        "askr"};
    app.set_version_flag("--version,-V", doctor::version_report(build_commit));
    app.require_subcommand(1);

    auto* serve_command =
        app.add_subcommand("serve", "Serve a PHP app (its public folder) over HTTP");
    config::CommandLineFlags serve_flags(*serve_command);
    serve_command->footer(
        "Every option is also a key of askr.toml and an ASKR_SECTION_KEY environment variable\n"
        "(flag > environment > file > default; docs/configuration.md).\n"
        "Routing: existing files are served as static files, *.php files are executed, a\n"
        "directory serves its index, and anything else goes to the front controller (--index)\n"
        "with the original REQUEST_URI. Dotfiles and PHP sources are never served.\n"
        "Example: askr serve --root public --listen 127.0.0.1:8080");

    std::string status_socket;
    unsigned status_port = 8080;
    auto* status = app.add_subcommand("status", "Print the worker table of a running server");
    status->add_option("--socket", status_socket,
                       "The server's control socket (see serve --control-socket)");
    auto* status_port_option =
        status->add_option("--port", status_port,
                           "Find the socket of the server whose first --listen port is this "
                           "(default: askr.toml's, else 8080)");
    std::string status_config;
    status
        ->add_option("--config,-c", status_config,
                     "Configuration file naming the server's control socket or port")
        ->type_name("FILE");

    std::string check_file;
    auto* check = app.add_subcommand(
        "config-check", "Validate a configuration file without starting (exit 0 valid, 2 not)");
    check->add_option("file", check_file, "The file (default: $ASKR_CONFIG, else ./askr.toml)");

    auto* version = app.add_subcommand(
        "version", "Print Askr's version and commit and the versions of PHP, OpenSSL, nghttp2, "
                   "zlib, brotli and zstd it runs with");

    auto* docs = app.add_subcommand(
        "config-docs", "Print docs/configuration.md, generated from the option schema");

    std::string doctor_file;
    auto* doctor = app.add_subcommand(
        "doctor", "Pre-flight report on this machine: PHP, opcache, io_uring, limits, ports, TLS");
    doctor->add_option("--config,-c", doctor_file,
                       "Configuration file (default: $ASKR_CONFIG, else ./askr.toml)");

    // A mistyped command ("askr serv") would read as "A subcommand is required".
    if (argc > 1 && argv[1][0] != '-') {
        std::vector<std::string> commands;
        for (const auto* command : app.get_subcommands([](CLI::App*) { return true; }))
            commands.push_back(command->get_name());
        if (std::find(commands.begin(), commands.end(), argv[1]) == commands.end()) {
            const std::string suggestion = core::closest(argv[1], commands);
            std::string message = "askr: unknown command '" + std::string(argv[1]) + "'";
            if (!suggestion.empty()) message += "; did you mean " + suggestion + "?";
            message += " (the commands:";
            for (const auto& c : commands) message += " " + c;
            message += "; askr --help)\n";
            std::fputs(message.c_str(), stderr);
            return 2;
        }
    }

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // --help and --version exit 0; a usage error exits 2, as a config error does.
        return app.exit(e) == 0 ? 0 : 2;
    }

    if (status->parsed()) {
        try {
            return master::print_status(
                status_socket_path(status_socket, *status_port_option, status_port, status_config));
        } catch (const config::ConfigError& e) {
            return config_error(e);
        }
    }
    if (check->parsed()) return doctor::run_config_check(check_file);
    if (version->parsed()) {
        std::fputs(doctor::version_report(build_commit).c_str(), stdout);
        return 0;
    }
    if (docs->parsed()) {
        std::fputs(config::configuration_markdown().c_str(), stdout);
        return 0;
    }
    if (doctor->parsed()) return doctor::run_doctor(doctor_file);
    return serve(serve_flags);
}
