#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace askr::core {

/// Parses a byte size such as "512", "64K", "10M", "1G" (binary units, case-insensitive,
/// optional trailing "B"); nullopt when malformed or overflowing.
std::optional<std::uint64_t> parse_size(std::string_view text);

/// Formats a byte count the way parse_size reads it back ("10M", "1536K", "700").
std::string format_size(std::uint64_t bytes);

}  // namespace askr::core
