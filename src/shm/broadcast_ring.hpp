#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/unique_fd.hpp"
#include "shm/broadcast_channels.hpp"
#include "shm/process_lock.hpp"
#include "shm/region.hpp"

namespace askr::shm {

/// One event as a reader copied it out of the ring (the views point into the reader's
/// scratch buffer).
struct BroadcastEvent {
    std::uint64_t id = 0;
    std::string_view channel, name, data;
};

/// What is wrong with `name` as a channel name ("" when nothing): 1 to `max_length`
/// bytes of letters, digits and `_ - . : @ =`. The same rule for askr_broadcast() and for
/// a subscription.
std::string channel_name_error(std::string_view name, std::size_t max_length);

/// What one worker slot does with broadcasting, in shared memory: written by the worker
/// in that slot (its I/O thread), read by publishers and the admin listener.
struct alignas(64) BroadcastSlot {
    std::atomic<std::uint32_t> subscribers{0};   ///< open subscriber streams
    std::atomic<std::uint32_t> wake_pending{0};  ///< a publisher wrote to the eventfd
    std::atomic<std::uint64_t> deliveries{0};    ///< events written to subscribers
    std::atomic<std::uint64_t> drops{0};         ///< subscribers cut off (buffer full)
    std::atomic<std::uint64_t> resets{0};        ///< askr-reset sent (resume too old, overrun)
    std::atomic<std::uint64_t> connects{0};      ///< subscriptions accepted
    std::atomic<std::uint64_t> refused{0};       ///< subscriptions refused (limits)
};

/// Totals over the ring and every slot (each value exact, the set not a snapshot).
struct BroadcastInfo {
    std::uint64_t ring_bytes = 0, used_bytes = 0;
    std::uint64_t published = 0, oldest_id = 0, last_id = 0;
    std::uint64_t subscribers = 0, deliveries = 0, drops = 0, resets = 0, connects = 0, refused = 0,
                  lock_steals = 0;
    ChannelTotals channels;  ///< subscribers per channel, the busiest first
};

/// The broadcast ring of one node, created by the master before any fork and shared by
/// every worker (docs/broadcast.md): events of every channel in publish order, each
/// with an id one above the previous one (1, 2, ...: unique for the server's life, since
/// a reload keeps the ring). A full ring drops its oldest events; a writer never waits
/// for a reader. Readers keep their own cursor and read without any lock: a reader that
/// the writers have lapped learns it (read() says `overrun`) instead of reading
/// overwritten bytes.
///
/// Writers in different processes take one ProcessLock (recovered when its holder dies):
/// a publish holds it for a copy of the event, well under a microsecond for a 1 KB one,
/// and a lock keeps the ring's head, tail and ids plain; a lock-free reservation would
/// need a per-record commit flag that readers wait on, and a writer killed between
/// reserving and committing would stall every reader behind it.
///
/// Wake-ups: one eventfd per worker slot, made here before the fork. A publish writes to
/// the eventfd of each slot that has subscribers and is not already woken
/// (BroadcastSlot::wake_pending), so a burst costs a worker one wake-up.
class BroadcastRing {
  public:
    static constexpr std::uint32_t magic = 0x41534252;  // "ASBR"
    static constexpr std::uint32_t layout_version = 2;
    /// Bytes a record takes besides its channel, name and data.
    static constexpr std::size_t record_overhead = 32;

    /// Maps a ring of `ring_bytes` (rounded down to 8; at least 4096) with `slots` worker
    /// slots; throws std::runtime_error on failure. Pages are allocated when first written.
    /// `secret` signs private channels' tokens; empty: 32 random bytes, made here (so the
    /// tokens of one server run are good across its reloads, not after a restart).
    /// `channel_entries` channels (names up to `channel_name_bytes`) per slot are counted
    /// in channel_table().
    BroadcastRing(std::uint64_t ring_bytes, std::size_t slots, std::string secret = {},
                  std::size_t channel_entries = 0, std::size_t channel_name_bytes = 64);
    ~BroadcastRing();
    BroadcastRing(const BroadcastRing&) = delete;
    BroadcastRing& operator=(const BroadcastRing&) = delete;

    /// The largest channel + name + data one event may have: a quarter of the ring.
    std::uint64_t max_event_bytes() const;
    /// Appends an event and wakes the workers with subscribers; its id, or 0 when it is
    /// larger than max_event_bytes(). The id is `id` when that is above every id the ring
    /// has had (the relay from Redis passes the stream's), else one above the newest.
    std::uint64_t publish(std::string_view channel, std::string_view name, std::string_view data,
                          std::uint64_t id = 0);
    /// Events before `id` cannot be resumed from here any more (they were never all in
    /// this ring: the relay from Redis started later, or missed some): a Last-Event-ID
    /// below `id` - 1 gets askr-reset.
    void forget_before(std::uint64_t id);
    /// Where the relay from Redis is in the stream (a ring id; 0: it has not read yet),
    /// kept here so that a relay started again goes on from there.
    std::uint64_t relay_position() const;
    void set_relay_position(std::uint64_t id);

    /// Where a reader is: a byte position in the ring (it only grows).
    struct Cursor {
        std::uint64_t position = 0;
    };
    enum class Read { event, none, overrun };
    /// A cursor after the newest event (a reader that wants only events from now on), and
    /// in `last_id` the newest id at about that time: every event after the cursor has a
    /// higher one.
    Cursor end(std::uint64_t* last_id = nullptr) const;
    /// A cursor at the first event after `id`; none when events after `id` have been
    /// dropped already or `id` was never published (a client of an earlier server run).
    std::optional<Cursor> after(std::uint64_t id) const;
    /// Copies the event at `cursor` into `scratch` and moves past it: `event`; `none` when
    /// there is no newer event; `overrun` when the writers have overwritten the cursor's
    /// place (the reader fell behind by more than the ring holds).
    Read read(Cursor& cursor, BroadcastEvent& event, std::string& scratch) const;

    /// Worker slot `i`'s counters and wake-up flag.
    BroadcastSlot& slot(std::size_t i) const;
    std::size_t slot_count() const { return slots_; }
    /// Worker slot `i`'s subscribers per channel.
    ChannelTable channel_table(std::size_t i) const;
    /// The eventfd publishers write to to wake the worker in slot `i`.
    int wake_fd(std::size_t i) const { return wake_fds_[i].get(); }
    /// The slot's worker has exited: its subscribers are gone.
    void clear_slot(std::size_t i) const;
    /// The key of private channels' tokens (shm/broadcast_token.hpp).
    const std::string& secret() const { return secret_; }
    /// Sizes and counters.
    BroadcastInfo info() const;
    /// True when the header still says what it was created with.
    bool valid() const { return region_.valid(); }

    /// Tests only: takes the writers' lock and keeps it (as a process then killed would).
    void hold_lock_for_test();

  private:
    struct Control;
    struct Record;

    Control& control() const;
    char* data() const;
    void copy_in(std::uint64_t position, const void* from, std::size_t length);
    void copy_out(std::uint64_t position, void* to, std::size_t length) const;
    void wake_subscribed_slots();

    std::uint64_t capacity_;
    std::size_t slots_;
    std::size_t channel_entries_, channel_name_bytes_;
    Region region_;
    std::vector<core::UniqueFd> wake_fds_;
    std::string secret_;
};

}  // namespace askr::shm
