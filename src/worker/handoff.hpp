#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/unique_fd.hpp"

namespace askr::worker {

/// Moving a connection between workers. Each worker has one PHP thread, and a keep-alive
/// connection stays with the worker that accepted it; when requests pile up behind a
/// slow page on one worker while another worker's PHP thread is idle, the connection
/// whose request just arrived is handed to the idle worker with the bytes already read
/// (the request, and anything pipelined after it), and that worker serves it from there
/// on. Only clear-text HTTP/1.1 connections move, between requests, with the whole
/// request still in the read buffer (TLS state and HTTP/2 streams stay where they are).
///
/// The transport: one unix datagram socket pair per worker-table slot, created by the
/// master before any fork (so every worker inherits every pair, and a respawned worker
/// finds the queue of its slot). A peer writes one message per connection to the slot's
/// `send` end: a small header, the bytes, and the socket as SCM_RIGHTS. Nothing else can
/// reach these sockets: they have no name in the filesystem.
struct HandoffChannel {
    core::UniqueFd receive;  ///< read by the slot's worker
    core::UniqueFd send;     ///< written by the others
};

/// The most bytes a connection can carry along: the HTTP/1.1 read buffer.
constexpr std::size_t max_moved_bytes = 16 * 1024;

/// One channel per slot; throws std::runtime_error when the sockets cannot be created.
std::vector<HandoffChannel> make_handoff_channels(std::size_t slots);

/// Sends the connection `socket_fd` with the bytes read from it and not yet answered.
/// Never blocks: false when the receiver's queue is full, `unread` is too long or the
/// send fails (the caller then serves the connection itself). On success the caller
/// closes its own copy of `socket_fd`; the connection stays open.
bool send_connection(int channel_send, int socket_fd, std::string_view unread);

/// Asks the worker reading this channel for one of its waiting requests, with its
/// connection: the PHP thread of `idle_slot` has nothing to do. Sent by that PHP thread
/// as it goes idle; never blocks; false when not sent.
bool send_steal_request(int channel_send, std::uint32_t idle_slot);

/// What arrives on a channel: a connection from a peer, or a peer's steal request.
struct HandoffMessage {
    enum class Kind { connection, steal };
    Kind kind = Kind::connection;
    core::UniqueFd socket;        ///< connection: the client's socket
    std::string unread;           ///< connection: bytes read from it and not yet answered
    std::uint32_t idle_slot = 0;  ///< steal: who asks
};

/// The next message waiting on the channel, or nullopt when there is none. A message
/// that is not well-formed (wrong size or header, a socket missing or extra) is dropped
/// and any descriptor it carried is closed.
std::optional<HandoffMessage> receive_message(int channel_receive);

/// A connection received from a peer.
struct MovedConnection {
    core::UniqueFd socket;
    std::string unread;
};

/// The next connection waiting on the channel (steal requests are skipped), or nullopt.
std::optional<MovedConnection> receive_connection(int channel_receive);

}  // namespace askr::worker
