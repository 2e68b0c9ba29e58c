#pragma once
#include <cstdint>
#include <string>

#include "core/unique_fd.hpp"

struct sockaddr_un;

namespace askr::core {

/// A bound, listening socket (non-blocking, close-on-exec): TCP, with the port it got, or
/// a unix socket with its path.
struct ListenSocket {
    UniqueFd fd;
    std::string host;
    std::uint16_t port = 0;
    std::string unix_path;  ///< the socket file of a unix listener (removed on stop)
    bool redirect_to_https = false;  ///< --listen-http: answers with a redirect to HTTPS
    bool proxy_protocol = false;     ///< connections open with a PROXY protocol header
};

/// Binds and listens on host:port (port 0 picks a free port). Throws std::runtime_error
/// naming the address and the system's reason (address in use, permission denied, ...).
ListenSocket open_listen_socket(const std::string& host, std::uint16_t port);

/// Binds and listens on the unix socket `path`, its file given `mode`. A stale file (a
/// socket nobody answers on, left by a server that crashed) is replaced; a socket a
/// process answers on, or a file that is not a socket, is an error saying so.
ListenSocket open_unix_listen_socket(const std::string& path, unsigned mode);

/// Fills `address` for `path`; false when the path does not fit sun_path.
bool fill_unix_address(const std::string& path, ::sockaddr_un& address);

/// A connected unix stream socket to `path` (close-on-exec, blocking), or none.
UniqueFd connect_unix(const std::string& path);

}  // namespace askr::core
