#include "static/file_cache.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "core/unique_fd.hpp"
#include "static/conditional.hpp"
#include "static/http_date.hpp"
#include "static/mime_types.hpp"

namespace askr::static_files {

namespace {

bool same_file(const CachedFile& file, const struct stat& st) {
    return file.size == static_cast<std::uint64_t>(st.st_size) && file.mtime == st.st_mtim.tv_sec &&
           file.device == st.st_dev && file.inode == st.st_ino;
}

}  // namespace

FileCache::FileCache(std::chrono::milliseconds validity, std::uint64_t inline_limit, std::size_t max_entries)
    : validity_(validity), inline_limit_(inline_limit), max_entries_(max_entries) {}

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
        it->second->checked = now;  // unchanged: revalidated
        return {it->second, 0};
    }
    auto file = std::make_shared<CachedFile>();
    file->path = path;
    file->size = static_cast<std::uint64_t>(st.st_size);
    file->mtime = st.st_mtim.tv_sec;
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
        ssize_t n = ::pread(fd.get(), file->content.data(), file->size, 0);
        if (n != static_cast<ssize_t>(file->size)) return {nullptr, 404};  // changed while reading
        file->inline_content = true;
    }
    if (it != entries_.end()) {
        it->second = file;
    } else {
        if (entries_.size() >= max_entries_) entries_.clear();
        entries_.emplace(path, file);
    }
    return {file, 0};
}

}  // namespace askr::static_files
