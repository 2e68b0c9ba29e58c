#pragma once
// Broadcasting across nodes ([broadcast] redis; docs/broadcast.md, "Several nodes
// (Redis)"): every event goes into one Redis stream that all nodes share, each node's relay
// (relay.hpp) copies the stream into its own ring, and an event's id everywhere is derived
// from its stream id. This header holds what the publishing side and the relay share.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cache/redis_connection.hpp"
#include "config/redis_url.hpp"

namespace askr::shm {
class BroadcastRing;
}

namespace askr::broadcast {

/// The limits every event keeps, whether askr_broadcast() made it here or the relay read it
/// from Redis (where any client may have written anything).
struct EventLimits {
    std::uint32_t max_channel_length = 64;  ///< [broadcast] max_channel_length
    std::uint64_t max_data = 64 << 10;      ///< [broadcast] max_data
};

/// What is wrong with the event (channel, event name, data), "" when nothing: the channel
/// as shm::channel_name_error() has it, a name of 0 (none) to max_channel_length bytes
/// without CR, LF or NUL, data of at most max_data bytes.
std::string event_error(std::string_view channel, std::string_view name, std::string_view data,
                        const EventLimits& limits);

/// The ring id of the Redis stream id "MS-SEQ": MS × 2^20 + SEQ, so that ring ids sort as
/// stream ids do; none when the text is not a stream id or does not fit (SEQ of 2^20 or
/// more, MS of 2^44 or more: the year 2527).
std::optional<std::uint64_t> ring_id(std::string_view stream_id);
/// The stream id "MS-SEQ" of a ring id.
std::string stream_id(std::uint64_t ring_id);

/// Where the shared stream is and how it is used.
struct StreamSettings {
    config::RedisUrl url;
    std::string key = "askr:broadcast";      ///< the stream's key
    std::uint32_t length = 10000;            ///< XADD MAXLEN ~ this
    std::chrono::milliseconds timeout{250};  ///< connect and XADD (the publisher)
    EventLimits limits;
};

/// askr_broadcast()'s path with Redis, one per process (its PHP thread): XADD to the
/// stream, whose id becomes the event's; the event reaches this node's ring through the
/// relay like every other node's. When Redis cannot be reached or does not answer within
/// the timeout, the event goes into this node's ring at once (its subscribers get it, the
/// other nodes do not), and when Redis answers again the log says which events those
/// were. Not thread-safe.
class RedisPublisher {
  public:
    explicit RedisPublisher(StreamSettings settings);
    RedisPublisher(const RedisPublisher&) = delete;
    RedisPublisher& operator=(const RedisPublisher&) = delete;

    /// Publishes a checked event; its id, or 0 when Redis gave it an id no ring id maps to
    /// (logged).
    std::uint64_t publish(shm::BroadcastRing& ring, std::string_view channel, std::string_view name,
                          std::string_view data);

  private:
    StreamSettings settings_;
    cache::RedisConnection connection_;
    std::string length_;
    // Events this process published to its own node only while Redis was away.
    std::uint64_t local_only_ = 0, first_local_id_ = 0, last_local_id_ = 0;
};

}  // namespace askr::broadcast
