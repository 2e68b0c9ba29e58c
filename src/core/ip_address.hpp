#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace askr::core {

/// An IPv4 or IPv6 address. IPv4 is held as IPv4-mapped IPv6 (::ffff:a.b.c.d, RFC 4291
/// section 2.5.5.2), so that a dual-stack socket's mapped peer matches an IPv4 range.
struct IpAddress {
    std::array<std::uint8_t, 16> bytes{};
    /// True for IPv4 (and IPv4-mapped IPv6).
    bool is_v4() const;
    /// The canonical text: dotted decimal for IPv4, RFC 5952 form for IPv6.
    std::string text() const;
    bool operator==(const IpAddress&) const = default;
};

/// Parses a bare address (no brackets, no port, no zone): "192.0.2.1", "2001:db8::1".
/// Strict: inet_pton's syntax (no leading zeros in IPv4, no shortened forms).
std::optional<IpAddress> parse_ip_address(std::string_view text);

/// An address range in CIDR notation.
struct AddressRange {
    IpAddress base;
    unsigned prefix = 128;  ///< bits of `base` that must match, counted on the IPv6 form
    /// True when `address` is in the range.
    bool contains(const IpAddress& address) const;
};

/// Parses "10.0.0.0/8", "2001:db8::/32", or a plain address (a range of one). nullopt
/// with `error` set when it is not one: a bad address, a prefix out of range, or bits set
/// past the prefix ("10.0.0.1/8" is refused rather than guessed at).
std::optional<AddressRange> parse_address_range(std::string_view text, std::string& error);

/// A set of ranges, checked in order, and whether the peers of unix sockets (which have
/// no address) belong to it too.
class AddressRanges {
  public:
    /// Adds `range`.
    void add(const AddressRange& range) { ranges_.push_back(range); }
    /// Adds every peer of a unix socket.
    void add_unix_peers() { unix_peers_ = true; }
    /// True when `address` is in one of them.
    bool contains(const IpAddress& address) const;
    /// True when the peers of unix sockets were added.
    bool contains_unix_peers() const { return unix_peers_; }
    /// True when there is none.
    bool empty() const { return ranges_.empty() && !unix_peers_; }

  private:
    std::vector<AddressRange> ranges_;
    bool unix_peers_ = false;
};

}  // namespace askr::core
