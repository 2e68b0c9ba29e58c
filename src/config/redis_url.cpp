#include "config/redis_url.hpp"

#include <charconv>

#include "config/serve_options.hpp"

namespace askr::config {

namespace {

constexpr const char* forms =
    "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] (e.g. redis://127.0.0.1:6379/0, "
    "redis://:secret@10.0.0.5) or unix:/PATH[?db=N&password=SECRET] (e.g. "
    "unix:/run/redis/redis-server.sock?db=1)";

[[noreturn]] void fail(const std::string& text, const std::string& problem) {
    throw ConfigError("\"" + text + "\": " + problem + "; expected " + forms);
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// %XX escapes, for a password holding '@', ':', '/', '?' or '&'.
std::string percent_decoded(const std::string& text, const std::string& part,
                            const std::string& whole) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            out += text[i];
            continue;
        }
        const int high = i + 1 < text.size() ? hex_digit(text[i + 1]) : -1;
        const int low = i + 2 < text.size() ? hex_digit(text[i + 2]) : -1;
        if (high < 0 || low < 0)
            fail(whole,
                 "the " + part + " has a % not followed by two hex digits (write %25 for %)");
        out += static_cast<char>(high * 16 + low);
        i += 2;
    }
    return out;
}

unsigned parse_db(const std::string& digits, const std::string& whole) {
    unsigned db = 0;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), db);
    if (digits.empty() || error != std::errc() || end != digits.data() + digits.size() ||
        db > 1'000'000) {
        fail(whole, "the database \"" + digits + "\" is not a number (SELECT takes 0, 1, ...)");
    }
    return db;
}

RedisUrl parse_unix(const std::string& text) {
    RedisUrl url;
    std::string rest = text.substr(5);               // after "unix:"
    if (rest.rfind("//", 0) == 0) rest.erase(0, 2);  // unix:///path is read as unix:/path
    const auto question = rest.find('?');
    url.unix_path = rest.substr(0, question);
    if (url.unix_path.empty() || url.unix_path[0] != '/')
        fail(text, "the socket path must be absolute");
    if (question == std::string::npos) return url;
    std::string query = rest.substr(question + 1);
    std::size_t start = 0;
    while (start <= query.size()) {
        const auto amp = query.find('&', start);
        const std::string item = query.substr(start, amp == std::string::npos ? amp : amp - start);
        const auto eq = item.find('=');
        const std::string name = item.substr(0, eq);
        const std::string value = eq == std::string::npos ? "" : item.substr(eq + 1);
        if (eq == std::string::npos) {
            fail(text, "\"" + item + "\" after ? is not NAME=VALUE (db, password or user)");
        } else if (name == "db") {
            url.db = parse_db(value, text);
        } else if (name == "password") {
            url.password = percent_decoded(value, "password", text);
        } else if (name == "user") {
            url.user = percent_decoded(value, "user", text);
        } else {
            fail(text, "unknown setting \"" + name + "\" after ? (db, password or user)");
        }
        if (amp == std::string::npos) break;
        start = amp + 1;
    }
    return url;
}

RedisUrl parse_tcp(const std::string& text) {
    RedisUrl url;
    std::string rest = text.substr(8);  // after "redis://"
    if (rest.find('?') != std::string::npos)
        fail(text, "redis:// takes no ?settings (put the database after /, the password before @)");
    const auto slash = rest.find('/');
    std::string authority = rest.substr(0, slash);
    if (slash != std::string::npos) {
        const std::string path = rest.substr(slash + 1);
        if (!path.empty()) url.db = parse_db(path, text);
    }
    const auto at = authority.rfind('@');
    if (at != std::string::npos) {
        const std::string userinfo = authority.substr(0, at);
        authority.erase(0, at + 1);
        const auto colon = userinfo.find(':');
        if (colon == std::string::npos) {
            // redis://secret@host is how some clients write a password alone.
            url.password = percent_decoded(userinfo, "password", text);
        } else {
            url.user = percent_decoded(userinfo.substr(0, colon), "user", text);
            url.password = percent_decoded(userinfo.substr(colon + 1), "password", text);
        }
    }
    std::string port;
    if (!authority.empty() && authority[0] == '[') {
        const auto close = authority.find(']');
        if (close == std::string::npos) fail(text, "an IPv6 address is missing its ]");
        url.host = authority.substr(1, close - 1);
        const std::string after = authority.substr(close + 1);
        if (!after.empty() && after[0] != ':') fail(text, "expected :PORT after the ]");
        if (!after.empty()) port = after.substr(1);
        if (after == ":") fail(text, "the port is empty");
    } else {
        const auto colon = authority.find(':');
        url.host = authority.substr(0, colon);
        if (colon != std::string::npos) {
            port = authority.substr(colon + 1);
            if (port.empty()) fail(text, "the port is empty");
        }
    }
    if (url.host.empty()) fail(text, "the host is missing");
    if (!port.empty()) {
        unsigned number = 0;
        const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), number);
        if (error != std::errc() || end != port.data() + port.size() || number == 0 ||
            number > 65535)
            fail(text, "the port \"" + port + "\" is not a number from 1 to 65535");
        url.port = static_cast<std::uint16_t>(number);
    }
    return url;
}

}  // namespace

std::string RedisUrl::describe() const {
    std::string where = is_unix()
                            ? "unix:" + unix_path
                            : (host.find(':') != std::string::npos ? "[" + host + "]" : host) +
                                  ":" + std::to_string(port);
    return where + " db " + std::to_string(db);
}

RedisUrl parse_redis_url(const std::string& text) {
    if (text.rfind("redis://", 0) == 0) return parse_tcp(text);
    if (text.rfind("unix:", 0) == 0) return parse_unix(text);
    if (text.rfind("rediss://", 0) == 0)
        fail(text,
             "TLS to Redis (rediss://) is not supported; reach Redis over a private network, a "
             "unix socket or a local TLS tunnel");
    fail(text, "it starts with neither redis:// nor unix:");
}

}  // namespace askr::config
