#pragma once
#include <array>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "http/content_coding.hpp"

namespace askr::static_files {

struct CachedFile;

/// A static file compressed by the server, whole, in one coding.
struct EncodedCopy {
    std::string bytes;  ///< the encoded body
    std::string etag;   ///< the file's ETag made weak and marked with the coding
};

/// Compressed copies of static files, per worker (I/O thread only, no locks): each file
/// is compressed once per coding and kept while the file cache reports the same version
/// of it (size, mtime, inode). At most `budget` bytes of copies (and bookkeeping) are kept;
/// past it the least recently used go. A copy being sent stays alive until its response
/// ends.
class EncodedCopies {
  public:
    explicit EncodedCopies(std::uint64_t budget) : budget_(budget) {}
    EncodedCopies(const EncodedCopies&) = delete;
    EncodedCopies& operator=(const EncodedCopies&) = delete;

    /// The copy of `file` in `coding` (not identity), compressed at `level` now unless
    /// kept from an earlier request for this version; null when the file cannot be read,
    /// the library fails, the copy is no smaller than the file, or it alone is larger than
    /// the budget.
    std::shared_ptr<const EncodedCopy> get(const CachedFile& file, http::Coding coding, int level);
    /// Forgets every copy and keeps at most `budget` bytes from now on.
    void reset(std::uint64_t budget);
    /// Bytes of copies kept.
    std::uint64_t used() const { return used_; }

  private:
    // The version of a file a copy was made from.
    struct Version {
        std::uint64_t size = 0;
        std::int64_t mtime_ns = 0;
        std::uint64_t device = 0, inode = 0;
        bool operator==(const Version&) const = default;
    };
    struct Entry {
        std::string path;
        http::Coding coding;
        Version version;
        std::shared_ptr<const EncodedCopy> copy;  ///< null: the file goes as it is
        std::uint64_t cost;                        ///< bytes counted against the budget
    };
    // What an entry costs besides its bytes and path (list node, index node, strings).
    static constexpr std::uint64_t entry_overhead = 256;
    using Lru = std::list<Entry>;  // most recently used first
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const {
            return std::hash<std::string_view>{}(s);
        }
    };
    using Index = std::unordered_map<std::string, Lru::iterator, Hash, std::equal_to<>>;

    void drop(Lru::iterator entry);

    std::uint64_t budget_;
    std::uint64_t used_ = 0;
    Lru lru_;
    std::array<Index, 4> index_;  // by Coding
};

}  // namespace askr::static_files
