#include "shm/broadcast_ring.hpp"

#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace askr::shm {

// Layout after the region's header: Control, the slots, the ring's bytes, then a
// ChannelTable per slot. Positions
// are byte counts since the ring was made (they only grow); a position's byte is at
// `position % capacity`, and a record may wrap around the end. Everything from `tail` to
// `head` is whole records; `tail` moves on (dropping the oldest records) before a writer
// overwrites their bytes.

struct alignas(64) BroadcastRing::Control {
    // Writers' line: only under the lock.
    ProcessLock lock;
    std::uint64_t next_id;  ///< the id of the next event
    std::atomic<std::uint64_t> lock_steals;
    std::atomic<std::uint64_t> published;
    // Readers' line.
    alignas(64) std::atomic<std::uint64_t> head;  ///< end of the newest record
    std::atomic<std::uint64_t> tail;              ///< start of the oldest record
    /// Every event with this id or a higher one is still held: one above the newest
    /// dropped (or forgotten) event.
    std::atomic<std::uint64_t> tail_id;
    std::atomic<std::uint64_t> last_id;         ///< the newest record's id (0: none yet)
    std::atomic<std::uint64_t> relay_position;  ///< relay_position()
};

struct BroadcastRing::Record {
    std::uint64_t id;
    std::uint32_t bytes;  ///< the whole record, header included, a multiple of 8
    std::uint32_t check;  ///< seal(): a torn or stray header does not pass for a record
    std::uint16_t channel_bytes;
    std::uint16_t name_bytes;
    std::uint32_t data_bytes;
    std::uint64_t unused;
};

namespace {

constexpr std::uint64_t minimum_ring = 4096;

std::uint32_t seal(std::uint64_t id, std::uint32_t bytes) {
    return static_cast<std::uint32_t>(id * 0x9e3779b97f4a7c15ull >> 32) ^ bytes ^ 0x41534252u;
}

std::uint64_t round_down_8(std::uint64_t n) {
    return n & ~std::uint64_t{7};
}

std::uint64_t ring_capacity(std::uint64_t bytes) {
    if (bytes < minimum_ring)
        throw std::runtime_error("the broadcast ring must be at least 4K ([broadcast] ring)");
    return round_down_8(bytes);
}

}  // namespace

std::string channel_name_error(std::string_view name, std::size_t max_length) {
    if (name.empty()) return "must not be empty";
    if (name.size() > max_length) {
        return "must be at most " + std::to_string(max_length) + " bytes long, got " +
               std::to_string(name.size()) + " ([broadcast] max_channel_length)";
    }
    for (unsigned char c : name) {
        const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                             (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' ||
                             c == ':' || c == '@' || c == '=';
        if (!allowed)
            return "may only hold letters, digits and _ - . : @ = (a channel is a name, not text)";
    }
    return {};
}

BroadcastRing::BroadcastRing(std::uint64_t ring_bytes, std::size_t slots, std::string secret,
                             std::size_t channel_entries, std::size_t channel_name_bytes)
    : capacity_(ring_capacity(ring_bytes)),
      slots_(slots),
      channel_entries_(channel_entries),
      channel_name_bytes_(channel_name_bytes),
      region_("the broadcast ring", magic, layout_version,
              sizeof(Control) + slots * sizeof(BroadcastSlot) + capacity_ +
                  slots * ChannelTable::bytes(channel_entries, channel_name_bytes),
              slots) {
    static_assert(sizeof(Record) == record_overhead && sizeof(Control) == 128);
    static_assert(sizeof(BroadcastSlot) == 64);
    control().next_id = 1;
    control().tail_id.store(1, std::memory_order_relaxed);
    for (std::size_t i = 0; i < slots; ++i) {
        wake_fds_.emplace_back(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
        if (!wake_fds_.back()) throw std::runtime_error("eventfd() failed (the broadcast ring)");
    }
    secret_ = std::move(secret);
    if (secret_.empty()) {
        secret_.resize(32);
        if (::getrandom(secret_.data(), secret_.size(), 0) != static_cast<ssize_t>(secret_.size()))
            throw std::runtime_error("getrandom() failed (the broadcast ring's secret)");
    }
}

BroadcastRing::~BroadcastRing() = default;

BroadcastRing::Control& BroadcastRing::control() const {
    return *reinterpret_cast<Control*>(region_.contents());
}

BroadcastSlot& BroadcastRing::slot(std::size_t i) const {
    return reinterpret_cast<BroadcastSlot*>(region_.contents() + sizeof(Control))[i];
}

ChannelTable BroadcastRing::channel_table(std::size_t i) const {
    return ChannelTable(data() + capacity_ + i * ChannelTable::bytes(channel_entries_, channel_name_bytes_),
                        channel_entries_, channel_name_bytes_);
}

char* BroadcastRing::data() const {
    return region_.contents() + sizeof(Control) + slots_ * sizeof(BroadcastSlot);
}

std::uint64_t BroadcastRing::max_event_bytes() const {
    return capacity_ / 4 - record_overhead;
}

void BroadcastRing::copy_in(std::uint64_t position, const void* from, std::size_t length) {
    const std::size_t at = static_cast<std::size_t>(position % capacity_);
    const std::size_t first = std::min<std::size_t>(length, capacity_ - at);
    std::memcpy(data() + at, from, first);
    std::memcpy(data(), static_cast<const char*>(from) + first, length - first);
}

void BroadcastRing::copy_out(std::uint64_t position, void* to, std::size_t length) const {
    const std::size_t at = static_cast<std::size_t>(position % capacity_);
    const std::size_t first = std::min<std::size_t>(length, capacity_ - at);
    std::memcpy(to, data() + at, first);
    std::memcpy(static_cast<char*>(to) + first, data(), length - first);
}

std::uint64_t BroadcastRing::publish(std::string_view channel, std::string_view name,
                                     std::string_view data_bytes, std::uint64_t wanted_id) {
    const std::uint64_t payload = channel.size() + name.size() + data_bytes.size();
    if (payload > max_event_bytes() || channel.size() > 0xffff || name.size() > 0xffff) return 0;
    const auto bytes = static_cast<std::uint32_t>((record_overhead + payload + 7) & ~7ull);
    Control& c = control();
    acquire(c.lock, c.lock_steals);
    const std::uint64_t head = c.head.load(std::memory_order_relaxed);
    std::uint64_t tail = c.tail.load(std::memory_order_relaxed);
    std::uint64_t tail_id = c.tail_id.load(std::memory_order_relaxed);
    while (head + bytes - tail > capacity_) {
        Record oldest;
        copy_out(tail, &oldest, sizeof oldest);
        if (oldest.check != seal(oldest.id, oldest.bytes) || oldest.bytes < record_overhead ||
            oldest.bytes > head - tail) {
            // Not a record (a writer died half-way through one it was overwriting): drop
            // everything, so that the ring is whole records again.
            tail = head;
            tail_id = c.next_id;
            break;
        }
        tail += oldest.bytes;
        tail_id = std::max(tail_id, oldest.id + 1);
    }
    // Readers check `tail` after copying a record: moving it before the bytes are
    // overwritten tells a reader that read them that they were not the record's (the
    // writer's half of a seqlock: the store, then a release fence, then the data).
    c.tail.store(tail, std::memory_order_relaxed);
    c.tail_id.store(tail_id, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    const std::uint64_t id = std::max(wanted_id, c.next_id);
    c.next_id = id + 1;
    Record record{id,
                  bytes,
                  seal(id, bytes),
                  static_cast<std::uint16_t>(channel.size()),
                  static_cast<std::uint16_t>(name.size()),
                  static_cast<std::uint32_t>(data_bytes.size()),
                  0};
    copy_in(head, &record, sizeof record);
    std::uint64_t at = head + sizeof record;
    copy_in(at, channel.data(), channel.size());
    at += channel.size();
    copy_in(at, name.data(), name.size());
    at += name.size();
    copy_in(at, data_bytes.data(), data_bytes.size());
    // Sequentially consistent with the subscriber count a worker stores before it looks
    // at `head` (worker/broadcast_stage.cpp): either this publish sees the count and
    // wakes the worker, or the worker sees this event. `last_id` follows `head`, so that
    // a reader that loads it first (end()) never names an event its cursor is before.
    c.head.store(head + bytes, std::memory_order_seq_cst);
    c.last_id.store(id, std::memory_order_release);
    unlock(c.lock);
    c.published.fetch_add(1, std::memory_order_relaxed);
    wake_subscribed_slots();
    return id;
}

void BroadcastRing::forget_before(std::uint64_t id) {
    Control& c = control();
    acquire(c.lock, c.lock_steals);
    if (id > c.tail_id.load(std::memory_order_relaxed))
        c.tail_id.store(id, std::memory_order_release);
    if (id > c.next_id) c.next_id = id;
    unlock(c.lock);
}

std::uint64_t BroadcastRing::relay_position() const {
    return control().relay_position.load(std::memory_order_acquire);
}

void BroadcastRing::set_relay_position(std::uint64_t id) {
    control().relay_position.store(id, std::memory_order_release);
}

void BroadcastRing::wake_subscribed_slots() {
    for (std::size_t i = 0; i < slots_; ++i) {
        BroadcastSlot& s = slot(i);
        if (s.subscribers.load(std::memory_order_seq_cst) == 0) continue;
        if (s.wake_pending.exchange(1, std::memory_order_seq_cst) != 0) continue;
        const std::uint64_t one = 1;
        // Non-blocking: a full counter (never, in practice) already means "wake up".
        [[maybe_unused]] auto written = ::write(wake_fds_[i].get(), &one, sizeof one);
    }
}

BroadcastRing::Cursor BroadcastRing::end(std::uint64_t* last_id) const {
    const std::uint64_t id = control().last_id.load(std::memory_order_acquire);
    if (last_id) *last_id = id;
    return {control().head.load(std::memory_order_seq_cst)};
}

BroadcastRing::Read BroadcastRing::read(Cursor& cursor, BroadcastEvent& event,
                                        std::string& scratch) const {
    const Control& c = control();
    const std::uint64_t head = c.head.load(std::memory_order_acquire);
    if (cursor.position >= head) return Read::none;
    if (cursor.position < c.tail.load(std::memory_order_acquire)) return Read::overrun;
    Record record;
    copy_out(cursor.position, &record, sizeof record);
    const std::uint64_t payload =
        std::uint64_t{record.channel_bytes} + record.name_bytes + record.data_bytes;
    // Every length is checked before it is used: a record being overwritten while it is
    // copied can hold anything.
    const bool sane = record.check == seal(record.id, record.bytes) &&
                      record.bytes >= record_overhead + payload && record.bytes % 8 == 0 &&
                      record.bytes <= head - cursor.position && payload <= max_event_bytes();
    if (!sane) return Read::overrun;
    scratch.resize(static_cast<std::size_t>(payload));
    copy_out(cursor.position + record_overhead, scratch.data(), scratch.size());
    // The reader's half of the seqlock: were these bytes overwritten while being copied,
    // the writer moved `tail` past them first.
    std::atomic_thread_fence(std::memory_order_acquire);
    if (c.tail.load(std::memory_order_relaxed) > cursor.position) return Read::overrun;
    const std::string_view all = scratch;
    event.id = record.id;
    event.channel = all.substr(0, record.channel_bytes);
    event.name = all.substr(record.channel_bytes, record.name_bytes);
    event.data = all.substr(std::size_t{record.channel_bytes} + record.name_bytes);
    cursor.position += record.bytes;
    return Read::event;
}

std::optional<BroadcastRing::Cursor> BroadcastRing::after(std::uint64_t id) const {
    const Control& c = control();
    BroadcastEvent event;
    std::string scratch;
    // A scan from the oldest record; writers may drop records under it (then again, a
    // few times: a ring that turns over faster than it can be scanned has lost `id` anyway).
    for (int attempt = 0; attempt < 4; ++attempt) {
        if (id > c.last_id.load(std::memory_order_acquire)) return std::nullopt;
        Cursor cursor{c.tail.load(std::memory_order_acquire)};
        if (id + 1 < c.tail_id.load(std::memory_order_acquire)) return std::nullopt;
        for (;;) {
            Cursor before = cursor;
            const Read r = read(cursor, event, scratch);
            if (r == Read::none) return cursor;
            if (r == Read::overrun) break;
            // Ids need not follow each other (with Redis they are the stream's): that
            // nothing after `id` was lost is what tail_id says, loaded again in case
            // records were dropped while this scan ran (writers move it first).
            if (event.id > id) {
                if (id + 1 < c.tail_id.load(std::memory_order_acquire)) return std::nullopt;
                return before;
            }
        }
    }
    return std::nullopt;
}

void BroadcastRing::clear_slot(std::size_t i) const {
    slot(i).subscribers.store(0, std::memory_order_relaxed);
    slot(i).wake_pending.store(0, std::memory_order_relaxed);
    channel_table(i).clear();
}

BroadcastInfo BroadcastRing::info() const {
    const Control& c = control();
    BroadcastInfo info;
    info.ring_bytes = capacity_;
    info.used_bytes =
        c.head.load(std::memory_order_relaxed) - c.tail.load(std::memory_order_relaxed);
    info.published = c.published.load(std::memory_order_relaxed);
    info.last_id = c.last_id.load(std::memory_order_relaxed);
    info.oldest_id = std::min(c.tail_id.load(std::memory_order_relaxed), info.last_id + 1);
    info.lock_steals = c.lock_steals.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < slots_; ++i) {
        const BroadcastSlot& s = slot(i);
        info.subscribers += s.subscribers.load(std::memory_order_relaxed);
        info.deliveries += s.deliveries.load(std::memory_order_relaxed);
        info.drops += s.drops.load(std::memory_order_relaxed);
        info.resets += s.resets.load(std::memory_order_relaxed);
        info.connects += s.connects.load(std::memory_order_relaxed);
        info.refused += s.refused.load(std::memory_order_relaxed);
    }
    std::vector<ChannelSubscribers> by_channel;
    std::uint64_t other = 0;
    for (std::size_t i = 0; i < slots_; ++i) channel_table(i).read_into(by_channel, other);
    info.channels = sum_channel_tables(by_channel, other, channel_entries_);
    return info;
}

void BroadcastRing::hold_lock_for_test() {
    acquire(control().lock, control().lock_steals);
}

}  // namespace askr::shm
