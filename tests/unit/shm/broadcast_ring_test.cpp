#include "shm/broadcast_ring.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace askr::shm {
namespace {

using Read = BroadcastRing::Read;

// Waits for a forked child; true when it exited with status 0.
bool child_succeeded(pid_t pid) {
    int status = 0;
    if (::waitpid(pid, &status, 0) != pid) return false;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// Every event from `cursor` on, until the ring has no newer one (or says overrun).
std::vector<std::uint64_t> read_ids(const BroadcastRing& ring, BroadcastRing::Cursor& cursor,
                                    Read* last = nullptr) {
    std::vector<std::uint64_t> ids;
    BroadcastEvent event;
    std::string scratch;
    for (;;) {
        const Read r = ring.read(cursor, event, scratch);
        if (r != Read::event) {
            if (last) *last = r;
            return ids;
        }
        ids.push_back(event.id);
    }
}

bool readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) == 1;
}

TEST(BroadcastRing, EventsComeBackInOrderWithTheirFields) {
    BroadcastRing ring(64 << 10, 2);
    auto cursor = ring.end();
    EXPECT_EQ(ring.publish("news", "", "first"), 1u);
    EXPECT_EQ(ring.publish("chat", "message", std::string("a\nb\0c", 5)), 2u);
    BroadcastEvent event;
    std::string scratch;
    ASSERT_EQ(ring.read(cursor, event, scratch), Read::event);
    EXPECT_EQ(event.id, 1u);
    EXPECT_EQ(event.channel, "news");
    EXPECT_EQ(event.name, "");
    EXPECT_EQ(event.data, "first");
    ASSERT_EQ(ring.read(cursor, event, scratch), Read::event);
    EXPECT_EQ(event.id, 2u);
    EXPECT_EQ(event.channel, "chat");
    EXPECT_EQ(event.name, "message");
    EXPECT_EQ(event.data, std::string("a\nb\0c", 5));
    EXPECT_EQ(ring.read(cursor, event, scratch), Read::none);
    const BroadcastInfo info = ring.info();
    EXPECT_EQ(info.published, 2u);
    EXPECT_EQ(info.last_id, 2u);
    EXPECT_EQ(info.oldest_id, 1u);
}

TEST(BroadcastRing, WrapsAroundAndDropsTheOldest) {
    BroadcastRing ring(4096, 1);
    auto cursor = ring.end();
    BroadcastEvent event;
    std::string scratch;
    // Sizes that are no divisor of the ring: records end up split across its end.
    for (std::uint64_t i = 1; i <= 500; ++i) {
        const std::string data(static_cast<std::size_t>(i % 97), static_cast<char>('a' + i % 26));
        ASSERT_EQ(ring.publish("c" + std::to_string(i % 7), "", data), i);
        ASSERT_EQ(ring.read(cursor, event, scratch), Read::event) << i;
        EXPECT_EQ(event.id, i);
        EXPECT_EQ(event.channel, "c" + std::to_string(i % 7));
        EXPECT_EQ(event.data, data);
    }
    const BroadcastInfo info = ring.info();
    EXPECT_GT(info.oldest_id, 1u);  // the first ones were dropped for the newer
    EXPECT_LE(info.used_bytes, 4096u);
    // What the ring still holds reads back whole, oldest first.
    auto from_oldest = ring.after(info.oldest_id - 1);
    ASSERT_TRUE(from_oldest);
    const auto ids = read_ids(ring, *from_oldest);
    ASSERT_FALSE(ids.empty());
    EXPECT_EQ(ids.front(), info.oldest_id);
    EXPECT_EQ(ids.back(), 500u);
    for (std::size_t i = 1; i < ids.size(); ++i) EXPECT_EQ(ids[i], ids[i - 1] + 1);
}

TEST(BroadcastRing, AReaderThatFellBehindIsToldSo) {
    BroadcastRing ring(4096, 1);
    auto slow = ring.end();
    for (int i = 0; i < 200; ++i) ring.publish("news", "", std::string(100, 'x'));
    BroadcastEvent event;
    std::string scratch;
    EXPECT_EQ(ring.read(slow, event, scratch), Read::overrun);
    // Starting over from the end works.
    slow = ring.end();
    ring.publish("news", "", "after");
    ASSERT_EQ(ring.read(slow, event, scratch), Read::event);
    EXPECT_EQ(event.data, "after");
}

TEST(BroadcastRing, ResumesAfterAnIdItStillHolds) {
    BroadcastRing ring(4096, 1);
    for (int i = 0; i < 5; ++i) ring.publish("news", "", "e" + std::to_string(i + 1));
    auto from = ring.after(2);
    ASSERT_TRUE(from);
    EXPECT_EQ(read_ids(ring, *from), (std::vector<std::uint64_t>{3, 4, 5}));
    auto from_start = ring.after(0);
    ASSERT_TRUE(from_start);
    EXPECT_EQ(read_ids(ring, *from_start).size(), 5u);
    auto at_end = ring.after(5);
    ASSERT_TRUE(at_end);
    EXPECT_TRUE(read_ids(ring, *at_end).empty());
    EXPECT_FALSE(ring.after(6));  // never published (a client of an earlier run)
    for (int i = 0; i < 200; ++i) ring.publish("news", "", std::string(100, 'x'));
    EXPECT_FALSE(ring.after(2));  // dropped since
}

TEST(BroadcastRing, RefusesAnEventLargerThanAQuarterOfTheRing) {
    BroadcastRing ring(4096, 1);
    EXPECT_EQ(ring.publish("news", "", std::string(ring.max_event_bytes(), 'x')), 0u);
    EXPECT_EQ(ring.publish("n", "", std::string(ring.max_event_bytes() - 1, 'x')), 1u);
}

TEST(BroadcastRing, WakesOnlySlotsWithSubscribersOncePerBurst) {
    BroadcastRing ring(64 << 10, 2);
    ring.slot(0).subscribers.store(1);
    ring.publish("news", "", "a");
    ring.publish("news", "", "b");
    EXPECT_TRUE(readable(ring.wake_fd(0)));
    EXPECT_FALSE(readable(ring.wake_fd(1)));
    std::uint64_t count = 0;
    ASSERT_EQ(::read(ring.wake_fd(0), &count, sizeof count), 8);
    EXPECT_EQ(count, 1u);  // the second publish found the wake-up pending
    ring.slot(0).wake_pending.store(0);
    ring.publish("news", "", "c");
    EXPECT_TRUE(readable(ring.wake_fd(0)));
}

TEST(BroadcastRing, WritersInManyProcessesGetUniqueIdsInOrder) {
    BroadcastRing ring(4 << 20, 1);
    constexpr int writers = 4, each = 2000;
    std::vector<pid_t> children;
    for (int w = 0; w < writers; ++w) {
        const pid_t child = ::fork();
        ASSERT_GE(child, 0);
        if (child == 0) {
            for (int i = 0; i < each; ++i) {
                const std::string data = std::to_string(w) + ":" + std::to_string(i);
                if (ring.publish("w" + std::to_string(w), "", data) == 0) ::_exit(1);
            }
            ::_exit(0);
        }
        children.push_back(child);
    }
    for (pid_t child : children) EXPECT_TRUE(child_succeeded(child));
    auto cursor = ring.after(0);
    ASSERT_TRUE(cursor);
    BroadcastEvent event;
    std::string scratch;
    std::vector<int> next(writers, 0);
    std::uint64_t expected_id = 1;
    while (ring.read(*cursor, event, scratch) == Read::event) {
        EXPECT_EQ(event.id, expected_id++);
        const int w = std::stoi(std::string(event.channel.substr(1)));
        ASSERT_GE(w, 0);
        ASSERT_LT(w, writers);
        EXPECT_EQ(event.data, std::to_string(w) + ":" + std::to_string(next[w]));
        ++next[w];
    }
    EXPECT_EQ(expected_id, std::uint64_t{writers * each} + 1);
    for (int w = 0; w < writers; ++w) EXPECT_EQ(next[w], each);
}

// A reader racing a writer that laps it over and over: whatever it reads is a whole event
// as published (overwritten bytes are reported as an overrun, never returned).
TEST(BroadcastRing, AReaderRacingTheWriterNeverSeesATornEvent) {
    BroadcastRing ring(4096, 1);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        for (int i = 0; i < 200000; ++i) {
            const auto n = static_cast<std::size_t>(i % 300);
            ring.publish("n" + std::to_string(n), "",
                         std::string(n, static_cast<char>('a' + n % 26)));
        }
        ::_exit(0);
    }
    auto cursor = ring.end();
    BroadcastEvent event;
    std::string scratch;
    std::uint64_t events = 0, overruns = 0, previous = 0;
    for (;;) {
        int status = 0;
        const bool done = ::waitpid(child, &status, WNOHANG) == child;
        for (int i = 0; i < 1000; ++i) {
            const Read r = ring.read(cursor, event, scratch);
            if (r == Read::none) break;
            if (r == Read::overrun) {
                ++overruns;
                cursor = ring.end();
                continue;
            }
            ++events;
            EXPECT_GT(event.id, previous);
            previous = event.id;
            const auto n =
                static_cast<std::size_t>(std::stoul(std::string(event.channel.substr(1))));
            ASSERT_EQ(event.data, std::string(n, static_cast<char>('a' + n % 26))) << event.id;
        }
        if (done) {
            EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
            break;
        }
    }
    // How often it read an event or was lapped depends on scheduling; what it read was whole.
    (void)events;
    (void)overruns;
}

TEST(BroadcastRing, ALockLeftByADeadWriterIsTakenOver) {
    BroadcastRing ring(64 << 10, 1);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ring.hold_lock_for_test();
        ::_exit(0);  // dies holding it
    }
    ASSERT_TRUE(child_succeeded(child));
    EXPECT_EQ(ring.publish("news", "", "still works"), 1u);
    EXPECT_EQ(ring.info().lock_steals, 1u);
}

TEST(BroadcastRing, ChannelNames) {
    EXPECT_EQ(channel_name_error("orders.42", 64), "");
    EXPECT_EQ(channel_name_error("private-user:7@eu=x_y", 64), "");
    EXPECT_NE(channel_name_error("", 64), "");
    EXPECT_NE(channel_name_error(std::string(65, 'a'), 64), "");
    EXPECT_NE(channel_name_error("a b", 64), "");
    EXPECT_NE(channel_name_error("a\nb", 64), "");
    EXPECT_NE(channel_name_error("a/b", 64), "");
}

// Each slot's table holds its busiest channels; the totals sum slots, keep the busiest
// `channel_entries` and count the rest together, and a cleared slot counts nothing.
TEST(BroadcastRing, CountsSubscribersPerChannelWithinABound) {
    BroadcastRing ring(64 << 10, 2, {}, 2, 8);
    ring.channel_table(0).write({{"news", 3}, {"chat", 1}, {"extra", 4}}, 2);
    ring.channel_table(1).write({{"chat", 5}, {"a-very-long-name", 7}}, 0);
    BroadcastInfo info = ring.info();
    ASSERT_EQ(info.channels.channels.size(), 2u);
    EXPECT_EQ(info.channels.channels[0].channel, "chat");
    EXPECT_EQ(info.channels.channels[0].subscribers, 6u);
    EXPECT_EQ(info.channels.channels[1].channel, "news");
    EXPECT_EQ(info.channels.channels[1].subscribers, 3u);
    // Slot 0 kept two of three (4 + 2 in its "other"); slot 1's name does not fit (7).
    EXPECT_EQ(info.channels.other_subscribers, 13u);
    ring.clear_slot(0);
    ring.channel_table(1).write({}, 0);
    info = ring.info();
    EXPECT_TRUE(info.channels.channels.empty());
    EXPECT_EQ(info.channels.other_subscribers, 0u);
}

}  // namespace
}  // namespace askr::shm

namespace askr::shm {
namespace {

TEST(BroadcastRing, GivenIdsAreKeptWhenTheyGrowAndResumeFollowsThem) {
    BroadcastRing ring(64 << 10, 1);
    ring.forget_before(1000);
    EXPECT_EQ(ring.publish("news", "", "a", 1000), 1000u);
    EXPECT_EQ(ring.publish("news", "", "b", 5000), 5000u);
    EXPECT_EQ(ring.publish("news", "", "c", 4000), 5001u);  // behind: the next id instead
    EXPECT_EQ(ring.publish("news", "", "d"), 5002u);
    EXPECT_FALSE(ring.after(998));  // before what the ring was told it has
    auto from = ring.after(999);
    ASSERT_TRUE(from);
    EXPECT_EQ(read_ids(ring, *from), (std::vector<std::uint64_t>{1000, 5000, 5001, 5002}));
    from = ring.after(3000);  // between two ids: nothing was lost after it
    ASSERT_TRUE(from);
    EXPECT_EQ(read_ids(ring, *from), (std::vector<std::uint64_t>{5000, 5001, 5002}));
    EXPECT_FALSE(ring.after(6000));
    ring.forget_before(5001);
    EXPECT_FALSE(ring.after(3000));
    EXPECT_TRUE(ring.after(5000));
    ring.set_relay_position(5000);
    EXPECT_EQ(ring.relay_position(), 5000u);
}

}  // namespace
}  // namespace askr::shm
