#pragma once
// What a trusted reverse proxy says about the client: RFC 7239 Forwarded and the de facto
// X-Forwarded-For, -Proto, -Host and -Port. docs/proxies.md describes the rules.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/ip_address.hpp"
#include "http/handler.hpp"
#include "http/request.hpp"

namespace askr::http {

/// One element of a Forwarded header (RFC 7239 section 4): the raw values of its for=,
/// proto= and host= parameters, quotes removed ("" when absent). Views into the header.
struct ForwardedElement {
    std::string_view for_node;
    std::string_view proto;
    std::string_view host;
};

/// Parses one Forwarded field value into `out` (appended, left to right). False when it is
/// not valid RFC 7239 syntax (a parameter repeated in an element, a bad token or quoted
/// string): the whole value is then unusable.
bool parse_forwarded(std::string_view value, std::vector<ForwardedElement>& out);

/// A node of Forwarded's for= or an X-Forwarded-For entry: an address, and a port when it
/// carries one ("192.0.2.1:4711", "[2001:db8::1]:4711"). nullopt for "unknown", obfuscated
/// identifiers ("_hidden") and anything that is not an address.
struct Node {
    core::IpAddress address;
    std::optional<std::uint16_t> port;
};
std::optional<Node> parse_node(std::string_view text);

/// A port number 1-65535, digits only.
std::optional<std::uint16_t> parse_port(std::string_view text);

/// What a request looks like from the client's side, as the trusted proxies tell it.
struct ForwardedView {
    std::optional<Node> client;         ///< the client's address (and port)
    std::string_view scheme;            ///< "http" or "https", "" when not said
    std::string_view host;              ///< a valid Host value, "" when not said
    std::optional<std::uint16_t> port;  ///< the port the client connected to, when said
};

/// Reads the forwarding headers of `request`, which arrived from the trusted `peer`.
/// Forwarded, when present, is used alone; otherwise X-Forwarded-*. The client is found by
/// walking the hops from the right (the proxy nearest this server) past every trusted
/// address; an unusable hop stops the walk at the last address reached.
ForwardedView read_forwarded(const Request& request, const core::AddressRanges& trusted);

/// True when the connection's own peer is in `trusted`: its address is in one of the
/// ranges, or it is the peer of a unix socket and those were added.
bool is_trusted_peer(const Endpoints& endpoints, const core::AddressRanges& trusted);

/// Sets what `request` shows the application from its forwarding headers when the
/// connection's peer is in `trusted`: Endpoints (address, port, scheme, server port) and
/// the Host header. Restores the connection's own Endpoints first, so a connection's
/// requests never inherit each other's. Cheap when the request has no such header.
void apply_forwarded(Request& request, const core::AddressRanges& trusted);

/// The stage of the handler chain that applies trusted proxies' forwarding headers,
/// once per request, before everything after it (routing, PHP, the access log).
class TrustedProxyStage final : public Handler {
  public:
    TrustedProxyStage(Handler& next, const core::AddressRanges& trusted) : next_(next), trusted_(trusted) {}

    boost::asio::awaitable<HandlerResult> handle(Request& request, ResponseSink& sink) override;
    bool handle_now(Request& request, ResponseSink& sink) override;
    int refuse_before_body(const Request& request) override { return next_.refuse_before_body(request); }

  private:
    Handler& next_;
    const core::AddressRanges& trusted_;
};

}  // namespace askr::http
