#pragma once
#include <ctime>
#include <optional>
#include <string_view>

namespace askr::static_files {

/// Length of an IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT".
inline constexpr std::size_t http_date_length = 29;

/// Writes `t` as an IMF-fixdate (RFC 9110 §5.6.7) into exactly 29 chars of `out`, no NUL.
/// Times outside years 0000-9999 are clamped to that range.
void format_http_date(std::time_t t, char out[http_date_length]);

/// Parses an HTTP-date in any of the three formats of RFC 9110 §5.6.7 (IMF-fixdate,
/// obsolete RFC 850, asctime), with surrounding whitespace allowed; nullopt when malformed.
std::optional<std::time_t> parse_http_date(std::string_view text);

}  // namespace askr::static_files
