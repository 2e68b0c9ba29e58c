#include "static/file_cache.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "core/unique_fd.hpp"
#include "static/conditional.hpp"
#include "static/http_date.hpp"
#include "static/mime_types.hpp"

namespace askr::static_files {

namespace {

std::int64_t mtime_ns(const struct stat& st) {
    return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

bool same_file(const CachedFile& file, const struct stat& st) {
    return file.size == static_cast<std::uint64_t>(st.st_size) && file.mtime_ns == mtime_ns(st) &&
           file.device == st.st_dev && file.inode == st.st_ino;
}

bool same_sibling(const Sibling& sibling, const struct stat& st) {
    return sibling.size == static_cast<std::uint64_t>(st.st_size) &&
           sibling.mtime_ns == mtime_ns(st) && sibling.device == st.st_dev &&
           sibling.inode == st.st_ino;
}

// A sibling is used only when it is a regular file at least as new as the file: an
// older one was made from an earlier version. Compared in whole seconds: gzip -k and
// brotli -k give the sibling the file's mtime, brotli without its nanoseconds.
bool usable_sibling(const CachedFile& file, const struct stat& st) {
    return S_ISREG(st.st_mode) && st.st_mtim.tv_sec >= file.mtime;
}

// SymlinkPolicy::inside_root holds for siblings as for the file (http/router.cpp).
bool inside(const EncodingSettings& settings, const std::string& path) {
    if (settings.symlinks != http::SymlinkPolicy::inside_root) return true;
    struct FreeDeleter {
        void operator()(char* p) const { std::free(p); }
    };
    const std::unique_ptr<char, FreeDeleter> real(::realpath(path.c_str(), nullptr));
    if (!real) return false;
    std::string_view root = settings.root;
    if (!root.empty() && root.back() == '/') root.remove_suffix(1);
    const std::string_view resolved(real.get());
    return resolved.size() > root.size() && resolved.substr(0, root.size()) == root &&
           resolved[root.size()] == '/';
}

// The ETag of a sibling: its own mtime and size, and the file name suffix of its coding
// ("6751a3b2-4c1.br"), so that every coding and the identity file differ.
std::string sibling_etag(std::time_t mtime, std::uint64_t size, http::Coding coding) {
    std::string etag = make_etag(mtime, size);
    etag.insert(etag.size() - 1, http::coding_suffix(coding));
    return etag;
}

}  // namespace

FileCache::FileCache(std::chrono::milliseconds validity, std::uint64_t inline_limit, std::size_t max_entries)
    : validity_(validity), inline_limit_(inline_limit), max_entries_(max_entries) {}

void FileCache::offer_encodings(EncodingSettings settings) {
    encodings_ = std::move(settings);
    copies_.reset(encodings_.compression.enabled ? encodings_.compression.static_memory : 0);
    entries_.clear();
}

FileLookup FileCache::lookup(const std::string& path) {
    const auto now = std::chrono::steady_clock::now();
    auto it = entries_.find(path);
    if (it != entries_.end() && now - it->second->checked < validity_) return {it->second, 0};

    core::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st{};
    if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
        const int status = (!fd && errno == EACCES) ? 403 : 404;
        if (it != entries_.end()) entries_.erase(it);
        return {nullptr, status};
    }
    if (it != entries_.end() && same_file(*it->second, st)) {
        if (it->second->varies && siblings_changed(*it->second)) {
            // A sibling came, went or changed: a new entry, since answers being sent may
            // still read the old one.
            auto file = std::make_shared<CachedFile>(*it->second);
            find_siblings(*file);
            it->second = std::move(file);
        }
        it->second->checked = now;  // unchanged: revalidated
        return {it->second, 0};
    }
    auto file = load(fd.get(), st, path, now);
    if (!file) return {nullptr, 404};  // changed while reading
    if (it != entries_.end()) {
        it->second = file;
    } else {
        if (entries_.size() >= max_entries_) entries_.clear();
        entries_.emplace(path, file);
    }
    return {file, 0};
}

std::shared_ptr<CachedFile> FileCache::load(int fd, const struct stat& st, const std::string& path,
                                            std::chrono::steady_clock::time_point now) {
    auto file = std::make_shared<CachedFile>();
    file->path = path;
    file->size = static_cast<std::uint64_t>(st.st_size);
    file->mtime = st.st_mtim.tv_sec;
    file->mtime_ns = mtime_ns(st);
    file->device = st.st_dev;
    file->inode = st.st_ino;
    file->etag = make_etag(file->mtime, file->size);
    char date[http_date_length];
    format_http_date(file->mtime, date);
    file->last_modified.assign(date, http_date_length);
    file->content_type = MimeTypes::system().lookup(path);
    file->checked = now;
    if (file->size <= inline_limit_) {
        file->content.resize(file->size);
        ssize_t n = ::pread(fd, file->content.data(), file->size, 0);
        if (n != static_cast<ssize_t>(file->size)) return nullptr;
        file->inline_content = true;
    }
    const auto& compression = encodings_.compression;
    file->varies =
        compression.enabled && http::compressible_type(file->content_type, compression.types);
    if (file->varies) find_siblings(*file);
    return file;
}

void FileCache::find_siblings(CachedFile& file) const {
    for (auto coding : {http::Coding::gzip, http::Coding::br, http::Coding::zstd}) {
        auto& slot = file.siblings[static_cast<int>(coding)];
        slot.reset();
        if ((encodings_.compression.codings & http::coding_bit(coding)) == 0) continue;
        std::string path = file.path;
        path += http::coding_suffix(coding);
        core::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        struct stat st{};
        if (!fd || ::fstat(fd.get(), &st) != 0 || !usable_sibling(file, st)) continue;
        if (!inside(encodings_, path)) continue;
        auto sibling = std::make_shared<Sibling>();
        sibling->size = static_cast<std::uint64_t>(st.st_size);
        sibling->mtime = st.st_mtim.tv_sec;
        sibling->mtime_ns = mtime_ns(st);
        sibling->device = st.st_dev;
        sibling->inode = st.st_ino;
        sibling->etag = sibling_etag(sibling->mtime, sibling->size, coding);
        char date[http_date_length];
        format_http_date(sibling->mtime, date);
        sibling->last_modified.assign(date, http_date_length);
        if (sibling->size <= inline_limit_) {
            sibling->content.resize(sibling->size);
            const ssize_t n = ::pread(fd.get(), sibling->content.data(), sibling->size, 0);
            if (n != static_cast<ssize_t>(sibling->size)) continue;  // changed while reading
            sibling->inline_content = true;
        }
        sibling->path = std::move(path);
        slot = std::move(sibling);
    }
}

// One stat() per coding, once per validity period of a compressible file.
bool FileCache::siblings_changed(const CachedFile& file) const {
    for (auto coding : {http::Coding::gzip, http::Coding::br, http::Coding::zstd}) {
        if ((encodings_.compression.codings & http::coding_bit(coding)) == 0) continue;
        const auto& known = file.siblings[static_cast<int>(coding)];
        std::string path = file.path;
        path += http::coding_suffix(coding);
        struct stat st{};
        const bool present = ::stat(path.c_str(), &st) == 0 && usable_sibling(file, st);
        if (present && !known && !inside(encodings_, path)) continue;  // still refused
        if (present != (known != nullptr)) return true;
        if (present && !same_sibling(*known, st)) return true;
    }
    return false;
}

}  // namespace askr::static_files
