// askr_broadcast(): publishes an event to the subscribers of a channel on every worker
// (shm/broadcast_ring.hpp; docs/broadcast.md is the reference). The PHP thread only
// writes the event into the shared ring and wakes the workers' I/O threads; it never
// writes to a subscriber.
#include <time.h>

#include <string>
#include <vector>

#include "broadcast/redis_stream.hpp"
#include "php/sapi_internal.hpp"
#include "shm/broadcast_ring.hpp"
#include "shm/broadcast_token.hpp"

extern "C" {
#include "php.h"
#include "zend_exceptions.h"
}

namespace askr::php::detail {

shm::BroadcastRing* broadcast = nullptr;
std::uint64_t broadcast_max_data = 0;
std::uint32_t broadcast_max_channel_length = 0;
broadcast::RedisPublisher* broadcast_redis = nullptr;

namespace {

// askr_broadcast(string $channel, string $data, ?string $event = null): string, the
// event's id as a decimal string (ids grow by one per event, server-wide; with Redis they
// are the shared stream's, the same on every node).
PHP_FUNCTION(askr_broadcast) {
    zend_string* channel = nullptr;
    zend_string* data = nullptr;
    zend_string* event = nullptr;
    ZEND_PARSE_PARAMETERS_START(2, 3)
    Z_PARAM_STR(channel)
    Z_PARAM_STR(data)
    Z_PARAM_OPTIONAL
    Z_PARAM_STR_OR_NULL(event)
    ZEND_PARSE_PARAMETERS_END();
    if (!broadcast) {
        zend_throw_error(nullptr,
                         "askr_broadcast(): broadcasting is off; turn it on with [broadcast] "
                         "enabled = true or --broadcast");
        RETURN_THROWS();
    }
    const std::string_view channel_name(ZSTR_VAL(channel), ZSTR_LEN(channel));
    if (const std::string why = shm::channel_name_error(channel_name, broadcast_max_channel_length);
        !why.empty()) {
        zend_argument_value_error(1, "%s", why.c_str());
        RETURN_THROWS();
    }
    if (ZSTR_LEN(data) > broadcast_max_data) {
        zend_argument_value_error(
            2, "must be at most %llu bytes long, got %zu ([broadcast] max_data)",
            static_cast<unsigned long long>(broadcast_max_data), ZSTR_LEN(data));
        RETURN_THROWS();
    }
    std::string_view name;
    if (event) {
        name = {ZSTR_VAL(event), ZSTR_LEN(event)};
        // The event-stream format ends a field at CR or LF (WHATWG HTML, "Parsing an
        // event stream"): a name holding one would inject fields.
        if (name.empty() || name.size() > broadcast_max_channel_length ||
            name.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos) {
            zend_argument_value_error(3, "must be null or 1 to %u bytes without CR, LF or NUL",
                                      broadcast_max_channel_length);
            RETURN_THROWS();
        }
    }
    const std::string_view bytes(ZSTR_VAL(data), ZSTR_LEN(data));
    if (channel_name.size() + name.size() + bytes.size() > broadcast->max_event_bytes()) {
        zend_argument_value_error(2, "is too large for the broadcast ring ([broadcast] ring)");
        RETURN_THROWS();
    }
    // With Redis the event reaches this node's ring through the relay, with the id Redis
    // gave it (broadcast/redis_stream.hpp); the ring only when Redis is away.
    const std::uint64_t id = broadcast_redis
                                 ? broadcast_redis->publish(*broadcast, channel_name, name, bytes)
                                 : broadcast->publish(channel_name, name, bytes);
    if (id == 0) {
        zend_throw_error(nullptr,
                         "askr_broadcast(): the event could not be published (see the "
                         "server's log)");
        RETURN_THROWS();
    }
    RETURN_STR(zend_u64_to_str(id));
}

// A token longer-lived than this is a mistake (a timestamp passed as a duration).
constexpr zend_long max_token_ttl = 366ll * 86400;

// askr_broadcast_token(array $channels, int $ttl): string, a token that lets a browser
// subscribe to `private-` channels among $channels for $ttl seconds (?token= or
// Authorization: Bearer on GET /askr/events).
PHP_FUNCTION(askr_broadcast_token) {
    HashTable* list = nullptr;
    zend_long ttl = 0;
    ZEND_PARSE_PARAMETERS_START(2, 2)
    Z_PARAM_ARRAY_HT(list)
    Z_PARAM_LONG(ttl)
    ZEND_PARSE_PARAMETERS_END();
    if (!broadcast) {
        zend_throw_error(nullptr,
                         "askr_broadcast_token(): broadcasting is off; turn it on with "
                         "[broadcast] enabled = true or --broadcast");
        RETURN_THROWS();
    }
    std::vector<std::string> channels;
    zval* item = nullptr;
    ZEND_HASH_FOREACH_VAL(list, item) {
        ZVAL_DEREF(item);
        if (Z_TYPE_P(item) != IS_STRING) {
            zend_argument_type_error(1, "must be an array of channel names (strings)");
            RETURN_THROWS();
        }
        const std::string_view name(Z_STRVAL_P(item), Z_STRLEN_P(item));
        if (const std::string why = shm::channel_name_error(name, broadcast_max_channel_length);
            !why.empty()) {
            zend_argument_value_error(1, "holds \"%s\", which %s",
                                      std::string(name.substr(0, 80)).c_str(), why.c_str());
            RETURN_THROWS();
        }
        channels.emplace_back(name);
    }
    ZEND_HASH_FOREACH_END();
    if (channels.empty()) {
        zend_argument_value_error(1, "must name at least one channel");
        RETURN_THROWS();
    }
    if (ttl < 1 || ttl > max_token_ttl) {
        zend_argument_value_error(2, "must be a number of seconds from 1 to %lld",
                                  static_cast<long long>(max_token_ttl));
        RETURN_THROWS();
    }
    const std::string token =
        shm::make_broadcast_token(broadcast->secret(), channels, ::time(nullptr) + ttl);
    RETURN_STRINGL(token.data(), token.size());
}

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_token, 0, 2, IS_STRING, 0)
ZEND_ARG_TYPE_INFO(0, channels, IS_ARRAY, 0)
ZEND_ARG_TYPE_INFO(0, ttl, IS_LONG, 0)
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_broadcast, 0, 2, IS_STRING, 0)
ZEND_ARG_TYPE_INFO(0, channel, IS_STRING, 0)
ZEND_ARG_TYPE_INFO(0, data, IS_STRING, 0)
ZEND_ARG_TYPE_INFO_WITH_DEFAULT_VALUE(0, event, IS_STRING, 1, "null")
ZEND_END_ARG_INFO()

}  // namespace

const zend_function_entry broadcast_functions[] = {
    ZEND_RAW_FENTRY("askr_broadcast", zif_askr_broadcast, arginfo_broadcast, 0) ZEND_RAW_FENTRY(
        "askr_broadcast_token", zif_askr_broadcast_token, arginfo_token, 0) ZEND_FE_END};

}  // namespace askr::php::detail
