#include "worker/handoff.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <string>

#include <gtest/gtest.h>

namespace askr::worker {
namespace {

// A real TCP connection on loopback: the client end and the server's accepted end.
struct LoopbackConnection {
    core::UniqueFd client, server;
};

LoopbackConnection connect_pair() {
    core::UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    EXPECT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    EXPECT_EQ(::listen(listener.get(), 1), 0);
    EXPECT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length), 0);
    LoopbackConnection pair{core::UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)), {}};
    EXPECT_EQ(::connect(pair.client.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    pair.server.reset(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    return pair;
}

TEST(Handoff, AConnectionArrivesWithItsBytesAndStaysOpen) {
    auto channels = make_handoff_channels(2);
    auto connection = connect_pair();
    const std::string request = "GET /slow.php HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\n";
    ASSERT_TRUE(send_connection(channels[1].send.get(), connection.server.get(), request));
    connection.server.reset();  // the sender closes its copy: the client must not see a close

    auto moved = receive_connection(channels[1].receive.get());
    ASSERT_TRUE(moved);
    EXPECT_EQ(moved->unread, request);
    ASSERT_EQ(::send(moved->socket.get(), "answer", 6, MSG_NOSIGNAL), 6);
    char buffer[16] = {};
    ASSERT_EQ(::recv(connection.client.get(), buffer, sizeof buffer, 0), 6);
    EXPECT_EQ(std::string(buffer, 6), "answer");
    EXPECT_FALSE(receive_connection(channels[1].receive.get())) << "one message, one connection";
    EXPECT_FALSE(receive_connection(channels[0].receive.get())) << "each slot has its own queue";
}

TEST(Handoff, TooManyBytesStayWithTheSender) {
    auto channels = make_handoff_channels(1);
    auto connection = connect_pair();
    EXPECT_FALSE(send_connection(channels[0].send.get(), connection.server.get(), std::string(max_moved_bytes + 1, 'x')));
    EXPECT_TRUE(send_connection(channels[0].send.get(), connection.server.get(), std::string(max_moved_bytes, 'x')));
    auto moved = receive_connection(channels[0].receive.get());
    ASSERT_TRUE(moved);
    EXPECT_EQ(moved->unread.size(), max_moved_bytes);
}

TEST(Handoff, MalformedMessagesAreDroppedAndTheirSocketsClosed) {
    auto channels = make_handoff_channels(1);
    // No socket attached.
    ASSERT_EQ(::send(channels[0].send.get(), "12345678", 8, 0), 8);
    // A socket with a header that does not match the bytes: the socket is closed, so
    // the client sees the end of the connection.
    auto connection = connect_pair();
    {
        struct {
            std::uint32_t magic, length;
        } header{0x414b4d56, 100};
        iovec part{&header, sizeof header};
        union {
            cmsghdr align;
            char bytes[CMSG_SPACE(sizeof(int))];
        } control{};
        msghdr message{};
        message.msg_iov = &part;
        message.msg_iovlen = 1;
        message.msg_control = control.bytes;
        message.msg_controllen = sizeof control.bytes;
        cmsghdr* c = CMSG_FIRSTHDR(&message);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        const int fd = connection.server.get();
        std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
        ASSERT_GT(::sendmsg(channels[0].send.get(), &message, 0), 0);
    }
    connection.server.reset();
    EXPECT_FALSE(receive_connection(channels[0].receive.get()));
    char byte;
    EXPECT_EQ(::recv(connection.client.get(), &byte, 1, 0), 0) << "the dropped socket was closed";
}

}  // namespace
}  // namespace askr::worker
