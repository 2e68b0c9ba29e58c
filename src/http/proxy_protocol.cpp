#include "http/proxy_protocol.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace askr::http {

namespace {

using Status = ProxyHeader::Status;

// Specification 2.2: the 12 bytes that open a version 2 header (they cannot start an
// HTTP request, a TLS record or a version 1 header).
constexpr std::string_view v2_signature{"\r\n\r\n\0\r\nQUIT\n", 12};
constexpr std::string_view v1_prefix = "PROXY ";

ProxyHeader need_more() {
    return {};
}

ProxyHeader error(const char* reason) {
    ProxyHeader header;
    header.status = Status::error;
    header.error = reason;
    return header;
}

ProxyHeader complete(std::size_t length, std::optional<ProxyAddresses> addresses = std::nullopt) {
    ProxyHeader header;
    header.status = Status::complete;
    header.length = length;
    header.addresses = addresses;
    return header;
}

// True when `received` is the start of `prefix` (or all of it, and more).
bool starts_like(std::string_view received, std::string_view prefix) {
    const std::size_t n = std::min(received.size(), prefix.size());
    return received.substr(0, n) == prefix.substr(0, n);
}

// The next field of a version 1 line: up to the next space, which is taken off `rest`.
// Empty when the line has no space left or two spaces follow each other.
std::string_view next_field(std::string_view& rest) {
    const auto space = rest.find(' ');
    if (space == std::string_view::npos) return {};
    const std::string_view field = rest.substr(0, space);
    rest.remove_prefix(space + 1);
    return field;
}

// A decimal port 0-65535: digits only, no sign, no leading zero (but "0" itself).
std::optional<std::uint16_t> parse_v1_port(std::string_view text) {
    if (text.empty() || text.size() > 5 || (text.size() > 1 && text[0] == '0')) return std::nullopt;
    std::uint32_t value = 0;
    for (const char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + static_cast<std::uint32_t>(c - '0');
    }
    if (value > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(value);
}

// An address literal of the family TCP4 or TCP6 names: IPv4 dotted decimal has no colon,
// IPv6 text always has one.
std::optional<core::IpAddress> parse_v1_address(std::string_view text, bool v6) {
    if ((text.find(':') != std::string_view::npos) != v6) return std::nullopt;
    return core::parse_ip_address(text);
}

// Specification 2.1: "PROXY" SP ("TCP4" | "TCP6") SP src SP dst SP sport SP dport CRLF,
// or "PROXY UNKNOWN" and anything up to CRLF, 107 bytes at most.
ProxyHeader parse_v1(std::string_view received) {
    const std::size_t window = std::min(received.size(), proxy_v1_max_length);
    const auto lf = received.substr(0, window).find('\n');
    if (lf == std::string_view::npos) {
        if (received.size() >= proxy_v1_max_length)
            return error("version 1: no CRLF within 107 bytes");
        return need_more();
    }
    if (lf == 0 || received[lf - 1] != '\r')
        return error("version 1: the line does not end in CRLF");
    const std::size_t length = lf + 1;
    std::string_view line = received.substr(v1_prefix.size(), lf - 1 - v1_prefix.size());
    if (line.find('\r') != std::string_view::npos) return error("version 1: a CR inside the line");
    // "UNKNOWN": the balancer could not tell (another protocol family); the rest of the
    // line is to be ignored.
    if (line == "UNKNOWN" || line.starts_with("UNKNOWN ")) return complete(length);
    std::string_view rest = line;
    const std::string_view family = next_field(rest);
    if (family != "TCP4" && family != "TCP6")
        return error("version 1: the protocol is not TCP4, TCP6 or UNKNOWN");
    const bool v6 = family == "TCP6";
    const std::string_view source = next_field(rest);
    const std::string_view destination = next_field(rest);
    const std::string_view source_port = next_field(rest);
    const std::string_view destination_port = rest;
    if (source.empty() || destination.empty() || source_port.empty() || destination_port.empty())
        return error(
            "version 1: expected PROXY TCP4|TCP6 SOURCE DESTINATION SPORT DPORT, single spaces");
    ProxyAddresses addresses;
    const auto source_address = parse_v1_address(source, v6);
    const auto destination_address = parse_v1_address(destination, v6);
    if (!source_address || !destination_address)
        return error(v6 ? "version 1: an address is not an IPv6 literal"
                        : "version 1: an address is not an IPv4 literal");
    const auto sport = parse_v1_port(source_port);
    const auto dport = parse_v1_port(destination_port);
    if (!sport || !dport) return error("version 1: a port is not a number from 0 to 65535");
    addresses.source = *source_address;
    addresses.destination = *destination_address;
    addresses.source_port = *sport;
    addresses.destination_port = *dport;
    return complete(length, addresses);
}

std::uint16_t read_u16(const char* p) {
    return static_cast<std::uint16_t>((static_cast<unsigned char>(p[0]) << 8) |
                                      static_cast<unsigned char>(p[1]));
}

// The TLVs after the addresses (specification 2.2.7): type, 16-bit length, value, each
// wholly inside the payload. Their contents are not used.
bool tlvs_well_formed(std::string_view tlvs) {
    while (!tlvs.empty()) {
        if (tlvs.size() < 3) return false;
        const std::size_t value_length = read_u16(tlvs.data() + 1);
        if (tlvs.size() - 3 < value_length) return false;
        tlvs.remove_prefix(3 + value_length);
    }
    return true;
}

core::IpAddress v4_address(const char* p) {
    core::IpAddress address;
    address.bytes[10] = address.bytes[11] = 0xff;  // IPv4-mapped, as core::IpAddress holds IPv4
    std::memcpy(address.bytes.data() + 12, p, 4);
    return address;
}

core::IpAddress v6_address(const char* p) {
    core::IpAddress address;
    std::memcpy(address.bytes.data(), p, 16);
    return address;
}

// Specification 2.2: the signature, version and command (high and low nibble), address
// family and transport (high and low nibble), payload length, then the payload.
ProxyHeader parse_v2(std::string_view received) {
    if (received.size() < proxy_v2_fixed_length) return need_more();
    const auto version_command = static_cast<unsigned char>(received[12]);
    if ((version_command >> 4) != 2) return error("version 2: the version nibble is not 2");
    const unsigned command = version_command & 0x0f;
    if (command > 1) return error("version 2: the command is neither LOCAL nor PROXY");
    const std::size_t payload_length = read_u16(received.data() + 14);
    if (payload_length > proxy_v2_max_payload)
        return error("version 2: longer than 2048 bytes of addresses and TLVs");
    const std::size_t length = proxy_v2_fixed_length + payload_length;
    if (received.size() < length) return need_more();
    // LOCAL (a health check, or a connection the balancer made itself): the payload is
    // to be discarded, whatever its family says.
    if (command == 0) return complete(length);
    const std::string_view payload = received.substr(proxy_v2_fixed_length, payload_length);
    std::size_t address_length = 0;
    switch (static_cast<unsigned char>(received[13])) {
        case 0x00:  // UNSPEC: no addresses
            break;
        case 0x11:  // TCP over IPv4
            address_length = 12;
            break;
        case 0x21:  // TCP over IPv6
            address_length = 36;
            break;
        case 0x31:  // AF_UNIX stream and datagram: no IP address to report
        case 0x32:
            address_length = 216;
            break;
        case 0x12:
        case 0x22:
            return error("version 2: a UDP address on a TCP connection");
        default:
            return error("version 2: an unknown address family or transport");
    }
    if (payload.size() < address_length)
        return error("version 2: the payload is shorter than its addresses");
    if (!tlvs_well_formed(payload.substr(address_length)))
        return error("version 2: a TLV runs past the header");
    const unsigned char family = static_cast<unsigned char>(received[13]);
    if (family != 0x11 && family != 0x21) return complete(length);
    ProxyAddresses addresses;
    const char* p = payload.data();
    if (family == 0x11) {
        addresses.source = v4_address(p);
        addresses.destination = v4_address(p + 4);
        addresses.source_port = read_u16(p + 8);
        addresses.destination_port = read_u16(p + 10);
    } else {
        addresses.source = v6_address(p);
        addresses.destination = v6_address(p + 16);
        addresses.source_port = read_u16(p + 32);
        addresses.destination_port = read_u16(p + 34);
    }
    return complete(length, addresses);
}

}  // namespace

ProxyHeader parse_proxy_header(std::string_view received) {
    if (received.empty()) return need_more();
    if (starts_like(received, v2_signature)) {
        if (received.size() < v2_signature.size()) return need_more();
        return parse_v2(received);
    }
    if (starts_like(received, v1_prefix)) {
        if (received.size() < v1_prefix.size()) return need_more();
        return parse_v1(received);
    }
    return error("no PROXY protocol header");
}

}  // namespace askr::http
