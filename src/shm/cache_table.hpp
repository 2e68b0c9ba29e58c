#pragma once
#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "shm/process_lock.hpp"
#include "shm/region.hpp"

namespace askr::shm {

/// How a cached value's bytes are to be read back (PHP's scalar types keep their type
/// without a serializer; arrays and objects arrive serialized).
enum class CacheType : std::uint8_t {
    null = 1,
    false_value = 2,
    true_value = 3,
    integer = 4,     ///< 8 bytes, native int64
    floating = 5,    ///< 8 bytes, native double
    string = 6,      ///< the bytes
    serialized = 7,  ///< PHP serialize() output
};

/// Key namespaces: a lock named "x" and a value under key "x" never meet.
enum class CacheSpace : std::uint8_t { value = 0, lock = 1, compute = 2 };

/// What happened to a write.
enum class CacheStatus {
    ok,
    exists,       ///< add/lock: the key is present (and not expired)
    missing,      ///< the key is absent
    too_big,      ///< key over max_key_bytes or value over max_value
    no_memory,    ///< nothing could be evicted to make room (every other bucket busy)
    not_integer,  ///< increment: the present value is not an integer
    overflow,     ///< increment: the result does not fit in 64 bits
};

/// Sizes of a cache table.
struct CacheLimits {
    std::size_t slots = 0;        ///< entries the table is sized for
    std::uint64_t memory = 0;     ///< bytes for keys and values
    std::uint64_t max_value = 0;  ///< largest value in bytes
};

/// Counters and sizes, read without locks (each value is exact, the set is not a snapshot).
struct CacheInfo {
    std::uint64_t slots = 0, buckets = 0, entries = 0;
    std::uint64_t memory = 0, memory_used = 0, max_value = 0;
    std::uint64_t hits = 0, misses = 0, sets = 0, evictions = 0, expired = 0, lock_steals = 0;
};

/// The shared-memory cache of one node, created by the master before any fork
/// (docs/architecture.md, "Shared memory") and shared by every worker: a hash table of
/// buckets of `ways` entries, each bucket behind its own ProcessLock, and an arena of
/// fixed-size blocks holding each entry's key and value as a chain. Lazy TTL (an expired
/// entry is absent, and freed when found or swept); a full bucket or a full arena evicts by
/// recency (CLOCK: an entry used since the hand last passed survives one more pass). Reads
/// copy out under the bucket's lock with every length and block index clamped, so a table
/// left torn by a killed process can never be read out of bounds. See docs/cache.md.
class CacheTable {
  public:
    static constexpr std::uint32_t magic = 0x41534348;  // "ASCH"
    static constexpr std::uint32_t layout_version = 1;
    /// Longest key, in bytes.
    static constexpr std::size_t max_key_bytes = 250;
    /// Entries per bucket.
    static constexpr std::size_t ways = 7;
    /// Bytes of a block of the arena (a next index, then data).
    static constexpr std::size_t block_bytes = 128;

    /// Maps a table of `limits` (slots >= 1, memory >= one block); throws
    /// std::runtime_error on failure. Untouched pages stay unallocated until used.
    explicit CacheTable(const CacheLimits& limits);
    ~CacheTable();
    CacheTable(const CacheTable&) = delete;
    CacheTable& operator=(const CacheTable&) = delete;

    /// Copies the value of `key` into `out` and its type into `type`; false when absent or
    /// expired (a miss).
    bool get(CacheSpace space, std::string_view key, CacheType& type, std::string& out);
    /// Stores a value; `ttl_ms` 0 = no expiry. With `only_if_absent`, answers `exists`
    /// when the key is present (add, lock).
    CacheStatus set(CacheSpace space, std::string_view key, CacheType type, std::string_view bytes,
                    std::int64_t ttl_ms, bool only_if_absent = false);
    /// Removes `key`; true when it was present.
    bool remove(CacheSpace space, std::string_view key);
    /// Removes `key` only when its value is the string `expected` (unlock by the owner).
    bool remove_if_equal(CacheSpace space, std::string_view key, std::string_view expected);
    /// Adds `by` to the integer under `key` (absent: starts at 0, expiring after `ttl_ms`
    /// if non-zero; present: keeps its expiry) and stores the result in `result`.
    CacheStatus increment(std::string_view key, std::int64_t by, std::int64_t ttl_ms,
                          std::int64_t& result);
    /// Removes every entry.
    void flush();
    /// The largest value a key may hold, in bytes.
    std::uint64_t max_value() const { return max_value_; }
    /// Sizes and counters.
    CacheInfo info() const;
    /// True when the header still says what it was created with.
    bool valid() const;

    /// Tests only: takes the lock of `key`'s bucket and keeps it (as a process that is
    /// then killed would).
    void hold_bucket_lock_for_test(CacheSpace space, std::string_view key);

  private:
    struct Entry;
    struct Block;
    struct Bucket;
    struct Arena;
    struct Stats;
    struct Locked;

    static std::size_t buckets_offset();
    Stats& stats() const;
    Arena& arena() const;
    Bucket& bucket(std::size_t i) const;
    Block* block(std::uint32_t i) const;
    Entry* find(Bucket& b, std::uint64_t hash, CacheSpace space, std::string_view key,
                std::int64_t now);
    Entry* place(Bucket& b, std::int64_t now);
    void release(Entry& e);
    bool allocate(std::size_t blocks, std::uint32_t& first, std::size_t own_bucket);
    void free_chain(std::uint32_t first, std::size_t blocks);
    void sweep(std::size_t visits, bool evict, std::size_t own_bucket);
    bool sweep_bucket(Bucket& b, bool evict, std::int64_t now);
    bool key_equals(const Entry& e, std::string_view key) const;
    void copy_out(const Entry& e, std::size_t offset, std::size_t length, char* to) const;
    void copy_in(std::uint32_t first, std::size_t offset, const char* from, std::size_t length);
    std::size_t chain_blocks(const Entry& e) const;

    std::size_t slots_;
    std::size_t buckets_;
    std::uint32_t block_count_;
    std::uint64_t max_value_;
    Region region_;
};

}  // namespace askr::shm
