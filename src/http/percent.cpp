#include "http/percent.hpp"

#include "core/text.hpp"

namespace askr::http {

namespace {


/// RFC 3986 §3.3: pchar = unreserved / pct-encoded / sub-delims / ":" / "@".
bool is_path_char(unsigned char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    // unreserved "-._~", sub-delims "!$&'()*+,;=", then ':' '@' and the separator '/'.
    constexpr std::string_view others = "-._~!$&'()*+,;=:@/";
    return others.find(static_cast<char>(c)) != std::string_view::npos;
}

}  // namespace

bool percent_decode(std::string_view in, std::string& out) {
    out.clear();
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '%') {
            out.push_back(in[i]);
            continue;
        }
        if (in.size() - i < 3) return false;  // truncated: "%" or "%4" at the end
        const int high = core::hex_digit_value(in[i + 1]);
        const int low = core::hex_digit_value(in[i + 2]);
        if (high < 0 || low < 0) return false;
        out.push_back(static_cast<char>(high * 16 + low));
        i += 2;
    }
    return true;
}

void percent_encode_path(std::string_view in, std::string& out) {
    static constexpr char digits[] = "0123456789ABCDEF";
    for (char ch : in) {
        const auto c = static_cast<unsigned char>(ch);
        if (is_path_char(c)) {
            out.push_back(ch);
        } else {
            out.push_back('%');
            out.push_back(digits[c >> 4]);
            out.push_back(digits[c & 0xF]);
        }
    }
}

}  // namespace askr::http
