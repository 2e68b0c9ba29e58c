#pragma once
#include <cstddef>
#include <string_view>

#include <boost/asio/ip/tcp.hpp>

#include "core/ip_address.hpp"
#include "http/context.hpp"
#include "http/handler.hpp"

namespace askr::http::h1 {

/// The HTTP/1.1 read buffer: what a connection moved to another worker can bring along
/// (the request, and any pipelined after it).
constexpr std::size_t read_buffer_size = 16 * 1024;

/// What a listening socket offers: how its connections begin and what answers them.
struct Service {
    Handler* handler = nullptr;  ///< answers the requests (the handler chain)
    bool tls = false;            ///< TLS first (within the handshake timeout); h2 by ALPN
    /// Clear-text connections may move to another worker between requests, with their
    /// request (worker/handoff.hpp).
    bool movable = false;
    /// Every connection opens with a PROXY protocol header (http/proxy_protocol.hpp), read
    /// before TLS and HTTP: its addresses become the connection's Endpoints.
    bool proxy_protocol = false;
    /// proxy_protocol: the peers that may send the header (--trusted-proxy); a connection
    /// from any other is closed. Null or empty: any peer.
    const core::AddressRanges* proxy_peers = nullptr;
};

/// Serves an accepted connection on the I/O thread until it closes (a coroutine owns it):
/// HTTP/1.1 (keep-alive, pipelining), or HTTP/2 when the client asks for it (ALPN, or the
/// preface in the clear), each request answered by `service.handler`. False when it
/// could not start (no TLS session): the socket is closed. `moved_in`: the bytes a peer
/// worker read from this clear-text connection before handing it here; they are parsed as
/// if just read.
bool start_connection(Context& context, boost::asio::ip::tcp::socket socket, const Service& service,
                      std::string_view moved_in = {});

}  // namespace askr::http::h1
