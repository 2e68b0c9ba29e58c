#pragma once
#include <vector>

#include "config/serve_options.hpp"
#include "core/listen_socket.hpp"

namespace askr::master {

/// Runs the master: no PHP at all, so that no extension or app code can crash it
/// (docs/architecture.md, "Processes"). Starts a zygote per generation,
/// keeps `options.workers` workers running (respawn with backoff, recycling), reloads on
/// SIGHUP (rolling, never below the ready worker count), stops gracefully on
/// SIGTERM/SIGINT and at once on SIGQUIT. Returns the process exit status.
int run_master(const config::ServeOptions& options, std::vector<core::ListenSocket>& sockets);

}  // namespace askr::master
