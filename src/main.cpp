// askr: parse the command line, check the configuration, hand over to the server.
#include <signal.h>

#include <cstdio>

#include <CLI/CLI.hpp>

#include "config/serve_options.hpp"
#include "core/listen_socket.hpp"
#include "core/log.hpp"
#include "php/engine.hpp"
#include "master/control_socket.hpp"
#include "master/master.hpp"

int main(int argc, char** argv) {
    using namespace askr;
    CLI::App app{"Askr: a PHP application server. PHP runs inside the server process: "
                 "no FastCGI, no php-fpm, no proxy in front.",
                 "askr"};
    app.set_version_flag("--version,-V", std::string("askr ") + ASKR_VERSION);
    app.require_subcommand(1);
    config::ServeOptions options;
    auto* serve = app.add_subcommand("serve", "Serve a PHP app (its public folder) over HTTP");
    config::add_serve_options(*serve, options);
    serve->footer(
        "Routing: existing files are served as static files, *.php files are executed, a directory\n"
        "serves its index, and anything else goes to the front controller (--index) with the\n"
        "original REQUEST_URI. Dotfiles and PHP sources are never served.\n"
        "Example: askr serve --root public --listen 127.0.0.1:8080");
    std::string status_socket;
    unsigned status_port = 8080;
    auto* status = app.add_subcommand("status", "Print the worker table of a running server");
    status->add_option("--socket", status_socket, "The server's control socket (see serve --control-socket)");
    status->add_option("--port", status_port, "Find the socket of the server whose first --listen port is this (default 8080)");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const config::ConfigError& e) {  // thrown by option callbacks (--listen)
        std::fprintf(stderr, "askr: %s\n", e.what());
        return 2;
    }

    if (status->parsed()) {
        return master::print_status(status_socket.empty() ? master::default_control_path(status_port) : status_socket);
    }
    ::signal(SIGPIPE, SIG_IGN);  // a client that hangs up is an error code, not a signal
    core::init_logging(spdlog::level::from_str(options.log_level));
    try {
        config::finalize(options);
        std::vector<core::ListenSocket> sockets;
        for (const auto& address : options.listen) {
            sockets.push_back(core::open_listen_socket(address.host, address.port));
        }
        for (const auto& address : options.listen_http) {  // after --listen: sockets.front() names the server
            sockets.push_back(core::open_listen_socket(address.host, address.port));
            sockets.back().redirect_to_https = true;
        }
        return master::run_master(options, sockets);
    } catch (const config::ConfigError& e) {
        std::fprintf(stderr, "askr: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "askr: %s\n", e.what());
        return 1;
    }
}
