#include "core/ip_address.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace askr::core {

namespace {

constexpr std::array<std::uint8_t, 12> v4_mapped_prefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

}  // namespace

bool IpAddress::is_v4() const {
    return std::memcmp(bytes.data(), v4_mapped_prefix.data(), v4_mapped_prefix.size()) == 0;
}

std::string IpAddress::text() const {
    char buffer[INET6_ADDRSTRLEN];
    const bool v4 = is_v4();
    const void* source = v4 ? static_cast<const void*>(bytes.data() + 12) : bytes.data();
    if (!inet_ntop(v4 ? AF_INET : AF_INET6, source, buffer, sizeof buffer)) return {};
    return buffer;
}

std::optional<IpAddress> parse_ip_address(std::string_view text) {
    // inet_pton needs a terminated string; the longest IPv6 text fits in INET6_ADDRSTRLEN.
    char buffer[INET6_ADDRSTRLEN];
    if (text.empty() || text.size() >= sizeof buffer) return std::nullopt;
    std::memcpy(buffer, text.data(), text.size());
    buffer[text.size()] = '\0';
    IpAddress address;
    if (inet_pton(AF_INET, buffer, address.bytes.data() + 12) == 1) {
        std::memcpy(address.bytes.data(), v4_mapped_prefix.data(), v4_mapped_prefix.size());
        return address;
    }
    if (inet_pton(AF_INET6, buffer, address.bytes.data()) == 1) return address;
    return std::nullopt;
}

bool AddressRange::contains(const IpAddress& address) const {
    const unsigned whole = prefix / 8;
    if (std::memcmp(base.bytes.data(), address.bytes.data(), whole) != 0) return false;
    const unsigned rest = prefix % 8;
    if (rest == 0) return true;
    const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
    return (base.bytes[whole] & mask) == (address.bytes[whole] & mask);
}

std::optional<AddressRange> parse_address_range(std::string_view text, std::string& error) {
    const auto slash = text.find('/');
    const auto address = parse_ip_address(text.substr(0, slash));
    if (!address) {
        error = "\"" + std::string(text.substr(0, slash)) + "\" is not an IPv4 or IPv6 address";
        return std::nullopt;
    }
    AddressRange range{*address, 128};
    const unsigned offset = address->is_v4() ? 96 : 0;  // an IPv4 prefix counts from bit 96
    if (slash != std::string_view::npos) {
        const auto digits = text.substr(slash + 1);
        unsigned prefix = 0;
        const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
        const unsigned most = address->is_v4() ? 32 : 128;
        if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() || prefix > most ||
            (digits.size() > 1 && digits.front() == '0')) {
            error = "the prefix length after '/' must be a number from 0 to " + std::to_string(most);
            return std::nullopt;
        }
        range.prefix = offset + prefix;
    }
    // Bits past the prefix mean the range is not what it says: refuse instead of masking.
    for (unsigned bit = range.prefix; bit < 128; ++bit) {
        if (range.base.bytes[bit / 8] & (0x80 >> (bit % 8))) {
            AddressRange masked = range;
            for (unsigned b = range.prefix; b < 128; ++b)
                masked.base.bytes[b / 8] &= static_cast<std::uint8_t>(~(0x80 >> (b % 8)));
            error = "\"" + std::string(text) + "\" has bits set past its prefix (did you mean " +
                    masked.base.text() + "/" + std::to_string(range.prefix - offset) + "?)";
            return std::nullopt;
        }
    }
    return range;
}

bool AddressRanges::contains(const IpAddress& address) const {
    for (const auto& range : ranges_) {
        if (range.contains(address)) return true;
    }
    return false;
}

}  // namespace askr::core
