#pragma once
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace askr::static_files {

/// What is known about a static file: validators, type, and for small files the content.
struct CachedFile {
    std::string path;
    std::uint64_t size = 0;
    std::time_t mtime = 0;
    dev_t device = 0;
    ino_t inode = 0;
    std::string etag;
    std::string last_modified;
    std::string_view content_type;
    bool inline_content = false;  ///< `content` holds the whole file
    std::string content;
    std::chrono::steady_clock::time_point checked;
};

/// Result of a FileCache lookup.
struct FileLookup {
    std::shared_ptr<const CachedFile> file;  ///< null when not served
    int error_status = 0;                    ///< 404 (absent) or 403 (unreadable)
};

/// Static files of the last second, per worker (I/O thread only, no locks), as nginx's
/// open_file_cache: a hit costs no system call; after `validity` one stat() revalidates.
/// Files up to `inline_limit` bytes are kept in memory and sent with the head in one write.
class FileCache {
public:
    FileCache() : FileCache(std::chrono::seconds(1)) {}
    explicit FileCache(std::chrono::milliseconds validity,
                       std::uint64_t inline_limit = 32 * 1024, std::size_t max_entries = 1024);
    /// The file at `path` (absolute), loading or revalidating it as needed.
    FileLookup lookup(const std::string& path);

private:
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::chrono::milliseconds validity_;
    std::uint64_t inline_limit_;
    std::size_t max_entries_;
    std::unordered_map<std::string, std::shared_ptr<CachedFile>, Hash, std::equal_to<>> entries_;
};

}  // namespace askr::static_files
