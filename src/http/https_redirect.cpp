#include "http/https_redirect.hpp"

#include <algorithm>

namespace askr::http {

namespace {

bool host_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_';
}

bool ipv6_literal_char(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
}

// Host header (RFC 9110 section 7.2: uri-host [":" port]) without its port; "" when it
// is not a reg-name or IP literal Askr is willing to echo.
std::string_view host_only(std::string_view host) {
    if (!host.empty() && host.front() == '[') {
        const auto close = host.find(']');
        if (close == std::string_view::npos || close < 2) return {};
        const auto rest = host.substr(close + 1);
        if (!rest.empty() && rest.front() != ':') return {};
        const auto inside = host.substr(1, close - 1);
        if (!std::all_of(inside.begin(), inside.end(), ipv6_literal_char)) return {};
        return host.substr(0, close + 1);
    }
    const auto colon = host.find(':');
    if (colon != std::string_view::npos) {
        const auto port = host.substr(colon + 1);
        if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) return {};
        host = host.substr(0, colon);
    }
    if (host.empty() || host.size() > 253 || !std::all_of(host.begin(), host.end(), host_name_char)) return {};
    return host;
}

}  // namespace

bool is_acme_challenge(std::string_view path) { return path.starts_with("/.well-known/acme-challenge/"); }

std::optional<std::string> https_redirect_location(std::string_view host_header, std::string_view target,
                                                   std::uint16_t https_port, std::string_view fallback_host) {
    std::string_view host = host_only(host_header.empty() ? fallback_host : host_header);
    if (host.empty()) return std::nullopt;
    // The target as the client sent it (still percent-encoded; the request line was
    // checked by the parser): origin-form as is, absolute-form reduced to its path.
    if (target.starts_with("http://") || target.starts_with("https://")) {
        const auto authority = target.find("//") + 2;
        const auto slash = target.find('/', authority);
        target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    } else if (!target.starts_with("/")) {
        target = "/";  // "*" (OPTIONS) or anything else: the site's root
    }
    std::string location = "https://";
    location += host;
    if (https_port != 443) location += ":" + std::to_string(https_port);
    location += target;
    return location;
}

}  // namespace askr::http
