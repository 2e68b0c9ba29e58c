#include "cache/shm_backend.hpp"

namespace askr::cache {

namespace {

Status status_of(shm::CacheStatus status) {
    switch (status) {
        case shm::CacheStatus::ok:
            return Status::ok;
        case shm::CacheStatus::exists:
            return Status::exists;
        case shm::CacheStatus::too_big:
            return Status::too_big;
        case shm::CacheStatus::not_integer:
            return Status::not_integer;
        case shm::CacheStatus::overflow:
            return Status::overflow;
        case shm::CacheStatus::missing:
        case shm::CacheStatus::no_memory:
            break;
    }
    return Status::no_memory;
}

}  // namespace

bool ShmBackend::get(Space space, std::string_view key, ValueType& type, std::string& out) {
    return table_.get(space, key, type, out);
}

Status ShmBackend::set(Space space, std::string_view key, ValueType type, std::string_view bytes,
                       std::int64_t ttl_ms, bool only_if_absent) {
    return status_of(table_.set(space, key, type, bytes, ttl_ms, only_if_absent));
}

bool ShmBackend::remove(Space space, std::string_view key) {
    return table_.remove(space, key);
}

bool ShmBackend::remove_if_equal(Space space, std::string_view key, std::string_view expected) {
    return table_.remove_if_equal(space, key, expected);
}

Status ShmBackend::increment(std::string_view key, std::int64_t by, std::int64_t ttl_ms,
                             std::int64_t& result) {
    return status_of(table_.increment(key, by, ttl_ms, result));
}

bool ShmBackend::flush() {
    table_.flush();
    return true;
}

Info ShmBackend::info() {
    const shm::CacheInfo info = table_.info();
    Info out{{"backend", std::string("shm")}};
    const std::pair<const char*, std::uint64_t> fields[] = {
        {"slots", info.slots},
        {"used", info.entries},
        {"memory", info.memory},
        {"memory_used", info.memory_used},
        {"max_value", info.max_value},
        {"hits", info.hits},
        {"misses", info.misses},
        {"sets", info.sets},
        {"evictions", info.evictions},
        {"expired", info.expired},
        {"lock_steals", info.lock_steals},
    };
    for (const auto& [name, number] : fields)
        out.emplace_back(name, static_cast<std::int64_t>(number));
    return out;
}

}  // namespace askr::cache
