#include "broadcast/redis_stream.hpp"

#include <charconv>

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include "shm/broadcast_ring.hpp"

namespace askr::broadcast {

namespace {

constexpr unsigned sequence_bits = 20;
constexpr std::uint64_t largest_sequence = (std::uint64_t{1} << sequence_bits) - 1;
constexpr std::uint64_t largest_ms = (std::uint64_t{1} << (64 - sequence_bits)) - 1;

bool parse_u64(std::string_view text, std::uint64_t& n) {
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), n);
    return !text.empty() && error == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::string event_error(std::string_view channel, std::string_view name, std::string_view data,
                        const EventLimits& limits) {
    if (std::string why = shm::channel_name_error(channel, limits.max_channel_length); !why.empty())
        return "its channel " + why;
    // The event-stream format ends a field at CR or LF (WHATWG HTML, "Parsing an event
    // stream"): a name holding one would inject fields.
    if (name.size() > limits.max_channel_length ||
        name.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos)
        return "its event name must be 0 to " + std::to_string(limits.max_channel_length) +
               " bytes without CR, LF or NUL";
    if (data.size() > limits.max_data)
        return "its data is " + std::to_string(data.size()) +
               " bytes, more than [broadcast] "
               "max_data (" +
               std::to_string(limits.max_data) + ")";
    return {};
}

std::optional<std::uint64_t> ring_id(std::string_view text) {
    const auto dash = text.find('-');
    if (dash == std::string_view::npos) return std::nullopt;
    std::uint64_t ms = 0, sequence = 0;
    if (!parse_u64(text.substr(0, dash), ms) || !parse_u64(text.substr(dash + 1), sequence) ||
        ms > largest_ms || sequence > largest_sequence)
        return std::nullopt;
    return ms << sequence_bits | sequence;
}

std::string stream_id(std::uint64_t id) {
    return std::to_string(id >> sequence_bits) + "-" + std::to_string(id & largest_sequence);
}

RedisPublisher::RedisPublisher(StreamSettings settings)
    : settings_(std::move(settings)),
      connection_(
          settings_.url, settings_.timeout,
          {.subsystem = "broadcast",
           .option = "[broadcast] redis",
           .while_down = "askr_broadcast() reaches this node's subscribers only until it answers"}),
      length_(std::to_string(settings_.length)) {}

std::uint64_t RedisPublisher::publish(shm::BroadcastRing& ring, std::string_view channel,
                                      std::string_view name, std::string_view data) {
    const cache::RedisReply reply = connection_.command(
        {"XADD", settings_.key, "MAXLEN", "~", length_, "*", "c", channel, "n", name, "d", data});
    if (reply && reply->type == REDIS_REPLY_STRING) {
        if (local_only_ > 0) {
            spdlog::warn(
                "broadcast: Redis {} takes events again; {} event(s) published here while it "
                "was away (ids {} to {}) reached only this node's subscribers",
                connection_.where(), local_only_, first_local_id_, last_local_id_);
            local_only_ = 0;
        }
        const std::string_view text(reply->str, reply->len);
        if (const auto id = ring_id(text)) return *id;
        spdlog::error(
            "broadcast: Redis {} gave the event the stream id {}, which no ring id "
            "maps to (is {} written by something else than askr?)",
            connection_.where(), text, settings_.key);
        return 0;
    }
    if (reply && reply->type == REDIS_REPLY_ERROR) {
        static core::LogThrottle throttle;
        std::uint64_t held_back = 0;
        if (throttle.allow(held_back))
            spdlog::error(
                "broadcast: Redis {} refused XADD to {}: {}; the event reaches this "
                "node's subscribers only{}",
                connection_.where(), settings_.key, std::string_view(reply->str, reply->len),
                held_back ? " (" + std::to_string(held_back) + " more not logged)" : "");
    }
    // Redis is away (the connection logged why): this node's subscribers still get it.
    const std::uint64_t id = ring.publish(channel, name, data);
    if (id != 0) {
        if (local_only_++ == 0) first_local_id_ = id;
        last_local_id_ = id;
    }
    return id;
}

}  // namespace askr::broadcast
