#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace askr::shm {

/// One channel and its open subscriber streams.
struct ChannelSubscribers {
    std::string channel;
    std::uint64_t subscribers = 0;
};

/// Subscribers per channel, summed over the worker slots: the busiest channels (at most
/// the table's size), busiest first, and the subscribers of every other channel together.
struct ChannelTotals {
    std::size_t limit = 0;  ///< channels counted one by one; 0: none (totals only)
    std::vector<ChannelSubscribers> channels;
    std::uint64_t other_subscribers = 0;
};

/// One worker slot's subscribers per channel, in shared memory (a view over the bytes the
/// broadcast ring keeps for it): written only by that slot's worker (its I/O thread), read
/// by the admin listener. The table has a fixed number of entries, each with room for a
/// channel name of the longest length allowed, so that a client naming many channels can
/// never grow it: the worker writes its busiest channels and the sum of the others'.
///
/// A whole table is rewritten at once under a sequence counter (odd while it is written):
/// a reader copies it and takes the copy only when the counter did not move, and every
/// length it copies is clamped to the entry, so a torn read never goes out of bounds.
class ChannelTable {
  public:
    /// Bytes a table of `entries` entries for names of up to `name_bytes` bytes takes.
    static std::size_t bytes(std::size_t entries, std::size_t name_bytes);

    ChannelTable(char* memory, std::size_t entries, std::size_t name_bytes);

    /// How many channels the table holds.
    std::size_t capacity() const { return entries_; }
    /// The writer: replaces the table with `channels` (at most capacity(), longer names
    /// counted in `other`) and `other`, the subscribers of the channels left out.
    void write(const std::vector<std::pair<std::string_view, std::uint32_t>>& channels,
               std::uint64_t other);
    /// Empties the table (its worker has exited; nobody writes it).
    void clear();
    /// Adds a consistent copy of the table to `by_channel` and `other`; false (nothing
    /// added) when the writer kept moving it under a few attempts.
    bool read_into(std::vector<ChannelSubscribers>& by_channel, std::uint64_t& other) const;

  private:
    struct Header;
    struct Entry;
    Header& header() const;
    Entry& entry(std::size_t i) const;

    char* memory_;
    std::size_t entries_, name_bytes_, stride_;
};

/// Sums per-slot tables into the busiest `limit` channels and the rest.
ChannelTotals sum_channel_tables(const std::vector<ChannelSubscribers>& by_channel,
                                 std::uint64_t other, std::size_t limit);

}  // namespace askr::shm
