#pragma once
// [cache] redis: where the Redis server behind askr_cache_*() is (docs/cache.md, "Redis").
#include <cstdint>
#include <string>

namespace askr::config {

/// A Redis server to connect to: TCP (host and port) or a unix socket, then AUTH and SELECT.
struct RedisUrl {
    std::string host;  ///< "127.0.0.1", "redis.internal", "::1"; empty for a unix socket
    std::uint16_t port = 6379;
    std::string unix_path;  ///< absolute path of the socket, or empty
    std::string user;       ///< AUTH user (Redis 6 ACL), empty for the default user
    std::string password;   ///< AUTH password, empty for none
    unsigned db = 0;        ///< SELECT
    bool is_unix() const { return !unix_path.empty(); }
    /// Where it is, for messages, without the password: "127.0.0.1:6379 db 0",
    /// "unix:/run/redis.sock db 2".
    std::string describe() const;
};

/// Parses `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]` (HOST may be [IPv6]; PORT 6379 by
/// default; USER and PASSWORD percent-decoded) or `unix:/PATH[?db=N][&password=P][&user=U]`;
/// throws ConfigError saying what is wrong and how to write it.
RedisUrl parse_redis_url(const std::string& text);

}  // namespace askr::config
