#include "config/serve_options.hpp"

#include <arpa/inet.h>

#include <cstdlib>
#include <string_view>

namespace askr::config {

std::string ListenAddress::text() const {
    const std::string options = proxy_protocol ? ",proxy-protocol" : "";
    if (is_unix()) return "unix:" + unix_path + options;
    const bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + options;
}

namespace {

// sockaddr_un's sun_path holds 108 bytes with the terminating NUL.
constexpr std::size_t max_unix_path = 107;

void parse_unix_path(std::string_view path, ListenAddress& address) {
    if (path.empty() || path.front() != '/') {
        throw ConfigError("a unix socket is written unix:/ABSOLUTE/PATH, e.g. unix:/run/askr/askr.sock");
    }
    if (path.size() > max_unix_path) {
        throw ConfigError("the unix socket path is " + std::to_string(path.size()) +
                          " bytes long; the system allows at most " + std::to_string(max_unix_path));
    }
    address.unix_path = std::string(path);
}

// One option after a comma: "proxy-protocol", "mode=0660" (unix sockets).
void parse_listen_option(std::string_view option, ListenAddress& address) {
    if (option == "proxy-protocol") {
        address.proxy_protocol = true;
        return;
    }
    if (option.starts_with("mode=")) {
        if (!address.is_unix()) throw ConfigError("mode= applies to unix:/PATH addresses only");
        const std::string digits(option.substr(5));
        char* end = nullptr;
        const long mode = std::strtol(digits.c_str(), &end, 8);
        if (digits.empty() || *end != '\0' || mode < 0 || mode > 0777) {
            throw ConfigError("mode= takes octal permissions such as 0660 or 0666, not '" + digits + "'");
        }
        address.unix_mode = static_cast<unsigned>(mode);
        return;
    }
    throw ConfigError("unknown listen option '" + std::string(option) +
                      "' (known: proxy-protocol, mode=OCTAL)");
}

ListenAddress parse_address(const std::string& text) {
    ListenAddress address;
    if (text.starts_with("unix:")) {
        parse_unix_path(std::string_view(text).substr(5), address);
        return address;
    }
    std::string port_text;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            throw ConfigError("an IPv6 address is written [ADDRESS]:PORT, e.g. [::1]:8080");
        }
        address.host = text.substr(1, close - 1);
        port_text = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string::npos) {
            throw ConfigError("expected HOST:PORT, e.g. 127.0.0.1:8080 or :8080");
        }
        address.host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
        if (address.host.empty()) address.host = "0.0.0.0";
        if (address.host == "localhost") address.host = "127.0.0.1";
    }
    char* end = nullptr;
    long port = std::strtol(port_text.c_str(), &end, 10);
    if (port_text.empty() || *end != '\0' || port < 0 || port > 65535) {
        throw ConfigError("the port must be a number from 0 to 65535");
    }
    address.port = static_cast<std::uint16_t>(port);
    return address;
}

}  // namespace

ListenAddress parse_listen_address(const std::string& text) {
    const auto comma = text.find(',');
    ListenAddress address = parse_address(text.substr(0, comma));
    for (auto at = comma; at != std::string::npos;) {
        const auto next = text.find(',', at + 1);
        parse_listen_option(std::string_view(text).substr(at + 1, next - at - 1), address);
        at = next;
    }
    return address;
}

bool is_listen_option(const std::string& text) {
    return text == "proxy-protocol" || text.starts_with("mode=");
}

bool is_loopback(const ListenAddress& address) {
    if (address.is_unix()) return true;  // reachable from this machine only
    in_addr v4{};
    if (::inet_pton(AF_INET, address.host.c_str(), &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    in6_addr v6{};
    return ::inet_pton(AF_INET6, address.host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

}  // namespace askr::config
