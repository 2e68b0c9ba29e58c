#include "shm/broadcast_channels.hpp"

#include <algorithm>
#include <cstring>
#include <unordered_map>

namespace askr::shm {

struct ChannelTable::Header {
    std::atomic<std::uint32_t> sequence;  ///< odd while the writer rewrites the table
    std::uint32_t used;                   ///< entries in use, from the first
    std::uint64_t other;                  ///< subscribers of channels not in the table
};

struct ChannelTable::Entry {
    std::uint32_t subscribers;
    std::uint16_t name_length;
    std::uint16_t unused;
    // name_bytes_ bytes of the name follow.
    char* name() { return reinterpret_cast<char*>(this + 1); }
    const char* name() const { return reinterpret_cast<const char*>(this + 1); }
};

namespace {

constexpr std::size_t align_8(std::size_t n) {
    return (n + 7) & ~std::size_t{7};
}

constexpr std::size_t entry_header_bytes = 8;
constexpr int read_attempts = 8;

}  // namespace

std::size_t ChannelTable::bytes(std::size_t entries, std::size_t name_bytes) {
    return sizeof(Header) + entries * align_8(entry_header_bytes + name_bytes);
}

ChannelTable::ChannelTable(char* memory, std::size_t entries, std::size_t name_bytes)
    : memory_(memory),
      entries_(entries),
      name_bytes_(std::min<std::size_t>(name_bytes, 0xffff)),
      stride_(align_8(entry_header_bytes + name_bytes)) {
    static_assert(sizeof(Header) == 16 && sizeof(Entry) == entry_header_bytes);
}

ChannelTable::Header& ChannelTable::header() const {
    return *reinterpret_cast<Header*>(memory_);
}

ChannelTable::Entry& ChannelTable::entry(std::size_t i) const {
    return *reinterpret_cast<Entry*>(memory_ + sizeof(Header) + i * stride_);
}

void ChannelTable::write(const std::vector<std::pair<std::string_view, std::uint32_t>>& channels,
                         std::uint64_t other) {
    Header& h = header();
    const std::uint32_t sequence = h.sequence.load(std::memory_order_relaxed);
    // The writer's half of a seqlock: odd, a release fence, the data, then even again.
    h.sequence.store(sequence | 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    std::uint32_t used = 0;
    for (const auto& [name, subscribers] : channels) {
        if (used == entries_ || name.size() > name_bytes_) {
            other += subscribers;
            continue;
        }
        Entry& e = entry(used++);
        e.subscribers = subscribers;
        e.name_length = static_cast<std::uint16_t>(name.size());
        std::memcpy(e.name(), name.data(), name.size());
    }
    h.used = used;
    h.other = other;
    h.sequence.store((sequence | 1) + 1, std::memory_order_release);
}

void ChannelTable::clear() {
    Header& h = header();
    h.used = 0;
    h.other = 0;
    h.sequence.store(0, std::memory_order_release);
}

bool ChannelTable::read_into(std::vector<ChannelSubscribers>& by_channel,
                             std::uint64_t& other) const {
    const Header& h = header();
    std::vector<ChannelSubscribers> copy;
    for (int attempt = 0; attempt < read_attempts; ++attempt) {
        const std::uint32_t before = h.sequence.load(std::memory_order_acquire);
        if (before & 1) continue;
        copy.clear();
        const std::size_t used = std::min<std::size_t>(h.used, entries_);
        const std::uint64_t copied_other = h.other;
        for (std::size_t i = 0; i < used; ++i) {
            const Entry& e = entry(i);
            const std::size_t length = std::min<std::size_t>(e.name_length, name_bytes_);
            copy.push_back({std::string(e.name(), length), e.subscribers});
        }
        // The reader's half: were the bytes rewritten while being copied, the counter moved.
        std::atomic_thread_fence(std::memory_order_acquire);
        if (h.sequence.load(std::memory_order_relaxed) != before) continue;
        for (auto& c : copy) by_channel.push_back(std::move(c));
        other += copied_other;
        return true;
    }
    return false;
}

ChannelTotals sum_channel_tables(const std::vector<ChannelSubscribers>& by_channel,
                                 std::uint64_t other, std::size_t limit) {
    std::unordered_map<std::string_view, std::uint64_t> sums;
    for (const auto& c : by_channel) sums[c.channel] += c.subscribers;
    ChannelTotals totals;
    totals.limit = limit;
    totals.other_subscribers = other;
    for (const auto& [channel, subscribers] : sums) {
        if (subscribers > 0) totals.channels.push_back({std::string(channel), subscribers});
    }
    std::sort(totals.channels.begin(), totals.channels.end(), [](const auto& a, const auto& b) {
        return a.subscribers != b.subscribers ? a.subscribers > b.subscribers
                                              : a.channel < b.channel;
    });
    for (std::size_t i = limit; i < totals.channels.size(); ++i)
        totals.other_subscribers += totals.channels[i].subscribers;
    if (totals.channels.size() > limit) totals.channels.resize(limit);
    return totals;
}

}  // namespace askr::shm
