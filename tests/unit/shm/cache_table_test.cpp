#include "shm/cache_table.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace askr::shm {
namespace {

constexpr CacheSpace value = CacheSpace::value;

std::string get_string(CacheTable& table, std::string_view key) {
    CacheType type{};
    std::string out;
    if (!table.get(value, key, type, out)) return "(miss)";
    EXPECT_EQ(type, CacheType::string);
    return out;
}

std::string int_bytes(std::int64_t n) {
    return std::string(reinterpret_cast<const char*>(&n), sizeof n);
}

// Waits for a forked child; true when it exited with status 0.
bool child_succeeded(pid_t pid) {
    int status = 0;
    if (::waitpid(pid, &status, 0) != pid) return false;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

TEST(CacheTable, KeepsTypesAndBytes) {
    CacheTable table({.slots = 64, .memory = 64 << 10, .max_value = 8 << 10});
    EXPECT_TRUE(table.valid());
    const std::string binary("a\0b\xff", 4);
    EXPECT_EQ(table.set(value, "s", CacheType::string, binary, 0), CacheStatus::ok);
    EXPECT_EQ(table.set(value, "i", CacheType::integer, int_bytes(-42), 0), CacheStatus::ok);
    EXPECT_EQ(table.set(value, "t", CacheType::true_value, "", 0), CacheStatus::ok);
    // A value spanning several blocks, and a key of the longest length.
    const std::string long_key(CacheTable::max_key_bytes, 'k');
    const std::string big(5000, 'x');
    EXPECT_EQ(table.set(value, long_key, CacheType::string, big, 0), CacheStatus::ok);

    EXPECT_EQ(get_string(table, "s"), binary);
    EXPECT_EQ(get_string(table, long_key), big);
    CacheType type{};
    std::string out;
    ASSERT_TRUE(table.get(value, "i", type, out));
    EXPECT_EQ(type, CacheType::integer);
    EXPECT_EQ(out, int_bytes(-42));
    ASSERT_TRUE(table.get(value, "t", type, out));
    EXPECT_EQ(type, CacheType::true_value);
    EXPECT_EQ(out, "");
    // Spaces are apart: a lock named "s" is not the value "s".
    EXPECT_FALSE(table.get(CacheSpace::lock, "s", type, out));

    // Overwrite with a larger and then a smaller value.
    EXPECT_EQ(table.set(value, "s", CacheType::string, big, 0), CacheStatus::ok);
    EXPECT_EQ(get_string(table, "s"), big);
    EXPECT_EQ(table.set(value, "s", CacheType::string, "short", 0), CacheStatus::ok);
    EXPECT_EQ(get_string(table, "s"), "short");

    const CacheInfo info = table.info();
    EXPECT_EQ(info.entries, 4u);
    EXPECT_EQ(info.slots, 64u);
    EXPECT_GT(info.memory_used, 0u);
    EXPECT_EQ(info.hits, 6u);
    EXPECT_EQ(info.misses, 1u);
}

TEST(CacheTable, RefusesWhatDoesNotFit) {
    CacheTable table({.slots = 16, .memory = 4 << 10, .max_value = 1000});
    EXPECT_EQ(table.set(value, "", CacheType::null, "", 0), CacheStatus::too_big);
    EXPECT_EQ(
        table.set(value, std::string(CacheTable::max_key_bytes + 1, 'k'), CacheType::null, "", 0),
        CacheStatus::too_big);
    EXPECT_EQ(table.set(value, "k", CacheType::string, std::string(1001, 'v'), 0),
              CacheStatus::too_big);
    EXPECT_EQ(table.set(value, "k", CacheType::string, std::string(1000, 'v'), 0), CacheStatus::ok);
}

TEST(CacheTable, AddRemoveAndOwnerCheckedRemove) {
    CacheTable table({.slots = 64, .memory = 64 << 10, .max_value = 1024});
    EXPECT_EQ(table.set(value, "k", CacheType::string, "a", 0, true), CacheStatus::ok);
    EXPECT_EQ(table.set(value, "k", CacheType::string, "b", 0, true), CacheStatus::exists);
    EXPECT_EQ(get_string(table, "k"), "a");
    EXPECT_TRUE(table.remove(value, "k"));
    EXPECT_FALSE(table.remove(value, "k"));

    EXPECT_EQ(table.set(CacheSpace::lock, "job", CacheType::string, "owner-1", 10'000, true),
              CacheStatus::ok);
    EXPECT_EQ(table.set(CacheSpace::lock, "job", CacheType::string, "owner-2", 10'000, true),
              CacheStatus::exists);
    EXPECT_FALSE(table.remove_if_equal(CacheSpace::lock, "job", "owner-2"));
    EXPECT_FALSE(table.remove_if_equal(CacheSpace::lock, "job", "owner-"));
    EXPECT_TRUE(table.remove_if_equal(CacheSpace::lock, "job", "owner-1"));
    EXPECT_EQ(table.set(CacheSpace::lock, "job", CacheType::string, "owner-2", 10'000, true),
              CacheStatus::ok);
    EXPECT_EQ(table.info().entries, 1u);
    table.flush();
    EXPECT_EQ(table.info().entries, 0u);
    EXPECT_EQ(table.info().memory_used, 0u);
}

TEST(CacheTable, IncrementStartsAtZeroAndChecksType) {
    CacheTable table({.slots = 64, .memory = 64 << 10, .max_value = 1024});
    std::int64_t result = 0;
    EXPECT_EQ(table.increment("n", 5, 0, result), CacheStatus::ok);
    EXPECT_EQ(result, 5);
    EXPECT_EQ(table.increment("n", -7, 0, result), CacheStatus::ok);
    EXPECT_EQ(result, -2);
    table.set(value, "s", CacheType::string, "12", 0);
    EXPECT_EQ(table.increment("s", 1, 0, result), CacheStatus::not_integer);
    table.set(value, "max", CacheType::integer, int_bytes(std::numeric_limits<std::int64_t>::max()),
              0);
    EXPECT_EQ(table.increment("max", 1, 0, result), CacheStatus::overflow);
}

TEST(CacheTable, ExpiredEntriesAreAbsentAndReclaimed) {
    CacheTable table({.slots = 64, .memory = 64 << 10, .max_value = 1024});
    EXPECT_EQ(table.set(value, "short", CacheType::string, "v", 30), CacheStatus::ok);
    EXPECT_EQ(table.set(value, "long", CacheType::string, "v", 0), CacheStatus::ok);
    std::int64_t result = 0;
    EXPECT_EQ(table.increment("window", 1, 30, result), CacheStatus::ok);
    std::this_thread::sleep_for(std::chrono::milliseconds(80));
    EXPECT_EQ(get_string(table, "short"), "(miss)");
    EXPECT_EQ(get_string(table, "long"), "v");
    // A counter whose window expired starts again.
    EXPECT_EQ(table.increment("window", 1, 30, result), CacheStatus::ok);
    EXPECT_EQ(result, 1);
    // add succeeds over an expired entry.
    EXPECT_EQ(table.set(value, "gone", CacheType::string, "v", 30), CacheStatus::ok);
    std::this_thread::sleep_for(std::chrono::milliseconds(80));
    EXPECT_EQ(table.set(value, "gone", CacheType::string, "w", 0, true), CacheStatus::ok);
    EXPECT_GE(table.info().expired, 2u);

    // Expired entries nobody asks for are reclaimed as the cache is used.
    for (int i = 0; i < 40; ++i)
        table.set(value, "old" + std::to_string(i), CacheType::null, "", 30);
    std::this_thread::sleep_for(std::chrono::milliseconds(80));
    for (int i = 0; i < 2000; ++i) table.set(value, "new", CacheType::null, "", 0);
    EXPECT_LE(table.info().entries, 4u);
}

TEST(CacheTable, FullArenaEvictsByRecency) {
    // 256 blocks of memory, room for many more keys than that in the slots.
    CacheTable table({.slots = 4096, .memory = 256 * CacheTable::block_bytes, .max_value = 1024});
    ASSERT_EQ(table.set(value, "hot", CacheType::string, "kept", 0), CacheStatus::ok);
    for (int i = 0; i < 5000; ++i) {
        ASSERT_EQ(table.set(value, "cold" + std::to_string(i), CacheType::string,
                            std::string(200, 'c'), 0),
                  CacheStatus::ok)
            << i;
        ASSERT_EQ(get_string(table, "hot"), "kept") << i;  // used all along: never the victim
    }
    const CacheInfo info = table.info();
    EXPECT_GT(info.evictions, 0u);
    EXPECT_LE(info.memory_used, info.memory);
    EXPECT_EQ(get_string(table, "cold4999"), std::string(200, 'c'));  // the newest is there
}

TEST(CacheTable, FullBucketEvictsInsteadOfRefusing) {
    CacheTable table({.slots = 1, .memory = 64 << 10, .max_value = 1024});  // one bucket
    for (int i = 0; i < 100; ++i)
        ASSERT_EQ(table.set(value, "k" + std::to_string(i), CacheType::string, "v", 0),
                  CacheStatus::ok);
    EXPECT_EQ(table.info().entries, CacheTable::ways);
    EXPECT_EQ(get_string(table, "k99"), "v");
    EXPECT_GT(table.info().evictions, 0u);
}

TEST(CacheTable, LockOfAKilledHolderIsTakenOver) {
    CacheTable table({.slots = 64, .memory = 64 << 10, .max_value = 1024});
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        table.hold_bucket_lock_for_test(value, "k");
        (void)!::write(ready[1], "x", 1);
        for (;;) ::pause();
    }
    char c = 0;
    ASSERT_EQ(::read(ready[0], &c, 1), 1);
    ::close(ready[0]);
    ::close(ready[1]);
    ::kill(child, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_EQ(table.set(value, "k", CacheType::string, "after", 0), CacheStatus::ok);
    EXPECT_EQ(get_string(table, "k"), "after");
    EXPECT_GE(table.info().lock_steals, 1u);
}

TEST(CacheTable, ProcessesKilledMidOperationNeverWedgeTheTable) {
    CacheTable table({.slots = 8, .memory = 32 << 10, .max_value = 4096});  // few buckets
    for (int round = 0; round < 20; ++round) {
        const pid_t child = ::fork();
        ASSERT_GE(child, 0);
        if (child == 0) {
            std::string v(1000, 'v');
            for (std::uint64_t i = 0;; ++i) {
                const std::string key = "k" + std::to_string(i % 16);
                table.set(value, key, CacheType::string, v, 0);
                CacheType type{};
                std::string out;
                table.get(value, key, type, out);
                std::int64_t n = 0;
                table.increment("n" + std::to_string(i % 16), 1, 0, n);
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2 + round % 5));
        ::kill(child, SIGKILL);
        int status = 0;
        ASSERT_EQ(::waitpid(child, &status, 0), child);
        // Every key of every bucket still works (a value torn by the kill may be anything,
        // but it is read within bounds, and rewritten whole).
        for (int k = 0; k < 16; ++k) {
            const std::string key = "k" + std::to_string(k);
            CacheType type{};
            std::string out;
            table.get(value, key, type, out);
            EXPECT_LE(out.size(), 4096u);
            ASSERT_EQ(table.set(value, key, CacheType::string, "fresh", 0), CacheStatus::ok);
            EXPECT_EQ(get_string(table, key), "fresh");
        }
    }
    EXPECT_LE(table.info().memory_used, table.info().memory);
}

// Several processes doing random operations on a table small enough to evict all the
// time: every value read is whole (it names its key and length, and its filler is
// uniform), counters in a table that never evicts are exact, nobody crashes.
TEST(CacheTable, StressFromSeveralProcesses) {
    CacheTable table({.slots = 256, .memory = 64 << 10, .max_value = 2048});
    CacheTable counters({.slots = 1024, .memory = 1 << 20, .max_value = 64});
    constexpr int processes = 4;
    constexpr int operations = 300000;
    std::vector<pid_t> children;
    for (int p = 0; p < processes; ++p) {
        const pid_t child = ::fork();
        ASSERT_GE(child, 0);
        if (child == 0) {
            std::mt19937 random(static_cast<unsigned>(p + 1));
            int failures = 0;
            std::int64_t shared_adds = 0;
            for (int i = 0; i < operations; ++i) {
                const std::string key = "key" + std::to_string(random() % 400);
                const std::size_t length = random() % 1500;
                switch (random() % 6) {
                    case 0:
                    case 1: {
                        std::string v = key + "/" + std::to_string(length) + "/";
                        v.append(length, static_cast<char>('a' + length % 26));
                        const bool add = random() % 4 == 0;
                        const CacheStatus s =
                            table.set(value, key, CacheType::string, v, random() % 3 ? 0 : 5, add);
                        if (s != CacheStatus::ok && s != CacheStatus::exists) ++failures;
                        break;
                    }
                    case 2:
                    case 3: {
                        CacheType type{};
                        std::string out;
                        if (!table.get(value, key, type, out)) break;
                        const std::string prefix = key + "/";
                        const auto slash = out.find('/', prefix.size());
                        if (type != CacheType::string || out.rfind(prefix, 0) != 0 ||
                            slash == std::string::npos) {
                            ++failures;
                            break;
                        }
                        const std::size_t n =
                            std::stoul(out.substr(prefix.size(), slash - prefix.size()));
                        const std::string filler = out.substr(slash + 1);
                        if (filler != std::string(n, static_cast<char>('a' + n % 26))) ++failures;
                        break;
                    }
                    case 4:
                        table.remove(value, key);
                        break;
                    case 5: {
                        std::int64_t n = 0;
                        if (counters.increment("shared", 1, 0, n) != CacheStatus::ok) ++failures;
                        ++shared_adds;
                        break;
                    }
                }
            }
            counters.set(value, "mine" + std::to_string(p), CacheType::integer,
                         int_bytes(shared_adds), 0);
            std::int64_t n = 0;
            counters.increment("done", 1, 0, n);
            ::_exit(failures == 0 ? 0 : 1);
        }
        children.push_back(child);
    }
    for (pid_t child : children) EXPECT_TRUE(child_succeeded(child));

    CacheType type{};
    std::string out;
    std::int64_t shared = 0, done = 0, mine_total = 0;
    ASSERT_TRUE(counters.get(value, "shared", type, out));
    std::memcpy(&shared, out.data(), sizeof shared);
    ASSERT_TRUE(counters.get(value, "done", type, out));
    std::memcpy(&done, out.data(), sizeof done);
    for (int p = 0; p < processes; ++p) {
        std::int64_t mine = 0;
        if (counters.get(value, "mine" + std::to_string(p), type, out))
            std::memcpy(&mine, out.data(), sizeof mine);
        mine_total += mine;
    }
    EXPECT_EQ(done, processes);
    EXPECT_EQ(shared, mine_total);  // every increment of every process counted once
    EXPECT_GT(shared, 0);
    const CacheInfo info = table.info();
    EXPECT_GT(info.evictions, 0u);
    EXPECT_LE(info.memory_used, info.memory);
    EXPECT_LE(info.entries, info.buckets * CacheTable::ways);
    EXPECT_EQ(counters.info().evictions, 0u);
}

}  // namespace
}  // namespace askr::shm
