#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

// Subscription tokens for private channels (docs/broadcast.md, "Private channels"):
// what askr_broadcast_token() gives PHP and what GET /askr/events checks.
namespace askr::shm {

/// Channels whose name starts with this need a token to be subscribed to.
inline constexpr std::string_view private_channel_prefix = "private-";

/// A token allowing `channels` until `expires_unix` (seconds since the epoch):
/// base64url of "EXPIRY\nCHANNEL\nCHANNEL...", a dot, then base64url of its HMAC-SHA256
/// under `secret`.
std::string make_broadcast_token(std::string_view secret, const std::vector<std::string>& channels,
                                 std::int64_t expires_unix);

/// What a token presented by a subscriber is worth.
enum class TokenCheck { ok, malformed, bad_signature, expired };

/// Checks `token` against `secret` at `now_unix`; with `ok`, `channels` holds the channels it
/// allows.
TokenCheck check_broadcast_token(std::string_view secret, std::string_view token,
                                 std::int64_t now_unix, std::vector<std::string>& channels);

}  // namespace askr::shm
