#pragma once
#include <string>
#include <string_view>

namespace askr::http {

/// Replaces `out` with `in` percent-decoded (RFC 3986 §2.1: "%" HEXDIG HEXDIG, either
/// case); false on a truncated or non-hex escape. '+' is left alone (it only means a space
/// in form bodies), and a decoded NUL is returned as is: callers decide whether it is legal.
bool percent_decode(std::string_view in, std::string& out);

/// Appends `in` to `out`, percent-encoding every byte that is not a path character
/// (RFC 3986 §3.3: unreserved, sub-delims, ':', '@') or '/'.
void percent_encode_path(std::string_view in, std::string& out);

}  // namespace askr::http
