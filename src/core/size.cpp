#include "core/size.hpp"

#include <cctype>

namespace askr::core {

std::optional<std::uint64_t> parse_size(std::string_view text) {
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
    if (text.empty()) return std::nullopt;
    if (text.back() == 'b' || text.back() == 'B') text.remove_suffix(1);
    std::uint64_t multiplier = 1;
    if (!text.empty()) {
        switch (std::tolower(static_cast<unsigned char>(text.back()))) {
            case 'k': multiplier = 1ull << 10; break;
            case 'm': multiplier = 1ull << 20; break;
            case 'g': multiplier = 1ull << 30; break;
            case 't': multiplier = 1ull << 40; break;
            default: break;
        }
        if (multiplier != 1) text.remove_suffix(1);
    }
    if (text.empty()) return std::nullopt;
    std::uint64_t value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        if (value > (UINT64_MAX - 9) / 10) return std::nullopt;
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value > UINT64_MAX / multiplier) return std::nullopt;
    return value * multiplier;
}

std::string format_size(std::uint64_t bytes) {
    static constexpr struct { std::uint64_t unit; char suffix; } units[] = {
        {1ull << 40, 'T'}, {1ull << 30, 'G'}, {1ull << 20, 'M'}, {1ull << 10, 'K'}};
    for (const auto& u : units) {
        if (bytes >= u.unit && bytes % u.unit == 0) return std::to_string(bytes / u.unit) + u.suffix;
    }
    return std::to_string(bytes);
}

}  // namespace askr::core
