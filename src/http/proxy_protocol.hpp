#pragma once
// The PROXY protocol (HAProxy's "PROXY protocol" specification, versions 1 and 2): a
// load balancer that forwards TCP connections opens each one with a header naming the
// client's address and the address the client connected to. This is the parser alone, no
// I/O; h1/connection.cpp reads the header. docs/proxies.md describes the rules.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "core/ip_address.hpp"

namespace askr::http {

/// The longest version 1 header, "PROXY UNKNOWN ...\r\n" included (specification 2.1).
constexpr std::size_t proxy_v1_max_length = 107;
/// The fixed part of a version 2 header: signature, version/command, family, length.
constexpr std::size_t proxy_v2_fixed_length = 16;
/// The most bytes a version 2 header may carry after its fixed part (addresses and TLVs).
/// The specification allows 65535; real balancers send tens to a few hundred (the addresses
/// and a few TLVs), so a longer one is refused rather than buffered.
constexpr std::size_t proxy_v2_max_payload = 2048;
/// The longest header accepted, of either version.
constexpr std::size_t proxy_header_max_length = proxy_v2_fixed_length + proxy_v2_max_payload;

/// Where the balancer says the connection comes from and goes to.
struct ProxyAddresses {
    core::IpAddress source;
    std::uint16_t source_port = 0;
    core::IpAddress destination;
    std::uint16_t destination_port = 0;
};

/// What the bytes received so far say.
struct ProxyHeader {
    enum class Status {
        need_more,  ///< every byte so far belongs to a header that is not complete yet
        error,      ///< not a valid header: the connection must be closed
        complete,   ///< a whole header, `length` bytes long
    };
    Status status = Status::need_more;
    std::size_t length = 0;  ///< complete: the header's bytes, to take off the stream
    /// complete: the balancer's addresses; nullopt for a LOCAL command (a health check),
    /// "UNKNOWN" or a family without IP addresses: keep the socket's own addresses.
    std::optional<ProxyAddresses> addresses;
    const char* error = nullptr;  ///< error: why, for the log
};

/// Parses the start of a connection. Strict: version 1 in its exact grammar (single
/// spaces, IPv4/IPv6 literals matching TCP4/TCP6, decimal ports 0-65535 without leading
/// zeros, CRLF within 107 bytes); version 2 with version 2, command LOCAL or PROXY, a
/// known family, a payload of at most proxy_v2_max_payload bytes holding the family's
/// addresses and well-formed TLVs (skipped). Never reads past `received`; bytes after the
/// header are not looked at.
ProxyHeader parse_proxy_header(std::string_view received);

}  // namespace askr::http
