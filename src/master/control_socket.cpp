#include "master/control_socket.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "core/listen_socket.hpp"

namespace askr::master {

std::string default_control_path(unsigned port, const std::string& unix_path) {
    if (!unix_path.empty()) return unix_path + ".control";
    const char* runtime = std::getenv("XDG_RUNTIME_DIR");
    std::string dir = runtime && *runtime ? runtime : "/tmp";
    return dir + "/askr-" + std::to_string(port) + ".sock";
}

core::UniqueFd open_control_socket(const std::string& path) {
    sockaddr_un address;
    if (!core::fill_unix_address(path, address)) throw std::runtime_error("control socket path too long: " + path);
    if (core::connect_unix(path)) {
        throw std::runtime_error("another askr already answers on " + path + " (stop it, or pick another --listen port)");
    }
    // A stale file from a server that crashed. In a sticky directory (/tmp) only its owner
    // may remove it: say so, instead of bind()'s "Address already in use".
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        throw std::runtime_error("cannot remove the stale control socket " + path + " (" + std::strerror(errno) +
                                 "; left by a server that stopped, perhaps run by another user): remove it, or "
                                 "give --control-socket another path");
    }
    core::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(fd.get(), 16) != 0) {
        throw std::runtime_error("cannot create the control socket " + path + ": " + std::strerror(errno));
    }
    ::chmod(path.c_str(), 0600);  // the worker table is for the server's owner
    return fd;
}

int print_status(const std::string& path) {
    core::UniqueFd fd = core::connect_unix(path);
    if (!fd) {
        std::fprintf(stderr, "askr status: no server answers on %s (is it running? give --port or --socket)\n",
                     path.c_str());
        return 1;
    }
    const char request[] = "status\n";
    if (::send(fd.get(), request, sizeof request - 1, MSG_NOSIGNAL) < 0) return 1;
    char buffer[4096];
    for (;;) {
        pollfd pfd{fd.get(), POLLIN, 0};
        if (::poll(&pfd, 1, 5000) <= 0) {
            std::fprintf(stderr, "askr status: the server did not answer within 5 s\n");
            return 1;
        }
        ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
        if (n <= 0) break;
        std::fwrite(buffer, 1, static_cast<std::size_t>(n), stdout);
    }
    return 0;
}

}  // namespace askr::master
