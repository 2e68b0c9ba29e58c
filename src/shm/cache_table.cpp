#include "shm/cache_table.hpp"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace askr::shm {

// Layout after the region's header: Stats, Arena, then the buckets, then the blocks. The
// mapping starts zeroed and zero means "empty" everywhere (an entry with no key, a free
// lock, an arena with nothing handed out), so the constructor writes only the arena's
// size and the pages of buckets and blocks are allocated by the kernel when first used.

struct CacheTable::Entry {
    std::uint64_t hash;
    std::int64_t expires_ms;  ///< monotonic clock; 0 = never
    std::uint32_t first;      ///< first block of the key and value chain
    std::uint32_t value_bytes;
    std::uint16_t key_bytes;  ///< 0 = the entry is empty
    CacheSpace space;
    CacheType type;
    std::uint8_t referenced;  ///< used since the CLOCK hand last passed
    std::uint8_t unused[3];
};

struct CacheTable::Block {
    std::uint32_t next;
    char data[block_bytes - sizeof(std::uint32_t)];
};

struct alignas(64) CacheTable::Bucket {
    ProcessLock lock;
    std::uint32_t hand;  ///< where CLOCK looks next when this bucket is full
    Entry entries[ways];
};

// The block allocator: a free list of returned blocks, then blocks never handed out
// (taken in order from `bump`, so that pages are touched only when the cache grows).
struct alignas(64) CacheTable::Arena {
    ProcessLock lock;
    std::uint32_t free_head;  ///< first free block + 1 (0 = none)
    std::uint32_t free_count;
    std::uint32_t bump;               ///< blocks below this have been handed out at least once
    std::uint32_t total;              ///< blocks in the arena (written once, before any fork)
    std::atomic<std::uint64_t> hand;  ///< the eviction sweep's next bucket
};

// The counters every lookup and write bumps, spread over cache lines by pid: processes
// that share the table then rarely write the same line for a count.
struct alignas(64) CounterShard {
    std::atomic<std::uint64_t> hits, misses, sets;
};
constexpr std::size_t counter_shards = 16;

struct alignas(64) CacheTable::Stats {
    std::atomic<std::uint64_t> evictions, expired, lock_steals, entries;
    CounterShard shards[counter_shards];
};

namespace {

constexpr std::size_t block_data = CacheTable::block_bytes - sizeof(std::uint32_t);

std::int64_t monotonic_ms() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

// 64-bit hash of the key and its space (FNV-1a, then a final mix so that the bucket
// index, taken from the low bits, depends on every byte).
std::uint64_t hash_key(CacheSpace space, std::string_view key) {
    std::uint64_t h = 0xcbf29ce484222325ull ^ static_cast<std::uint64_t>(space);
    for (unsigned char c : key) h = (h ^ c) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

std::size_t blocks_for(std::size_t bytes) {
    return std::max<std::size_t>(1, (bytes + block_data - 1) / block_data);
}

bool expired(std::int64_t expires_ms, std::int64_t now) {
    return expires_ms != 0 && expires_ms <= now;
}

}  // namespace

// Holds a bucket's lock for one operation.
struct CacheTable::Locked {
    Locked(ProcessLock& lock, Stats& counters) : lock_(lock) {
        acquire(lock, counters.lock_steals);
    }
    ~Locked() { unlock(lock_); }
    Locked(const Locked&) = delete;
    Locked& operator=(const Locked&) = delete;

  private:
    ProcessLock& lock_;
};

namespace {

std::size_t bucket_count(std::size_t slots) {
    // Twice as many places as slots: a key's bucket is then rarely full before the table
    // holds `slots` entries.
    return std::max<std::size_t>(1, (2 * slots + CacheTable::ways - 1) / CacheTable::ways);
}

std::uint32_t block_count(std::uint64_t memory) {
    const auto blocks = memory / CacheTable::block_bytes;
    if (blocks == 0)
        throw std::runtime_error("the cache's memory must hold at least one block (128 bytes)");
    if (blocks >= std::numeric_limits<std::uint32_t>::max())
        throw std::runtime_error("the cache's memory must be under 512G");
    return static_cast<std::uint32_t>(blocks);
}

}  // namespace

CacheTable::CacheTable(const CacheLimits& limits)
    : slots_(limits.slots),
      buckets_(bucket_count(limits.slots)),
      block_count_(block_count(limits.memory)),
      max_value_(limits.max_value),
      region_(
          "the cache", magic, layout_version,
          buckets_offset() + buckets_ * sizeof(Bucket) + std::size_t{block_count_} * block_bytes,
          limits.slots) {
    static_assert(sizeof(Entry) == 32 && sizeof(Bucket) == 256);  // four cache lines a bucket
    static_assert(sizeof(Stats) % 64 == 0 && sizeof(Arena) == 64);
    arena().total = block_count_;
}

CacheTable::~CacheTable() = default;

CacheTable::Bucket& CacheTable::bucket(std::size_t i) const {
    return reinterpret_cast<Bucket*>(region_.contents() + buckets_offset())[i];
}

CacheTable::Block* CacheTable::block(std::uint32_t i) const {
    if (i >= block_count_) return nullptr;
    return reinterpret_cast<Block*>(region_.contents() + buckets_offset() +
                                    buckets_ * sizeof(Bucket)) +
           i;
}

CacheTable::Stats& CacheTable::stats() const {
    return *reinterpret_cast<Stats*>(region_.contents());
}

CacheTable::Arena& CacheTable::arena() const {
    return *reinterpret_cast<Arena*>(region_.contents() + sizeof(Stats));
}

// Layout: Stats, Arena, the buckets, the blocks.
std::size_t CacheTable::buckets_offset() {
    return sizeof(Stats) + sizeof(Arena);
}

std::size_t CacheTable::chain_blocks(const Entry& e) const {
    return blocks_for(std::size_t{e.key_bytes} +
                      std::min<std::uint64_t>(e.value_bytes, max_value_));
}

// Walks the chain from `offset` copying `length` bytes; a chain cut short by a torn write
// leaves the rest of `to` as it was (never reads outside the arena).
void CacheTable::copy_out(const Entry& e, std::size_t offset, std::size_t length, char* to) const {
    std::uint32_t index = e.first;
    std::size_t hops = chain_blocks(e);
    while (offset >= block_data && hops-- > 0) {
        const Block* b = block(index);
        if (!b) return;
        index = b->next;
        offset -= block_data;
    }
    while (length > 0 && hops-- > 0) {
        const Block* b = block(index);
        if (!b) return;
        const std::size_t n = std::min(length, block_data - offset);
        std::memcpy(to, b->data + offset, n);
        to += n;
        length -= n;
        offset = 0;
        index = b->next;
    }
}

void CacheTable::copy_in(std::uint32_t first, std::size_t offset, const char* from,
                         std::size_t length) {
    std::uint32_t index = first;
    while (offset >= block_data) {
        const Block* b = block(index);
        if (!b) return;
        index = b->next;
        offset -= block_data;
    }
    while (length > 0) {
        Block* b = block(index);
        if (!b) return;
        const std::size_t n = std::min(length, block_data - offset);
        std::memcpy(b->data + offset, from, n);
        from += n;
        length -= n;
        offset = 0;
        index = b->next;
    }
}

bool CacheTable::key_equals(const Entry& e, std::string_view key) const {
    if (e.key_bytes != key.size()) return false;
    if (key.size() <= block_data) {  // the common case: the key is in the first block
        const Block* b = block(e.first);
        return b && std::memcmp(b->data, key.data(), key.size()) == 0;
    }
    char copy[max_key_bytes];
    std::memset(copy, 0, key.size());
    copy_out(e, 0, key.size(), copy);
    return std::memcmp(copy, key.data(), key.size()) == 0;
}

CacheTable::Entry* CacheTable::find(Bucket& b, std::uint64_t hash, CacheSpace space,
                                    std::string_view key, std::int64_t now) {
    for (Entry& e : b.entries) {
        if (e.key_bytes == 0 || e.hash != hash || e.space != space || !key_equals(e, key)) continue;
        if (expired(e.expires_ms, now)) {
            stats().expired.fetch_add(1, std::memory_order_relaxed);
            release(e);
            return nullptr;
        }
        return &e;
    }
    return nullptr;
}

// An empty entry of `b` for a new key: a free one, else an expired one, else the first one
// CLOCK finds unused since its last pass (evicted).
CacheTable::Entry* CacheTable::place(Bucket& b, std::int64_t now) {
    for (Entry& e : b.entries) {
        if (e.key_bytes == 0) return &e;
    }
    for (Entry& e : b.entries) {
        if (expired(e.expires_ms, now)) {
            stats().expired.fetch_add(1, std::memory_order_relaxed);
            release(e);
            return &e;
        }
    }
    for (std::size_t turn = 0; turn < 2 * ways; ++turn) {
        Entry& e = b.entries[b.hand % ways];
        b.hand = static_cast<std::uint32_t>((b.hand + 1) % ways);
        if (e.referenced) {
            e.referenced = 0;
            continue;
        }
        stats().evictions.fetch_add(1, std::memory_order_relaxed);
        release(e);
        return &e;
    }
    return &b.entries[0];  // not reached: the second turn finds every bit cleared
}

// Empties `e` and returns its blocks.
void CacheTable::release(Entry& e) {
    if (e.key_bytes == 0) return;
    const std::uint32_t first = e.first;
    const std::size_t blocks = chain_blocks(e);
    e.key_bytes = 0;
    stats().entries.fetch_sub(1, std::memory_order_relaxed);
    free_chain(first, blocks);
}

void CacheTable::free_chain(std::uint32_t first, std::size_t blocks) {
    // Find the tail under the bucket's lock (the chain is the entry's), then splice the
    // whole chain onto the free list under the arena's.
    std::uint32_t tail = first;
    for (std::size_t i = 1; i < blocks; ++i) {
        const Block* b = block(tail);
        if (!b) return;  // a torn chain: leak it rather than free foreign blocks
        tail = b->next;
    }
    Block* last = block(tail);
    if (!last || !block(first)) return;
    Arena& pool = arena();
    acquire(pool.lock, stats().lock_steals);
    last->next = pool.free_head == 0 ? block_count_ : pool.free_head - 1;
    pool.free_head = first + 1;
    pool.free_count += static_cast<std::uint32_t>(blocks);
    unlock(pool.lock);
}

// Takes `blocks` blocks as a chain starting at `first`, evicting from other buckets (never
// `own_bucket`, whose lock the caller holds) while the arena is short.
bool CacheTable::allocate(std::size_t blocks, std::uint32_t& first, std::size_t own_bucket) {
    Arena& pool = arena();
    for (std::size_t attempt = 0; attempt <= 2 * buckets_ + 2; ++attempt) {
        acquire(pool.lock, stats().lock_steals);
        const std::uint64_t never_used = block_count_ - std::min(pool.bump, block_count_);
        if (std::uint64_t{pool.free_count} + never_used < blocks) {
            unlock(pool.lock);
            sweep(1, true, own_bucket);
            continue;
        }
        // Build the chain back to front: each block taken points at the one taken before.
        std::uint32_t chain = block_count_;
        std::size_t taken = 0;
        for (; taken < blocks; ++taken) {
            std::uint32_t index;
            if (pool.free_head != 0 && block(pool.free_head - 1)) {
                index = pool.free_head - 1;
                const std::uint32_t next = block(index)->next;
                pool.free_head = block(next) ? next + 1 : 0;
                pool.free_count = pool.free_head == 0 ? 0 : pool.free_count - 1;
            } else if (pool.bump < block_count_) {
                index = pool.bump++;
            } else {
                break;
            }
            block(index)->next = chain;
            chain = index;
        }
        if (taken == blocks) {
            unlock(pool.lock);
            first = chain;
            return true;
        }
        // The free list was shorter than its count (its last writer died mid-update):
        // correct the count, give back what was taken, and try again.
        pool.free_count = 0;
        unlock(pool.lock);
        if (taken > 0) free_chain(chain, taken);
    }
    return false;
}

// Advances the global hand over `visits` buckets: frees expired entries and, with `evict`,
// entries unused since the hand's last pass (and marks the rest unused). Buckets another
// process holds are skipped (never waited for: the caller holds a bucket lock itself).
void CacheTable::sweep(std::size_t visits, bool evict, std::size_t own_bucket) {
    const std::int64_t now = monotonic_ms();
    for (std::size_t i = 0; i < visits; ++i) {
        const std::size_t index = arena().hand.fetch_add(1, std::memory_order_relaxed) % buckets_;
        if (index == own_bucket) continue;
        Bucket& b = bucket(index);
        if (!try_acquire(b.lock)) continue;
        sweep_bucket(b, evict, now);
        unlock(b.lock);
    }
}

bool CacheTable::sweep_bucket(Bucket& b, bool evict, std::int64_t now) {
    bool freed = false;
    for (Entry& e : b.entries) {
        if (e.key_bytes == 0) continue;
        if (expired(e.expires_ms, now)) {
            stats().expired.fetch_add(1, std::memory_order_relaxed);
        } else if (!evict) {
            continue;
        } else if (e.referenced) {
            e.referenced = 0;
            continue;
        } else {
            stats().evictions.fetch_add(1, std::memory_order_relaxed);
        }
        release(e);
        freed = true;
    }
    return freed;
}

bool CacheTable::get(CacheSpace space, std::string_view key, CacheType& type, std::string& out) {
    Stats& counters = stats();
    if (key.empty() || key.size() > max_key_bytes) return false;
    const std::uint64_t hash = hash_key(space, key);
    const std::size_t index = hash % buckets_;
    Bucket& b = bucket(index);
    Locked locked(b.lock, counters);
    Entry* e = find(b, hash, space, key, monotonic_ms());
    if (!e) {
        counters.shards[own_pid() % counter_shards].misses.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    const std::size_t length = std::min<std::uint64_t>(e->value_bytes, max_value_);
    out.resize(length);
    copy_out(*e, e->key_bytes, length, out.data());
    type = e->type;
    if (!e->referenced) e->referenced = 1;
    counters.shards[own_pid() % counter_shards].hits.fetch_add(1, std::memory_order_relaxed);
    return true;
}

CacheStatus CacheTable::set(CacheSpace space, std::string_view key, CacheType type,
                            std::string_view bytes, std::int64_t ttl_ms, bool only_if_absent) {
    if (key.empty() || key.size() > max_key_bytes || bytes.size() > max_value_)
        return CacheStatus::too_big;
    const std::size_t blocks = blocks_for(key.size() + bytes.size());
    if (blocks > block_count_) return CacheStatus::too_big;
    Stats& counters = stats();
    const std::uint64_t hash = hash_key(space, key);
    const std::size_t index = hash % buckets_;
    // Reclaim expired entries as the cache is used, not only once it is full.
    CounterShard& shard = counters.shards[own_pid() % counter_shards];
    if ((shard.sets.load(std::memory_order_relaxed) & 7) == 0) sweep(1, false, buckets_);
    Bucket& b = bucket(index);
    Locked locked(b.lock, counters);
    const std::int64_t now = monotonic_ms();
    Entry* e = find(b, hash, space, key, now);
    if (e && only_if_absent) return CacheStatus::exists;
    std::uint32_t first = 0;
    if (e && chain_blocks(*e) == blocks) {
        first = e->first;  // the same number of blocks: rewrite them in place
    } else {
        if (e) release(*e);
        if (!allocate(blocks, first, index)) return CacheStatus::no_memory;
        e = place(b, now);
        e->key_bytes = 0;
        counters.entries.fetch_add(1, std::memory_order_relaxed);
    }
    copy_in(first, 0, key.data(), key.size());
    copy_in(first, key.size(), bytes.data(), bytes.size());
    e->hash = hash;
    e->expires_ms = ttl_ms > 0 ? now + ttl_ms : 0;
    e->first = first;
    e->value_bytes = static_cast<std::uint32_t>(bytes.size());
    e->space = space;
    e->type = type;
    e->referenced = 1;
    e->key_bytes = static_cast<std::uint16_t>(key.size());
    shard.sets.fetch_add(1, std::memory_order_relaxed);
    return CacheStatus::ok;
}

bool CacheTable::remove(CacheSpace space, std::string_view key) {
    if (key.empty() || key.size() > max_key_bytes) return false;
    const std::uint64_t hash = hash_key(space, key);
    Bucket& b = bucket(hash % buckets_);
    Locked locked(b.lock, stats());
    Entry* e = find(b, hash, space, key, monotonic_ms());
    if (!e) return false;
    release(*e);
    return true;
}

bool CacheTable::remove_if_equal(CacheSpace space, std::string_view key,
                                 std::string_view expected) {
    if (key.empty() || key.size() > max_key_bytes || expected.size() > max_value_) return false;
    const std::uint64_t hash = hash_key(space, key);
    Bucket& b = bucket(hash % buckets_);
    Locked locked(b.lock, stats());
    Entry* e = find(b, hash, space, key, monotonic_ms());
    if (!e || e->type != CacheType::string || e->value_bytes != expected.size()) return false;
    std::string value(expected.size(), '\0');
    copy_out(*e, e->key_bytes, value.size(), value.data());
    if (value != expected) return false;
    release(*e);
    return true;
}

CacheStatus CacheTable::increment(std::string_view key, std::int64_t by, std::int64_t ttl_ms,
                                  std::int64_t& result) {
    if (key.empty() || key.size() > max_key_bytes) return CacheStatus::too_big;
    Stats& counters = stats();
    const std::uint64_t hash = hash_key(CacheSpace::value, key);
    const std::size_t index = hash % buckets_;
    Bucket& b = bucket(index);
    {
        Locked locked(b.lock, counters);
        Entry* e = find(b, hash, CacheSpace::value, key, monotonic_ms());
        if (e) {
            if (e->type != CacheType::integer || e->value_bytes != sizeof(std::int64_t))
                return CacheStatus::not_integer;
            std::int64_t value = 0;
            copy_out(*e, e->key_bytes, sizeof value, reinterpret_cast<char*>(&value));
            if (__builtin_add_overflow(value, by, &value)) return CacheStatus::overflow;
            copy_in(e->first, e->key_bytes, reinterpret_cast<const char*>(&value), sizeof value);
            e->referenced = 1;
            counters.shards[own_pid() % counter_shards].sets.fetch_add(1,
                                                                       std::memory_order_relaxed);
            result = value;
            return CacheStatus::ok;
        }
    }
    // Absent: add it; if another process added it meanwhile, increment that one.
    const auto bytes = std::string_view(reinterpret_cast<const char*>(&by), sizeof by);
    const CacheStatus added = set(CacheSpace::value, key, CacheType::integer, bytes, ttl_ms, true);
    if (added == CacheStatus::exists) return increment(key, by, ttl_ms, result);
    if (added == CacheStatus::ok) result = by;
    return added;
}

void CacheTable::flush() {
    for (std::size_t i = 0; i < buckets_; ++i) {
        Bucket& b = bucket(i);
        // Buckets never written are still zero pages: reading their entries would not
        // allocate them, but taking their lock would.
        bool used = false;
        for (Entry& e : b.entries)
            used = used || __atomic_load_n(&e.key_bytes, __ATOMIC_RELAXED) != 0;
        if (!used) continue;
        Locked locked(b.lock, stats());
        for (Entry& e : b.entries) release(e);
    }
}

CacheInfo CacheTable::info() const {
    const Stats& counters = stats();
    const Arena& pool = arena();
    CacheInfo out;
    out.slots = slots_;
    out.buckets = buckets_;
    out.entries = counters.entries.load(std::memory_order_relaxed);
    out.memory = std::uint64_t{block_count_} * block_bytes;
    const std::uint64_t handed = std::min(pool.bump, block_count_);
    const std::uint64_t free = std::min<std::uint64_t>(pool.free_count, handed);
    out.memory_used = (handed - free) * block_bytes;
    out.max_value = max_value_;
    for (const CounterShard& shard : counters.shards) {
        out.hits += shard.hits.load(std::memory_order_relaxed);
        out.misses += shard.misses.load(std::memory_order_relaxed);
        out.sets += shard.sets.load(std::memory_order_relaxed);
    }
    out.evictions = counters.evictions.load(std::memory_order_relaxed);
    out.expired = counters.expired.load(std::memory_order_relaxed);
    out.lock_steals = counters.lock_steals.load(std::memory_order_relaxed);
    return out;
}

bool CacheTable::valid() const {
    return region_.valid();
}

void CacheTable::hold_bucket_lock_for_test(CacheSpace space, std::string_view key) {
    acquire(bucket(hash_key(space, key) % buckets_).lock, stats().lock_steals);
}

}  // namespace askr::shm
