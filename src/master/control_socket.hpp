#pragma once
#include <string>

#include "core/unique_fd.hpp"

namespace askr::master {

/// Default path of the control socket for a server whose first listener has `port`:
/// $XDG_RUNTIME_DIR/askr-PORT.sock, or /tmp/askr-PORT.sock; for a first listener on the
/// unix socket `unix_path`, that path with ".control" appended.
std::string default_control_path(unsigned port, const std::string& unix_path = {});

/// Creates the master's listening Unix socket at `path` (a stale socket file left by a
/// crashed server is replaced; a live server on it is an error). Throws with the reason.
core::UniqueFd open_control_socket(const std::string& path);

/// `askr status`: asks the server at `path` for its worker table and prints it.
/// Returns the process exit status (1 when no server answers).
int print_status(const std::string& path);

}  // namespace askr::master
