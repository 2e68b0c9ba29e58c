#include "master/service_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include <spdlog/spdlog.h>

namespace askr::master {

ServiceNotifier::ServiceNotifier() {
    const char* socket = std::getenv("NOTIFY_SOCKET");
    const char* watchdog = std::getenv("WATCHDOG_USEC");
    const char* watchdog_pid = std::getenv("WATCHDOG_PID");
    if (watchdog && (!watchdog_pid || std::atol(watchdog_pid) == ::getpid())) {
        const long long usec = std::atoll(watchdog);
        if (usec > 0) period_ = std::chrono::milliseconds(usec / 2000);  // ping at half of it
    }
    if (socket && (socket[0] == '/' || socket[0] == '@') &&
        std::strlen(socket) < sizeof(sockaddr_un::sun_path)) {
        address_ = socket;
        if (address_[0] == '@') address_[0] = '\0';  // an abstract socket
        socket_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    } else if (socket) {
        spdlog::warn("NOTIFY_SOCKET={} is not a socket path; not notifying the service manager",
                     socket);
    }
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
    if (!socket_) period_ = std::chrono::milliseconds(0);
}

void ServiceNotifier::send(const std::string& message) {
    if (!socket_) return;
    sockaddr_un to{};
    to.sun_family = AF_UNIX;
    std::memcpy(to.sun_path, address_.data(), address_.size());
    const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size());
    if (::sendto(socket_.get(), message.data(), message.size(), MSG_NOSIGNAL,
                 reinterpret_cast<const sockaddr*>(&to), length) < 0) {
        spdlog::debug("NOTIFY_SOCKET: {}", std::strerror(errno));
    }
}

void ServiceNotifier::ready(std::string_view status) {
    send("READY=1\nSTATUS=" + std::string(status));
}

void ServiceNotifier::reloading(std::string_view status) {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    const long long usec = static_cast<long long>(now.tv_sec) * 1000000 + now.tv_nsec / 1000;
    send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec) + "\nSTATUS=" + std::string(status));
}

void ServiceNotifier::stopping(std::string_view status) {
    send("STOPPING=1\nSTATUS=" + std::string(status));
}

void ServiceNotifier::status(std::string_view status) {
    send("STATUS=" + std::string(status));
}

void ServiceNotifier::watchdog(Clock::time_point now) {
    if (period_.count() == 0 || now - last_ping_ < period_) return;
    last_ping_ = now;
    send("WATCHDOG=1");
}

}  // namespace askr::master
