#include "http/forwarded.hpp"

#include "core/text.hpp"
#include "http/fields.hpp"

namespace askr::http {

namespace {

bool is_ows(char c) { return c == ' ' || c == '\t'; }

// qdtext, and the second byte of a quoted-pair (RFC 9110 section 5.6.4).
bool is_qdtext(unsigned char c) { return c == '\t' || c == ' ' || (c >= 0x21 && c != '"' && c != '\\' && c != 0x7f); }
bool is_quoted_pair_char(unsigned char c) { return c == '\t' || c == ' ' || (c >= 0x21 && c != 0x7f); }

std::string_view scheme_of(std::string_view proto) {
    if (core::iequals(proto, "https")) return "https";
    if (core::iequals(proto, "http")) return "http";
    return {};
}

// The port of a Host value ("example.com:8443", "[::1]:8443"), when it has one.
std::optional<std::uint16_t> port_of_host(std::string_view host) {
    const auto bracket = host.rfind(']');
    const auto colon = host.rfind(':');
    if (colon == std::string_view::npos || (bracket != std::string_view::npos && colon < bracket)) return std::nullopt;
    return parse_port(host.substr(colon + 1));
}

// The one value of a header that must not repeat: "" when absent, repeated or a list.
std::string_view single_value(const Request& request, std::string_view name) {
    std::string_view found;
    bool seen = false;
    for (std::size_t i = 0; i < request.header_count(); ++i) {
        if (request.header_name(i) != name) continue;
        if (seen) return {};
        seen = true;
        found = core::trim_ows(request.header_value(i));
    }
    return found.find(',') == std::string_view::npos ? found : std::string_view{};
}

// Walks the hops of `hops` (a callable giving the next node text from the right, or
// nullopt at the end): the client is the first untrusted address; an unusable node stops
// the walk at the last address reached. Returns how many hops were looked at.
template <class NextHop>
std::size_t walk_hops(NextHop next_hop, const core::AddressRanges& trusted, std::optional<Node>& client) {
    std::size_t looked = 0;
    while (const auto text = next_hop()) {
        ++looked;
        const auto node = parse_node(*text);
        if (!node) break;
        client = node;
        if (!trusted.contains(node->address)) break;
    }
    return looked;
}

}  // namespace

std::optional<std::uint16_t> parse_port(std::string_view text) {
    if (text.empty() || text.size() > 5) return std::nullopt;
    unsigned value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(value);
}

std::optional<Node> parse_node(std::string_view text) {
    // RFC 7239 section 6: node = nodename [ ":" node-port ]; "unknown" and obfuscated
    // identifiers ("_" followed by ALPHA / DIGIT / "." / "_" / "-") name no address.
    if (text.empty() || text.front() == '_' || core::iequals(text, "unknown")) return std::nullopt;
    Node node;
    std::string_view rest;
    if (text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        const auto inside = text.substr(1, close - 1);
        if (inside.find(':') == std::string_view::npos) return std::nullopt;  // "[192.0.2.1]"
        const auto address = core::parse_ip_address(inside);
        if (!address) return std::nullopt;
        node.address = *address;
        rest = text.substr(close + 1);
    } else {
        const auto first = text.find(':');
        if (first != std::string_view::npos && text.find(':', first + 1) != std::string_view::npos) {
            // A bare IPv6 address (X-Forwarded-For writes them so): it cannot carry a port.
            const auto address = core::parse_ip_address(text);
            if (!address) return std::nullopt;
            node.address = *address;
            return node;
        }
        const auto address = core::parse_ip_address(text.substr(0, first));
        if (!address || !address->is_v4()) return std::nullopt;
        node.address = *address;
        rest = first == std::string_view::npos ? std::string_view{} : text.substr(first);
    }
    if (rest.empty()) return node;
    if (rest.front() != ':') return std::nullopt;
    rest.remove_prefix(1);
    if (!rest.empty() && rest.front() == '_') return node;  // an obfuscated port: no port
    node.port = parse_port(rest);
    if (!node.port) return std::nullopt;
    return node;
}

bool parse_forwarded(std::string_view value, std::vector<ForwardedElement>& out) {
    // Forwarded = 1#forwarded-element; forwarded-element = [ pair ] *( ";" [ pair ] );
    // pair = token "=" ( token / quoted-string ) (RFC 7239 section 4). OWS is allowed
    // around ',' (list syntax, RFC 9110 section 5.6.1) and, as proxies write it, ';'.
    const std::size_t n = value.size();
    std::size_t i = 0;
    auto skip_ows = [&] {
        while (i < n && is_ows(value[i])) ++i;
    };
    while (true) {
        skip_ows();
        if (i == n) return true;
        if (value[i] == ',') {  // an empty list element
            ++i;
            continue;
        }
        ForwardedElement element;
        bool seen_for = false, seen_proto = false, seen_host = false, any = false;
        while (true) {
            skip_ows();
            if (i == n || value[i] == ',') break;
            if (value[i] == ';') {
                ++i;
                continue;
            }
            const std::size_t name_start = i;
            while (i < n && is_tchar(static_cast<unsigned char>(value[i]))) ++i;
            const auto name = value.substr(name_start, i - name_start);
            if (name.empty() || i == n || value[i] != '=') return false;
            ++i;
            std::string_view parameter;
            if (i < n && value[i] == '"') {
                const std::size_t start = ++i;
                while (i < n && value[i] != '"') {
                    if (value[i] == '\\') {  // kept as is: no valid for/proto/host needs one
                        ++i;
                        if (i == n || !is_quoted_pair_char(static_cast<unsigned char>(value[i]))) return false;
                    } else if (!is_qdtext(static_cast<unsigned char>(value[i]))) {
                        return false;
                    }
                    ++i;
                }
                if (i == n) return false;
                parameter = value.substr(start, i - start);
                ++i;
            } else {
                const std::size_t start = i;
                while (i < n && is_tchar(static_cast<unsigned char>(value[i]))) ++i;
                parameter = value.substr(start, i - start);
                if (parameter.empty()) return false;
            }
            // A parameter must not occur more than once per element (section 4).
            auto take = [&](bool& seen, std::string_view& field) {
                if (seen) return false;
                seen = true;
                field = parameter;
                return true;
            };
            if (core::iequals(name, "for")) {
                if (!take(seen_for, element.for_node)) return false;
            } else if (core::iequals(name, "proto")) {
                if (!take(seen_proto, element.proto)) return false;
            } else if (core::iequals(name, "host")) {
                if (!take(seen_host, element.host)) return false;
            }  // by= and extensions: not used
            any = true;
            skip_ows();
            if (i < n && value[i] != ';' && value[i] != ',') return false;
        }
        if (any) out.push_back(element);
        if (i < n) ++i;  // ','
    }
}

ForwardedView read_forwarded(const Request& request, const core::AddressRanges& trusted) {
    ForwardedView view;
    // The elements of every Forwarded line, reused: the I/O thread parses one at a time.
    thread_local std::vector<ForwardedElement> elements;
    elements.clear();
    bool has_forwarded = false;
    for (std::size_t i = 0; i < request.header_count(); ++i) {
        if (request.header_name(i) != "forwarded") continue;
        has_forwarded = true;
        if (!parse_forwarded(request.header_value(i), elements)) return view;  // unusable: trust none of it
    }
    if (has_forwarded) {
        // Each element was written by the hop to its right (the right-most by the peer),
        // all of them trusted up to where the walk stops: that element's proto and host
        // describe the request as the client made it.
        std::size_t next = elements.size();
        const std::size_t looked = walk_hops(
            [&]() -> std::optional<std::string_view> {
                if (next == 0) return std::nullopt;
                return elements[--next].for_node;
            },
            trusted, view.client);
        if (looked == 0) return view;
        const auto& chosen = elements[elements.size() - looked];
        view.scheme = scheme_of(chosen.proto);
        if (is_valid_host(chosen.host)) view.host = chosen.host;
        return view;
    }

    // X-Forwarded-For: entries of every line, right to left.
    std::size_t line = request.header_count();
    std::string_view pending;  // what is left of the current line, entries taken from its end
    bool in_line = false;
    walk_hops(
        [&]() -> std::optional<std::string_view> {
            while (!in_line) {
                if (line == 0) return std::nullopt;
                --line;
                if (request.header_name(line) != "x-forwarded-for") continue;
                pending = request.header_value(line);
                in_line = true;
            }
            const auto comma = pending.rfind(',');
            std::string_view entry;
            if (comma == std::string_view::npos) {
                entry = pending;
                in_line = false;
            } else {
                entry = pending.substr(comma + 1);
                pending = pending.substr(0, comma);
            }
            return core::trim_ows(entry);
        },
        trusted, view.client);
    view.scheme = scheme_of(single_value(request, "x-forwarded-proto"));
    const auto host = single_value(request, "x-forwarded-host");
    if (is_valid_host(host)) view.host = host;
    view.port = parse_port(single_value(request, "x-forwarded-port"));
    return view;
}

bool is_trusted_peer(const Endpoints& endpoints, const core::AddressRanges& trusted) {
    if (endpoints.unix_socket) return trusted.contains_unix_peers();
    const auto peer = core::parse_ip_address(endpoints.remote_addr);
    return peer && trusted.contains(*peer);
}

void apply_forwarded(Request& request, const core::AddressRanges& trusted) {
    if (request.forwarding_applied) return;
    request.forwarding_applied = true;
    auto& endpoints = request.endpoints;
    if (endpoints.forwarded) {  // the previous request of this connection was forwarded
        endpoints.remote_addr = endpoints.peer.remote_addr;
        endpoints.remote_port = endpoints.peer.remote_port;
        endpoints.local_port = endpoints.peer.local_port;
        endpoints.tls = endpoints.peer.tls;
        endpoints.forwarded = false;
    }
    if (trusted.empty()) return;
    bool any = false;
    for (std::size_t i = 0; i < request.header_count() && !any; ++i) {
        const auto name = request.header_name(i);
        any = name == "forwarded" || name.starts_with("x-forwarded-");
    }
    if (!any) return;
    if (!is_trusted_peer(endpoints, trusted)) return;  // anyone else's headers are only headers
    const ForwardedView view = read_forwarded(request, trusted);
    if (!view.client && view.scheme.empty() && view.host.empty() && !view.port) return;

    endpoints.peer.remote_addr = endpoints.remote_addr;
    endpoints.peer.remote_port = endpoints.remote_port;
    endpoints.peer.local_port = endpoints.local_port;
    endpoints.peer.tls = endpoints.tls;
    endpoints.forwarded = true;
    if (view.client) {
        endpoints.remote_addr = view.client->address.text();
        // Without a port from the proxy, REMOTE_PORT stays the proxy connection's.
        if (view.client->port) endpoints.remote_port = *view.client->port;
    }
    if (!view.scheme.empty()) endpoints.tls = view.scheme == "https";
    if (!view.host.empty()) {
        const std::string host(view.host);  // the view points into the headers it replaces
        request.replace_header("host", host);
    }
    // The port the client connected to: said outright, else the Host's, else the scheme's
    // default once the proxy has said anything about scheme or host.
    if (view.port) {
        endpoints.local_port = *view.port;
    } else if (!view.scheme.empty() || !view.host.empty()) {
        const auto host_port = port_of_host(request.header("host"));
        endpoints.local_port = host_port ? *host_port : endpoints.tls ? 443 : 80;
    }
}

boost::asio::awaitable<HandlerResult> TrustedProxyStage::handle(Request& request, ResponseSink& sink) {
    apply_forwarded(request, trusted_);
    co_return co_await next_.handle(request, sink);
}

bool TrustedProxyStage::handle_now(Request& request, ResponseSink& sink) {
    apply_forwarded(request, trusted_);
    return next_.handle_now(request, sink);
}

}  // namespace askr::http
