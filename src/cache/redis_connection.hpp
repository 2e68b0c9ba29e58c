#pragma once
// One connection to Redis (hiredis, blocking with timeouts), opened when first needed in
// the process that uses it and reopened by itself after a failure.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "config/redis_url.hpp"
#include "core/log.hpp"

struct redisContext;
struct redisReply;

namespace askr::cache {

/// Frees a hiredis reply.
struct ReplyDeleter {
    void operator()(redisReply* reply) const;
};
/// A reply from Redis, owned.
using RedisReply = std::unique_ptr<redisReply, ReplyDeleter>;

/// Frees a hiredis context (closes its socket).
struct ContextDeleter {
    void operator()(redisContext* context) const;
};

/// What a connection is for, in its log lines: "cache" and "askr_cache_*() act as misses
/// until it answers", or broadcasting's.
struct RedisPurpose {
    const char* subsystem = "cache";       ///< the log lines' prefix
    const char* option = "[cache] redis";  ///< where the URL is configured
    const char* while_down = "askr_cache_*() act as misses until it answers";
};

/// A connection to the Redis server of `url` for one process. It connects on first use,
/// and again in a forked child (a connection is never shared across fork()); an error or
/// a timeout closes it, is logged (at most once a second) and starts a short backoff
/// (100 ms, doubling to 1 s) during which commands fail at once, so a dead Redis does not
/// cost a timeout on every call. Not thread-safe: one thread (PHP's) uses it.
class RedisConnection {
  public:
    RedisConnection(config::RedisUrl url, std::chrono::milliseconds timeout,
                    RedisPurpose purpose = {});
    ~RedisConnection();
    RedisConnection(const RedisConnection&) = delete;
    RedisConnection& operator=(const RedisConnection&) = delete;

    /// Sends one command (each argument as bytes) and returns its reply; null when Redis
    /// could not be reached or did not answer in time. An error reply (REDIS_REPLY_ERROR)
    /// comes back as a reply.
    RedisReply command(std::span<const std::string_view> arguments);
    RedisReply command(std::initializer_list<std::string_view> arguments) {
        return command(std::span<const std::string_view>(arguments.begin(), arguments.size()));
    }
    /// Connects now (AUTH and SELECT included), ignoring any backoff; false with the
    /// reason in `error` (askr doctor).
    bool connect(std::string& error);
    /// True when Redis answers PING now.
    bool ping();
    /// Failed connects and commands in this process.
    std::uint64_t errors() const { return errors_; }
    /// Where Redis is, without the password.
    std::string where() const { return url_.describe(); }
    /// True while the last attempt failed (Redis is away or refusing).
    bool failing() const { return failing_; }

  private:
    bool usable();
    void failed(const std::string& what);

    config::RedisUrl url_;
    std::chrono::milliseconds timeout_;
    RedisPurpose purpose_;
    std::unique_ptr<redisContext, ContextDeleter> context_;
    pid_t owner_ = 0;  // the process that opened context_
    std::chrono::steady_clock::time_point retry_at_{};
    std::chrono::milliseconds backoff_;
    bool failing_ = false;  // the last attempt failed (a recovery is logged)
    std::uint64_t errors_ = 0;
    core::LogThrottle log_throttle_;
};

}  // namespace askr::cache
