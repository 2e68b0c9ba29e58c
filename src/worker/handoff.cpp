#include "worker/handoff.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>

namespace askr::worker {

namespace {

struct Header {
    std::uint32_t magic;
    std::uint32_t length;  ///< bytes after the header
};
constexpr std::uint32_t connection_magic = 0x414b4d56;  // "AKMV"
constexpr std::uint32_t steal_magic = 0x414b5354;       // "AKST"

// A hand-off carries one descriptor. Room for a few more, so that a malformed message
// with extra descriptors is received whole and every one of them closed.
union Control {
    cmsghdr header;
    char bytes[CMSG_SPACE(sizeof(int) * 4)];
};

void close_passed(msghdr& message) {
    for (cmsghdr* c = CMSG_FIRSTHDR(&message); c; c = CMSG_NXTHDR(&message, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            ::close(fd);
        }
    }
}

}  // namespace

std::vector<HandoffChannel> make_handoff_channels(std::size_t slots) {
    std::vector<HandoffChannel> channels;
    channels.reserve(slots);
    for (std::size_t i = 0; i < slots; ++i) {
        int pair[2];
        if (::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) != 0) {
            throw std::runtime_error(
                std::string("cannot create the workers' hand-off sockets (socketpair): ") +
                std::strerror(errno));
        }
        channels.push_back({core::UniqueFd(pair[0]), core::UniqueFd(pair[1])});
    }
    return channels;
}

bool send_connection(int channel_send, int socket_fd, std::string_view unread) {
    if (unread.size() > max_moved_bytes) return false;
    Header header{connection_magic, static_cast<std::uint32_t>(unread.size())};
    iovec parts[2] = {{&header, sizeof header}, {const_cast<char*>(unread.data()), unread.size()}};
    Control control{};
    msghdr message{};
    message.msg_iov = parts;
    message.msg_iovlen = unread.empty() ? 1 : 2;
    message.msg_control = control.bytes;
    message.msg_controllen = CMSG_SPACE(sizeof(int));
    cmsghdr* c = CMSG_FIRSTHDR(&message);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &socket_fd, sizeof socket_fd);
    const ssize_t sent = ::sendmsg(channel_send, &message, MSG_DONTWAIT | MSG_NOSIGNAL);
    return sent == static_cast<ssize_t>(sizeof header + unread.size());
}

bool send_steal_request(int channel_send, std::uint32_t idle_slot) {
    struct {
        Header header;
        std::uint32_t slot;
    } message{{steal_magic, sizeof(std::uint32_t)}, idle_slot};
    return ::send(channel_send, &message, sizeof message, MSG_DONTWAIT | MSG_NOSIGNAL) ==
           sizeof message;
}

std::optional<HandoffMessage> receive_message(int channel_receive) {
    for (;;) {
        Header header{};
        std::string bytes(max_moved_bytes + 1,
                          '\0');  // one byte more: a longer message shows as too long
        iovec parts[2] = {{&header, sizeof header}, {bytes.data(), bytes.size()}};
        Control control{};
        msghdr message{};
        message.msg_iov = parts;
        message.msg_iovlen = 2;
        message.msg_control = control.bytes;
        message.msg_controllen = sizeof control.bytes;
        const ssize_t n = ::recvmsg(channel_receive, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0) {
            if (errno == EINTR) continue;
            return std::nullopt;  // EAGAIN: nothing waiting (other errors: nothing to read either)
        }
        const bool sized = !(message.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) &&
                           static_cast<std::size_t>(n) >= sizeof header &&
                           header.length == static_cast<std::size_t>(n) - sizeof header;
        cmsghdr* c = CMSG_FIRSTHDR(&message);
        if (sized && header.magic == steal_magic && !c && header.length == sizeof(std::uint32_t)) {
            HandoffMessage steal;
            steal.kind = HandoffMessage::Kind::steal;
            std::memcpy(&steal.idle_slot, bytes.data(), sizeof steal.idle_slot);
            return steal;
        }
        const bool one_socket = c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
                                c->cmsg_len == CMSG_LEN(sizeof(int)) && !CMSG_NXTHDR(&message, c);
        if (!sized || header.magic != connection_magic || !one_socket) {
            close_passed(message);
            continue;
        }
        int fd;
        std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
        bytes.resize(header.length);
        HandoffMessage moved;
        moved.socket.reset(fd);
        moved.unread = std::move(bytes);
        return moved;
    }
}

std::optional<MovedConnection> receive_connection(int channel_receive) {
    while (auto message = receive_message(channel_receive)) {
        if (message->kind == HandoffMessage::Kind::connection) {
            return MovedConnection{std::move(message->socket), std::move(message->unread)};
        }
    }
    return std::nullopt;
}

}  // namespace askr::worker
