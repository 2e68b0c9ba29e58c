#include "broadcast/relay.hpp"

#include <unistd.h>

#include <algorithm>
#include <thread>

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include "core/log.hpp"
#include "shm/broadcast_ring.hpp"

namespace askr::broadcast {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// XREAD waits this long for new entries, then asks again (the socket timeout is longer).
constexpr milliseconds block_for{1000};
// Entries one read takes at most: what the relay holds at a time.
constexpr std::size_t batch = 100;
constexpr milliseconds first_delay{100};
constexpr milliseconds longest_delay{5000};

std::string_view text_of(const redisReply& reply) {
    return {reply.str, reply.len};
}

bool is_text(const redisReply* reply) {
    return reply && (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS);
}

class Relay {
  public:
    Relay(const StreamSettings& settings, shm::BroadcastRing& ring)
        : settings_(settings),
          ring_(ring),
          connection_(settings.url, settings.timeout + block_for,
                      {.subsystem = "broadcast relay",
                       .option = "[broadcast] redis",
                       .while_down = "this node's subscribers get only the events published "
                                     "here until it answers"}),
          position_(ring.relay_position()),
          from_(position_ ? stream_id(position_) : "0-0") {}

    [[noreturn]] void run() {
        spdlog::info("broadcast relay {}: relaying the stream {} on Redis {} into this node's ring",
                     ::getpid(), settings_.key, connection_.where());
        milliseconds delay = first_delay;
        bool synced = false, away = false;
        Clock::time_point away_since{};
        for (;;) {
            if (!synced) {
                synced = position_ == 0 ? fill_ring() : catch_up();
                if (!synced) {
                    if (!away) away_since = Clock::now();
                    away = true;
                    std::this_thread::sleep_for(delay);
                    delay = std::min(delay * 2, longest_delay);
                    continue;
                }
                delay = first_delay;
                if (away) {
                    spdlog::info(
                        "broadcast relay: reading {} on Redis {} again, after id {} ({} s away)",
                        settings_.key, connection_.where(), from_,
                        std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - away_since)
                            .count());
                    away = false;
                }
            }
            if (!read_new()) {
                synced = false;
                if (!away) away_since = Clock::now();
                away = true;
            }
        }
    }

  private:
    // First start (the ring has never had the stream): copies what the stream still holds,
    // so that this node resumes clients that come from other nodes. Events before the
    // first one copied were never all here: resuming before them is a reset.
    bool fill_ring() {
        const cache::RedisReply time = connection_.command({"TIME"});
        if (!time || time->type != REDIS_REPLY_ARRAY || time->elements != 2 ||
            !is_text(time->element[0]))
            return false;
        std::uint64_t now_ms = 0;
        try {
            now_ms = std::stoull(std::string(text_of(*time->element[0]))) * 1000;
        } catch (const std::exception&) {
            return false;
        }
        std::string from = "-";
        std::size_t copied = 0;
        for (;;) {
            const cache::RedisReply page = connection_.command(
                {"XRANGE", settings_.key, from, "+", "COUNT", std::to_string(batch)});
            if (!page) return false;
            if (page->type != REDIS_REPLY_ARRAY) return refused("XRANGE", *page);
            for (std::size_t i = 0; i < page->elements; ++i) {
                const redisReply& entry = *page->element[i];
                if (copied == 0 && entry.type == REDIS_REPLY_ARRAY && entry.elements == 2 &&
                    is_text(entry.element[0])) {
                    if (const auto first = ring_id(text_of(*entry.element[0])))
                        ring_.forget_before(*first);
                }
                take(entry);
                ++copied;
            }
            if (page->elements < batch) break;
            from = "(" + from_;
        }
        if (position_ == 0) {
            // Nothing (usable) yet: everything from Redis' present on is read.
            position_ = (now_ms << 20) - 1;
            from_ = stream_id(position_);
            ring_.forget_before(position_ + 1);
            ring_.set_relay_position(position_);
        }
        spdlog::info(
            "broadcast relay: {} recent event(s) of {} copied into the ring; live from "
            "id {} on",
            copied, settings_.key, from_);
        return true;
    }

    // After Redis was away: says what this node may have missed.
    bool catch_up() {
        const cache::RedisReply info = connection_.command({"XINFO", "STREAM", settings_.key});
        if (!info) return false;
        if (info->type == REDIS_REPLY_ERROR) {
            if (text_of(*info).find("no such key") == std::string_view::npos)
                return refused("XINFO STREAM", *info);
            spdlog::warn(
                "broadcast relay: the stream {} is not on Redis {} (Redis restarted without its "
                "data, or the key was deleted): any event published after id {} that this node "
                "had not read yet is lost to it",
                settings_.key, connection_.where(), position_);
            return true;
        }
        if (info->type != REDIS_REPLY_ARRAY) return false;
        std::optional<std::uint64_t> last_generated, max_deleted;
        for (std::size_t i = 0; i + 1 < info->elements; i += 2) {
            if (!is_text(info->element[i]) || !is_text(info->element[i + 1])) continue;
            const std::string_view field = text_of(*info->element[i]);
            if (field == "last-generated-id")
                last_generated = ring_id(text_of(*info->element[i + 1]));
            if (field == "max-deleted-entry-id")  // Redis 7
                max_deleted = ring_id(text_of(*info->element[i + 1]));
        }
        if (last_generated && *last_generated < position_) {
            spdlog::warn(
                "broadcast relay: the stream {} on Redis {} ends before id {}, where this node "
                "was (a new Redis, or one restarted without its data): reading it from its "
                "start; its events get ids of this node",
                settings_.key, connection_.where(), position_);
            from_ = "0-0";
        } else if (max_deleted && *max_deleted > position_) {
            spdlog::warn(
                "broadcast relay: events after id {} up to id {} were trimmed from {} before "
                "this node read them ([broadcast] redis_length): its subscribers missed them, "
                "and a Last-Event-ID before them gets askr-reset",
                position_, *max_deleted, settings_.key);
            ring_.forget_before(*max_deleted + 1);
        }
        return true;
    }

    // One XREAD: waits up to block_for for new entries and copies them.
    bool read_new() {
        const cache::RedisReply reply = connection_.command(
            {"XREAD", "COUNT", std::to_string(batch), "BLOCK", std::to_string(block_for.count()),
             "STREAMS", settings_.key, from_});
        if (!reply) return false;
        if (reply->type == REDIS_REPLY_NIL) return true;
        if (reply->type != REDIS_REPLY_ARRAY) return refused("XREAD", *reply);
        for (std::size_t s = 0; s < reply->elements; ++s) {
            const redisReply& stream = *reply->element[s];
            if (stream.type != REDIS_REPLY_ARRAY || stream.elements != 2 ||
                stream.element[1]->type != REDIS_REPLY_ARRAY)
                continue;
            const redisReply& entries = *stream.element[1];
            for (std::size_t i = 0; i < entries.elements; ++i) take(*entries.element[i]);
        }
        return true;
    }

    // One stream entry: ["MS-SEQ", ["c", channel, "n", name, "d", data]].
    void take(const redisReply& entry) {
        if (entry.type != REDIS_REPLY_ARRAY || entry.elements != 2 || !is_text(entry.element[0]) ||
            entry.element[1]->type != REDIS_REPLY_ARRAY)
            return skip("?", "it is not a stream entry");
        const std::string_view text = text_of(*entry.element[0]);
        from_.assign(text);  // read on after it, whatever it holds
        const auto id = ring_id(text);
        if (!id) return skip(text, "its id does not map to a ring id");
        position_ = std::max(position_, *id);
        const redisReply& fields = *entry.element[1];
        std::optional<std::string_view> channel;
        std::string_view name, data;
        for (std::size_t i = 0; i + 1 < fields.elements; i += 2) {
            if (!is_text(fields.element[i]) || !is_text(fields.element[i + 1])) continue;
            const std::string_view field = text_of(*fields.element[i]);
            const std::string_view value = text_of(*fields.element[i + 1]);
            if (field == "c") channel = value;
            if (field == "n") name = value;
            if (field == "d") data = value;
        }
        if (!channel) return skip(text, "it has no channel (field c)");
        if (std::string why = event_error(*channel, name, data, settings_.limits); !why.empty())
            return skip(text, why);
        const std::uint64_t got = ring_.publish(*channel, name, data, *id);
        ring_.set_relay_position(position_);
        if (got != *id) {
            std::uint64_t held_back = 0;
            if (renumbered_log_.allow(held_back)) {
                spdlog::warn(
                    "broadcast relay: the event {} of {} comes after newer ones in this node's "
                    "ring (published here while Redis was away, or Redis' clock went back): "
                    "it gets the id {} here{}",
                    *id, settings_.key, got,
                    held_back ? " (" + std::to_string(held_back) + " more not logged)" : "");
            }
        }
    }

    void skip(std::string_view id, const std::string& why) {
        std::uint64_t held_back = 0;
        if (!skip_log_.allow(held_back)) return;
        spdlog::error("broadcast relay: entry {} of {} skipped: {}{}", id, settings_.key, why,
                      held_back ? " (" + std::to_string(held_back) + " more not logged)" : "");
    }

    bool refused(const char* command, const redisReply& reply) {
        std::uint64_t held_back = 0;
        if (refused_log_.allow(held_back)) {
            spdlog::error("broadcast relay: Redis {} answered {} on {} with {}{}",
                          connection_.where(), command, settings_.key,
                          reply.type == REDIS_REPLY_ERROR
                              ? std::string(text_of(reply))
                              : "a reply of type " + std::to_string(reply.type),
                          held_back ? " (" + std::to_string(held_back) + " more not logged)" : "");
        }
        return false;
    }

    const StreamSettings& settings_;
    shm::BroadcastRing& ring_;
    cache::RedisConnection connection_;
    std::uint64_t position_;  // the newest ring id read from the stream
    std::string from_;        // the stream id XREAD goes on after
    core::LogThrottle skip_log_, renumbered_log_, refused_log_;
};

}  // namespace

void run_relay(const StreamSettings& settings, shm::BroadcastRing& ring) {
    Relay relay(settings, ring);
    relay.run();
}

}  // namespace askr::broadcast
