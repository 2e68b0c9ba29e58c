#pragma once
#include <string_view>

#include <boost/asio/ip/tcp.hpp>

#include "http/context.hpp"
#include "http/handler.hpp"
#include "http/request.hpp"

// HTTP/2 (RFC 9113) as the rest of Askr sees it: the HTTP/1 connection hands a connection
// over once it knows the client speaks HTTP/2 (ALPN "h2" after the TLS handshake, or the
// client connection preface in the clear). nghttp2 stays inside src/http/h2/.

namespace boost::asio::ssl {
template <class Stream>
class stream;
}

namespace askr::http::h2 {

/// The client connection preface (RFC 9113 section 3.4).
inline constexpr std::string_view client_preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// ALPN protocol identifier of HTTP/2 over TLS (RFC 9113 section 3.2).
inline constexpr std::string_view alpn_id = "h2";

/// True while `bytes` (the first bytes of a clear-text connection) may still turn out to
/// be the client preface: all of them match its beginning.
bool may_be_preface(std::string_view bytes);

/// Serves a clear-text HTTP/2 connection (prior knowledge, RFC 9113 section 3.3) on the
/// I/O thread until it closes. `received` are the bytes already read (the preface and
/// whatever followed it).
void start_connection(Context& context, boost::asio::ip::tcp::socket socket,
                      const Endpoints& endpoints, Handler& handler, std::string_view received);

/// Serves an HTTP/2 connection over TLS (ALPN chose "h2"; the handshake is done).
void start_connection(Context& context,
                      boost::asio::ssl::stream<boost::asio::ip::tcp::socket> stream,
                      const Endpoints& endpoints, Handler& handler);

}  // namespace askr::http::h2
