#include "core/listen_socket.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace askr::core {

ListenSocket open_listen_socket(const std::string& host, std::uint16_t port) {
    sockaddr_storage storage{};
    socklen_t length = 0;
    int family = AF_INET;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        length = sizeof *v4;
    } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        family = AF_INET6;
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        length = sizeof *v6;
    } else {
        throw std::runtime_error("cannot listen on " + host + ": not an IPv4 or IPv6 address");
    }
    const std::string where = (family == AF_INET6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
    UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) throw std::runtime_error("cannot listen on " + where + ": socket(): " + std::strerror(errno));
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (family == AF_INET6) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&storage), length) != 0) {
        const int error = errno;
        std::string hint = error == EADDRINUSE ? " (another process uses it; pick another port with --listen)"
                         : error == EACCES    ? " (ports below 1024 need root)"
                                              : "";
        throw std::runtime_error("cannot listen on " + where + ": " + std::strerror(error) + hint);
    }
    if (::listen(fd.get(), 4096) != 0) {
        throw std::runtime_error("cannot listen on " + where + ": listen(): " + std::strerror(errno));
    }
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&storage), &length);
    ListenSocket result;
    result.port = ntohs(family == AF_INET ? v4->sin_port : v6->sin6_port);
    result.host = host;
    result.fd = std::move(fd);
    return result;
}

}  // namespace askr::core
