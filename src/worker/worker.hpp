#pragma once
#include <vector>

#include "config/serve_options.hpp"
#include "core/listen_socket.hpp"

namespace askr::worker {

/// Runs one worker process until it is told to stop: PHP on the calling thread (which
/// becomes the PHP thread), the event loop on a second thread (DESIGN.md section 2).
/// SIGTERM/SIGINT drain gracefully (bounded by shutdown_timeout), SIGQUIT stops at once.
/// Returns the process exit status.
int run_worker(const config::ServeOptions& options, std::vector<core::ListenSocket>& sockets);

}  // namespace askr::worker
