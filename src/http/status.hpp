#pragma once
#include <string_view>

namespace askr::http {

/// Reason phrase for a status code (RFC 9110 section 15), "Unknown" for unlisted codes.
std::string_view reason_phrase(int status);

/// True when a response with this status never has a body (1xx, 204, 304; RFC 9110 6.4.1).
constexpr bool status_has_no_body(int status) { return status < 200 || status == 204 || status == 304; }

/// The current time as an HTTP date (IMF-fixdate), cached per second, per thread.
std::string_view http_date_now();

}  // namespace askr::http
