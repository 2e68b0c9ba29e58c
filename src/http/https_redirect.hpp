#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace askr::http {

/// True for the paths certbot's webroot mode (and any ACME HTTP-01 client) fetches over
/// plain HTTP: /.well-known/acme-challenge/TOKEN (RFC 8555 section 8.3).
bool is_acme_challenge(std::string_view path);

/// The Location of the redirect from plain HTTP to HTTPS: https://HOST[:PORT]TARGET, the
/// host from the Host header (its port dropped) or `fallback_host` without one, the port
/// omitted when it is 443. nullopt when the host is not a plain host name or address
/// (nothing from the request may reach the header unchecked).
std::optional<std::string> https_redirect_location(std::string_view host_header, std::string_view target,
                                                   std::uint16_t https_port, std::string_view fallback_host);

}  // namespace askr::http
