#pragma once
#include <chrono>
#include <cstdint>
#include <string>

#include "cache/backend.hpp"
#include "cache/redis_connection.hpp"
#include "config/redis_url.hpp"

namespace askr::cache {

/// The cache kept in Redis ([cache] redis), shared by every machine that names the same
/// server and prefix. A value is stored under prefix + key as a type byte and its bytes
/// (an int as its decimal text, so that INCRBY counts it); locks and remember's claims
/// under prefix + "\0lock:" and prefix + "\0remember:". Counters are this process's own.
/// docs/cache.md, "Redis".
class RedisBackend final : public Backend {
  public:
    RedisBackend(config::RedisUrl url, std::string prefix, std::chrono::milliseconds timeout,
                 std::uint64_t max_value);
    RedisBackend(const RedisBackend&) = delete;
    RedisBackend& operator=(const RedisBackend&) = delete;

    bool get(Space space, std::string_view key, ValueType& type, std::string& out) override;
    Status set(Space space, std::string_view key, ValueType type, std::string_view bytes,
               std::int64_t ttl_ms, bool only_if_absent) override;
    bool remove(Space space, std::string_view key) override;
    bool remove_if_equal(Space space, std::string_view key, std::string_view expected) override;
    Status increment(std::string_view key, std::int64_t by, std::int64_t ttl_ms,
                     std::int64_t& result) override;
    bool flush() override;
    std::uint64_t max_value() const override { return max_value_; }
    Info info() override;

  private:
    struct Script {
        const char* source;
        std::string sha1;  // EVALSHA's name for it
    };
    const std::string& stored_key(Space space, std::string_view key);
    RedisReply eval(const Script& script, std::string_view key,
                    std::initializer_list<std::string_view> arguments);

    RedisConnection connection_;
    std::string prefix_;
    std::uint64_t max_value_;
    Script increment_script_;
    Script unlock_script_;
    std::string key_;    // the last key built (one command at a time)
    std::string value_;  // the last value encoded
    std::uint64_t hits_ = 0, misses_ = 0, sets_ = 0;
};

}  // namespace askr::cache
