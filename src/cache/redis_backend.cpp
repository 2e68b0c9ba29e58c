#include "cache/redis_backend.hpp"

#include <charconv>
#include <cstring>
#include <vector>

#include <hiredis/hiredis.h>
#include <openssl/evp.h>

namespace askr::cache {

namespace {

// Adds to a counter, giving a key that did not exist its time to live: one script, so that
// no other client sees the key between INCRBY and PEXPIRE (a window that never expires).
constexpr const char* increment_source = R"LUA(
local created = redis.call('EXISTS', KEYS[1]) == 0
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if created and ARGV[2] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return value
)LUA";

// Deletes a lock only for its owner.
constexpr const char* unlock_source = R"LUA(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
)LUA";

std::string sha1_hex(std::string_view text) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned length = 0;
    EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha1(), nullptr);
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < length; ++i) {
        out += hex[digest[i] >> 4];
        out += hex[digest[i] & 15];
    }
    return out;
}

// SCAN's MATCH is a glob: the prefix's own *, ?, [, ] and \ are escaped.
std::string glob_of_prefix(const std::string& prefix) {
    std::string out;
    for (char c : prefix) {
        if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
        out += c;
    }
    return out + "*";
}

bool is_string(const redisReply& r) {
    return r.type == REDIS_REPLY_STRING || r.type == REDIS_REPLY_STATUS;
}

bool error_says(const redisReply& r, const char* text) {
    return r.type == REDIS_REPLY_ERROR &&
           std::string_view(r.str, r.len).find(text) != std::string_view::npos;
}

bool parse_int64(std::string_view text, std::int64_t& n) {
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), n);
    return !text.empty() && error == std::errc() && end == text.data() + text.size();
}

// A value as Redis holds it: an int as its decimal text; any other type as its tag byte
// (1 to 7, never a digit or '-') and then its bytes, as in the shared-memory table.
void encode(ValueType type, std::string_view bytes, std::string& out) {
    out.clear();
    if (type == ValueType::integer && bytes.size() == sizeof(std::int64_t)) {
        std::int64_t n = 0;
        std::memcpy(&n, bytes.data(), sizeof n);
        out = std::to_string(n);
        return;
    }
    out += static_cast<char>(type);
    out.append(bytes);
}

// The reverse; a value another client wrote (no tag) reads as an int when it is one (as
// INCRBY would count it), else as a string.
void decode(std::string_view stored, ValueType& type, std::string& out) {
    const auto tag = stored.empty() ? 0 : static_cast<unsigned char>(stored[0]);
    if (tag >= static_cast<unsigned char>(ValueType::null) &&
        tag <= static_cast<unsigned char>(ValueType::serialized)) {
        type = static_cast<ValueType>(tag);
        out.assign(stored.substr(1));
        return;
    }
    std::int64_t n = 0;
    if (parse_int64(stored, n)) {
        type = ValueType::integer;
        out.assign(reinterpret_cast<const char*>(&n), sizeof n);
        return;
    }
    type = ValueType::string;
    out.assign(stored);
}

}  // namespace

RedisBackend::RedisBackend(config::RedisUrl url, std::string prefix,
                           std::chrono::milliseconds timeout, std::uint64_t max_value)
    : connection_(std::move(url), timeout),
      prefix_(std::move(prefix)),
      max_value_(max_value),
      increment_script_{increment_source, sha1_hex(increment_source)},
      unlock_script_{unlock_source, sha1_hex(unlock_source)} {}

const std::string& RedisBackend::stored_key(Space space, std::string_view key) {
    key_.assign(prefix_);
    // A NUL byte keeps locks and claims apart from every value's key (none starts with one
    // in practice) while flush's prefix scan still finds them.
    if (space == Space::lock) key_.append(std::string_view("\0lock:", 6));
    if (space == Space::compute) key_.append(std::string_view("\0remember:", 10));
    key_.append(key);
    return key_;
}

RedisReply RedisBackend::eval(const Script& script, std::string_view key,
                              std::initializer_list<std::string_view> arguments) {
    std::vector<std::string_view> command{"EVALSHA", script.sha1, "1", key};
    command.insert(command.end(), arguments.begin(), arguments.end());
    RedisReply reply = connection_.command(command);
    if (reply && error_says(*reply, "NOSCRIPT")) {
        // Not in this server's script cache yet (a restart, a failover): send it whole once.
        command[0] = "EVAL";
        command[1] = script.source;
        reply = connection_.command(command);
    }
    return reply;
}

bool RedisBackend::get(Space space, std::string_view key, ValueType& type, std::string& out) {
    const RedisReply reply = connection_.command({"GET", stored_key(space, key)});
    if (!reply || reply->type != REDIS_REPLY_STRING) {
        if (space == Space::value) ++misses_;
        return false;
    }
    const std::string_view stored(reply->str, reply->len);
    if (space == Space::value) {
        ++hits_;
        decode(stored, type, out);
    } else {
        type = ValueType::string;
        out.assign(stored);
    }
    return true;
}

Status RedisBackend::set(Space space, std::string_view key, ValueType type, std::string_view bytes,
                         std::int64_t ttl_ms, bool only_if_absent) {
    std::string_view value = bytes;  // locks and claims hold the owner as it is
    if (space == Space::value) {
        encode(type, bytes, value_);
        value = value_;
    }
    const std::string ttl = std::to_string(ttl_ms);
    std::vector<std::string_view> command{"SET", stored_key(space, key), value};
    if (ttl_ms > 0) command.insert(command.end(), {"PX", ttl});
    if (only_if_absent) command.push_back("NX");
    const RedisReply reply = connection_.command(command);
    if (!reply) return Status::unavailable;
    if (reply->type == REDIS_REPLY_NIL) return Status::exists;
    if (reply->type == REDIS_REPLY_ERROR)
        return error_says(*reply, "OOM") ? Status::no_memory : Status::unavailable;
    if (space == Space::value) ++sets_;
    return Status::ok;
}

bool RedisBackend::remove(Space space, std::string_view key) {
    const RedisReply reply = connection_.command({"DEL", stored_key(space, key)});
    return reply && reply->type == REDIS_REPLY_INTEGER && reply->integer > 0;
}

bool RedisBackend::remove_if_equal(Space space, std::string_view key, std::string_view expected) {
    const RedisReply reply = eval(unlock_script_, stored_key(space, key), {expected});
    return reply && reply->type == REDIS_REPLY_INTEGER && reply->integer > 0;
}

Status RedisBackend::increment(std::string_view key, std::int64_t by, std::int64_t ttl_ms,
                               std::int64_t& result) {
    // Without a TTL, INCRBY alone has the same semantics and costs Redis no script run
    // (bench/cache.py: 0.90x phpredis's INCR through the script, 1.05x without it).
    const std::string amount = std::to_string(by);
    const RedisReply reply =
        ttl_ms == 0 ? connection_.command({"INCRBY", stored_key(Space::value, key), amount})
                    : eval(increment_script_, stored_key(Space::value, key),
                           {amount, std::to_string(ttl_ms)});
    if (!reply) return Status::unavailable;
    if (reply->type == REDIS_REPLY_INTEGER) {
        result = reply->integer;
        ++sets_;
        return Status::ok;
    }
    if (error_says(*reply, "overflow")) return Status::overflow;
    if (error_says(*reply, "not an integer") || error_says(*reply, "WRONGTYPE"))
        return Status::not_integer;
    return Status::unavailable;
}

bool RedisBackend::flush() {
    const std::string match = glob_of_prefix(prefix_);
    std::string cursor = "0";
    do {
        const RedisReply page =
            connection_.command({"SCAN", cursor, "MATCH", match, "COUNT", "1000"});
        if (!page || page->type != REDIS_REPLY_ARRAY || page->elements != 2 ||
            !is_string(*page->element[0]) || page->element[1]->type != REDIS_REPLY_ARRAY)
            return false;
        cursor.assign(page->element[0]->str, page->element[0]->len);
        const redisReply& keys = *page->element[1];
        if (keys.elements == 0) continue;
        std::vector<std::string_view> command{"UNLINK"};
        for (std::size_t i = 0; i < keys.elements; ++i)
            command.emplace_back(keys.element[i]->str, keys.element[i]->len);
        const RedisReply removed = connection_.command(command);
        if (!removed || removed->type != REDIS_REPLY_INTEGER) return false;
    } while (cursor != "0");
    return true;
}

Info RedisBackend::info() {
    const bool connected = connection_.ping();
    return {
        {"backend", std::string("redis")},
        {"server", connection_.where()},
        {"prefix", prefix_},
        {"connected", connected},
        {"max_value", static_cast<std::int64_t>(max_value_)},
        {"hits", static_cast<std::int64_t>(hits_)},
        {"misses", static_cast<std::int64_t>(misses_)},
        {"sets", static_cast<std::int64_t>(sets_)},
        {"errors", static_cast<std::int64_t>(connection_.errors())},
    };
}

}  // namespace askr::cache
