#pragma once
#include <cstddef>
#include <cstdint>

namespace askr::shm {

/// An anonymous MAP_SHARED mapping created by the master before any fork
/// (docs/architecture.md, "Shared memory"), so that every child shares it: a 64-byte header (magic,
/// layout version, size, item count) followed by the region's plain structs. Unmapped when
/// destroyed; never resized. Neither copyable nor movable: children hold pointers into it.
class Region {
  public:
    /// Bytes before the contents (one cache line).
    static constexpr std::size_t header_bytes = 64;

    /// Maps `header_bytes + content_bytes` zeroed bytes and writes the header; throws
    /// std::runtime_error naming `what` ("the worker table") on failure.
    Region(const char* what, std::uint32_t magic, std::uint32_t version, std::size_t content_bytes,
           std::size_t items);
    ~Region();
    Region(const Region&) = delete;
    Region& operator=(const Region&) = delete;

    /// The first byte after the header.
    char* contents() const { return static_cast<char*>(memory_) + header_bytes; }
    /// True when the header still says what it was created with (no stray write hit it).
    bool valid() const;

  private:
    struct Header {
        std::uint32_t magic;
        std::uint32_t version;
        std::uint64_t bytes;
        std::uint64_t items;
    };
    void* memory_ = nullptr;
    std::size_t bytes_ = 0;
    Header expected_{};
};

}  // namespace askr::shm
