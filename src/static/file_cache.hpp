#pragma once
#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "http/compression.hpp"
#include "http/router.hpp"
#include "static/encoded_copies.hpp"

namespace askr::static_files {

/// A precompressed sibling of a static file ("app.css.br" beside "app.css"), served as it
/// is in place of the file to a client that accepts its coding.
struct Sibling {
    std::string path;
    std::uint64_t size = 0;
    std::time_t mtime = 0;
    std::int64_t mtime_ns = 0;
    dev_t device = 0;
    ino_t inode = 0;
    std::string etag;  ///< from the sibling's own mtime and size, marked with the coding
    std::string last_modified;
    bool inline_content = false;  ///< `content` holds the whole sibling
    std::string content;
};

/// What is known about a static file: validators, type, and for small files the content.
struct CachedFile {
    std::string path;
    std::uint64_t size = 0;
    std::time_t mtime = 0;
    std::int64_t mtime_ns = 0;  ///< mtime in nanoseconds: a change within a second is one
    dev_t device = 0;
    ino_t inode = 0;
    std::string etag;
    std::string last_modified;
    std::string_view content_type;
    bool inline_content = false;  ///< `content` holds the whole file
    std::string content;
    std::chrono::steady_clock::time_point checked;
    /// Its answers depend on Accept-Encoding: compression is on and its type is listed.
    bool varies = false;
    /// Precompressed siblings by Coding: regular files, not older than this file, allowed
    /// by the root's symlink policy; null where there is none.
    std::array<std::shared_ptr<const Sibling>, 4> siblings;
};

/// How a FileCache offers files encoded (docs/compression.md, "Static files").
struct EncodingSettings {
    http::CompressionSettings compression;  ///< on, types, levels, limits (no type: none vary)
    std::string root;  ///< the document root siblings must stay in (inside_root)
    http::SymlinkPolicy symlinks = http::SymlinkPolicy::follow;
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

    /// Offers compressible files encoded: looks for their siblings, keeps compressed copies.
    void offer_encodings(EncodingSettings settings);
    /// What offer_encodings() set (compression.enabled false: files go as they are).
    const EncodingSettings& encodings() const { return encodings_; }
    /// The compressed copies made of this cache's files.
    EncodedCopies& copies() { return copies_; }

private:
    std::shared_ptr<CachedFile> load(int fd, const struct stat& st, const std::string& path,
                                     std::chrono::steady_clock::time_point now);
    void find_siblings(CachedFile& file) const;
    bool siblings_changed(const CachedFile& file) const;

    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::chrono::milliseconds validity_;
    std::uint64_t inline_limit_;
    std::size_t max_entries_;
    EncodingSettings encodings_;
    EncodedCopies copies_{0};
    std::unordered_map<std::string, std::shared_ptr<CachedFile>, Hash, std::equal_to<>> entries_;
};

}  // namespace askr::static_files
