#pragma once
// The store behind askr_cache_*() (docs/cache.md): one interface, two implementations —
// the shared-memory table of one machine (shm_backend.hpp) and Redis, for several
// (redis_backend.hpp). The PHP functions (src/php/cache_functions.cpp) have one code path
// over it; the values they hand over are already encoded (a type and bytes).
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "shm/cache_table.hpp"

namespace askr::cache {

/// How a value's bytes are read back (the shared-memory table's tags; Redis stores the same).
using ValueType = shm::CacheType;
/// Values, locks and remember's claims: three namespaces that never meet.
using Space = shm::CacheSpace;

/// What happened to a write.
enum class Status {
    ok,
    exists,       ///< add/lock: the key is present (and not expired)
    too_big,      ///< over what the store takes
    no_memory,    ///< the shared-memory table could not make room
    not_integer,  ///< increment: the present value is not an integer
    overflow,     ///< increment: the result does not fit in 64 bits
    unavailable,  ///< Redis did not answer (down, slow, refused): nothing was done
};

/// One line of askr_cache_info().
using InfoValue = std::variant<std::int64_t, bool, std::string>;
using Info = std::vector<std::pair<std::string, InfoValue>>;

/// The operations askr_cache_*() need. Keys are 1 to 250 bytes (checked by the caller).
/// Called from the PHP thread only.
class Backend {
  public:
    virtual ~Backend() = default;
    /// Copies the value of `key` into `out`, its type into `type`; false when absent,
    /// expired or unreachable (a miss).
    virtual bool get(Space space, std::string_view key, ValueType& type, std::string& out) = 0;
    /// Stores a value; `ttl_ms` 0 = no expiry. With `only_if_absent`, answers `exists` when
    /// the key is present (add, lock).
    virtual Status set(Space space, std::string_view key, ValueType type, std::string_view bytes,
                       std::int64_t ttl_ms, bool only_if_absent) = 0;
    /// Removes `key`; true when it was present.
    virtual bool remove(Space space, std::string_view key) = 0;
    /// Removes `key` only when its value is the string `expected` (unlock by the owner).
    virtual bool remove_if_equal(Space space, std::string_view key, std::string_view expected) = 0;
    /// Adds `by` to the integer under `key` (absent: starts at 0 and expires after `ttl_ms`
    /// if non-zero; present: keeps its expiry); the sum goes to `result`.
    virtual Status increment(std::string_view key, std::int64_t by, std::int64_t ttl_ms,
                             std::int64_t& result) = 0;
    /// Removes every entry of this cache (Redis: every key under the prefix); false when
    /// it could not.
    virtual bool flush() = 0;
    /// The largest value a key may hold, in bytes ([cache] max_value).
    virtual std::uint64_t max_value() const = 0;
    /// Sizes and counters for askr_cache_info(), "backend" first.
    virtual Info info() = 0;
};

}  // namespace askr::cache
