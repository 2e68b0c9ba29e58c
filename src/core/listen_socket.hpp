#pragma once
#include <cstdint>
#include <string>

#include "core/unique_fd.hpp"

namespace askr::core {

/// A bound, listening TCP socket (non-blocking, close-on-exec) and the port it got.
struct ListenSocket {
    UniqueFd fd;
    std::string host;
    std::uint16_t port = 0;
    bool redirect_to_https = false;  ///< --listen-http: answers with a redirect to HTTPS
    bool proxy_protocol = false;     ///< connections open with a PROXY protocol header
};

/// Binds and listens on host:port (port 0 picks a free port). Throws std::runtime_error
/// naming the address and the system's reason (address in use, permission denied, ...).
ListenSocket open_listen_socket(const std::string& host, std::uint16_t port);

}  // namespace askr::core
