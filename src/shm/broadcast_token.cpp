#include "shm/broadcast_token.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <charconv>

namespace askr::shm {

namespace {

constexpr char base64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// RFC 4648 section 5, without padding.
std::string base64url(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::uint32_t bits = 0;
    int count = 0;
    for (unsigned char c : bytes) {
        bits = (bits << 8) | c;
        count += 8;
        while (count >= 6) {
            count -= 6;
            out += base64url_alphabet[(bits >> count) & 63];
        }
    }
    if (count > 0) out += base64url_alphabet[(bits << (6 - count)) & 63];
    return out;
}

bool from_base64url(std::string_view text, std::string& out) {
    out.clear();
    std::uint32_t bits = 0;
    int count = 0;
    for (char c : text) {
        int value;
        if (c >= 'A' && c <= 'Z') {
            value = c - 'A';
        } else if (c >= 'a' && c <= 'z') {
            value = c - 'a' + 26;
        } else if (c >= '0' && c <= '9') {
            value = c - '0' + 52;
        } else if (c == '-') {
            value = 62;
        } else if (c == '_') {
            value = 63;
        } else {
            return false;
        }
        bits = (bits << 6) | static_cast<std::uint32_t>(value);
        count += 6;
        if (count >= 8) {
            count -= 8;
            out += static_cast<char>((bits >> count) & 0xff);
        }
    }
    return true;
}

std::string signature(std::string_view secret, std::string_view payload) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(payload.data()), payload.size(), mac, &length);
    return std::string(reinterpret_cast<const char*>(mac), length);
}

}  // namespace

std::string make_broadcast_token(std::string_view secret, const std::vector<std::string>& channels,
                                 std::int64_t expires_unix) {
    std::string payload = std::to_string(expires_unix);
    for (const auto& channel : channels) payload.append("\n").append(channel);
    return base64url(payload) + "." + base64url(signature(secret, payload));
}

TokenCheck check_broadcast_token(std::string_view secret, std::string_view token,
                                 std::int64_t now_unix, std::vector<std::string>& channels) {
    channels.clear();
    const auto dot = token.find('.');
    std::string payload, mac;
    if (dot == std::string_view::npos || token.size() > 8192 ||
        !from_base64url(token.substr(0, dot), payload) ||
        !from_base64url(token.substr(dot + 1), mac))
        return TokenCheck::malformed;
    const std::string expected = signature(secret, payload);
    if (mac.size() != expected.size() ||
        CRYPTO_memcmp(mac.data(), expected.data(), expected.size()) != 0)
        return TokenCheck::bad_signature;
    const std::string_view text = payload;
    auto eol = text.find('\n');
    const std::string_view expiry = text.substr(0, eol);
    std::int64_t expires = 0;
    const auto [end, ec] = std::from_chars(expiry.data(), expiry.data() + expiry.size(), expires);
    if (ec != std::errc() || end != expiry.data() + expiry.size()) return TokenCheck::malformed;
    if (expires <= now_unix) return TokenCheck::expired;
    while (eol != std::string_view::npos) {
        const auto next = text.find('\n', eol + 1);
        channels.emplace_back(
            text.substr(eol + 1, next == std::string_view::npos ? next : next - eol - 1));
        eol = next;
    }
    return TokenCheck::ok;
}

}  // namespace askr::shm
