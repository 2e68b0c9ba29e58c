#include "core/listen_socket.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

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
                         : error == EACCES    ? " (ports below 1024 need root or CAP_NET_BIND_SERVICE: AmbientCapabilities= in a systemd unit)"
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

bool fill_unix_address(const std::string& path, sockaddr_un& address) {
    address = {};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof address.sun_path) return false;
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    return true;
}

UniqueFd connect_unix(const std::string& path) {
    sockaddr_un address;
    if (!fill_unix_address(path, address)) return {};
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return {};
    return fd;
}

ListenSocket open_unix_listen_socket(const std::string& path, unsigned mode) {
    const std::string where = "cannot listen on unix:" + path + ": ";
    sockaddr_un address;
    if (!fill_unix_address(path, address)) throw std::runtime_error(where + "the path is too long");
    struct stat existing{};
    if (::lstat(path.c_str(), &existing) == 0) {
        if (!S_ISSOCK(existing.st_mode)) {
            throw std::runtime_error(where + "the file exists and is not a socket (remove it, or pick another path)");
        }
        if (connect_unix(path)) {
            throw std::runtime_error(where + "another process answers on it (stop it, or pick another path)");
        }
        if (::unlink(path.c_str()) != 0) {  // stale: left by a server that crashed
            throw std::runtime_error(where + "cannot remove the stale socket file (" + std::strerror(errno) + ")");
        }
    }
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) throw std::runtime_error(where + "socket(): " + std::strerror(errno));
    // bind() creates the file with the umask's permissions: none until chmod() below says
    // which, so that no client connects through wider permissions in between.
    const mode_t previous = ::umask(0777);
    const int bound = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address);
    const int bind_error = errno;
    ::umask(previous);
    if (bound != 0) {
        std::string hint = bind_error == ENOENT ? " (create its directory first)"
                         : bind_error == EACCES ? " (the directory is not writable by this user)"
                                                : "";
        throw std::runtime_error(where + std::strerror(bind_error) + hint);
    }
    if (::chmod(path.c_str(), static_cast<mode_t>(mode)) != 0 || ::listen(fd.get(), 4096) != 0) {
        const int error = errno;
        ::unlink(path.c_str());
        throw std::runtime_error(where + std::strerror(error));
    }
    ListenSocket result;
    result.unix_path = path;
    result.fd = std::move(fd);
    return result;
}

}  // namespace askr::core
