#include "config/serve_options.hpp"

#include <arpa/inet.h>

#include <cstdlib>

namespace askr::config {

namespace {

// The options after the address, comma-separated: "proxy-protocol".
void parse_listen_options(const std::string& text, ListenAddress& address) {
    std::size_t start = 0;
    for (;;) {
        const auto comma = text.find(',', start);
        const std::string option = text.substr(start, comma - start);
        if (option == "proxy-protocol") {
            address.proxy_protocol = true;
        } else {
            throw ConfigError("unknown listen option \"" + option +
                              "\" (the options, after a comma: proxy-protocol)");
        }
        if (comma == std::string::npos) return;
        start = comma + 1;
    }
}

}  // namespace

// The options parse_listen_options() knows.
bool is_listen_option(const std::string& text) { return text == "proxy-protocol"; }

std::string ListenAddress::text() const {
    const bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) +
           (proxy_protocol ? ",proxy-protocol" : "");
}

ListenAddress parse_listen_address(const std::string& full_text) {
    const auto comma = full_text.find(',');
    const std::string text = full_text.substr(0, comma);
    ListenAddress address;
    if (comma != std::string::npos) parse_listen_options(full_text.substr(comma + 1), address);
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

bool is_loopback(const ListenAddress& address) {
    in_addr v4{};
    if (::inet_pton(AF_INET, address.host.c_str(), &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    in6_addr v6{};
    return ::inet_pton(AF_INET6, address.host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

}  // namespace askr::config
