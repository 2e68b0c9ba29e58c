#include "static/encoded_copies.hpp"

#include <fcntl.h>
#include <unistd.h>

#include "core/unique_fd.hpp"
#include "http/encoder.hpp"
#include "static/file_cache.hpp"

namespace askr::static_files {

namespace {

// The identity ETag "x" as W/"x-<coding>": weak like the ETag of any response Askr
// compresses (the bytes depend on the library and level), and distinct per coding.
std::string copy_etag(std::string_view etag, http::Coding coding) {
    std::string out = "W/";
    out += etag;
    out.insert(out.size() - 1, "-");
    out.insert(out.size() - 1, http::coding_name(coding));
    return out;
}

// The whole file: from memory when the cache holds it, else read once from disk.
bool read_whole(const CachedFile& file, std::string& out) {
    if (file.inline_content) {
        out = file.content;
        return true;
    }
    core::UniqueFd fd(::open(file.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return false;
    out.resize(file.size);
    std::size_t done = 0;
    while (done < out.size()) {
        const ssize_t n = ::pread(fd.get(), out.data() + done, out.size() - done,
                                  static_cast<off_t>(done));
        if (n <= 0) return false;  // shorter than the cache saw: it changed, try again later
        done += static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

void EncodedCopies::reset(std::uint64_t budget) {
    for (auto& index : index_) index.clear();
    lru_.clear();
    used_ = 0;
    budget_ = budget;
}

void EncodedCopies::drop(Lru::iterator entry) {
    used_ -= entry->cost;
    index_[static_cast<int>(entry->coding)].erase(entry->path);
    lru_.erase(entry);
}

std::shared_ptr<const EncodedCopy> EncodedCopies::get(const CachedFile& file, http::Coding coding,
                                                      int level) {
    const Version version{file.size, file.mtime_ns, static_cast<std::uint64_t>(file.device),
                          static_cast<std::uint64_t>(file.inode)};
    auto& index = index_[static_cast<int>(coding)];
    if (auto it = index.find(std::string_view(file.path)); it != index.end()) {
        if (it->second->version == version) {
            lru_.splice(lru_.begin(), lru_, it->second);  // most recently used
            return it->second->copy;
        }
        drop(it->second);  // made from an earlier version of the file
    }
    if (budget_ == 0) return nullptr;
    std::string content;
    if (!read_whole(file, content)) return nullptr;
    auto copy = std::make_shared<EncodedCopy>();
    copy->bytes = http::encode_whole(coding, level, content);
    // A copy no smaller than the file, or a library failure, is remembered as "send the
    // file as it is" for this version, so that it is not tried again on every request.
    std::uint64_t cost = entry_overhead + file.path.size();
    if (copy->bytes.empty() || copy->bytes.size() >= file.size) {
        copy.reset();
    } else {
        copy->bytes.shrink_to_fit();
        copy->etag = copy_etag(file.etag, coding);
        cost += copy->bytes.size();
    }
    if (cost > budget_) return nullptr;
    while (used_ + cost > budget_) drop(std::prev(lru_.end()));
    lru_.push_front(Entry{file.path, coding, version, copy, cost});
    index.emplace(file.path, lru_.begin());
    used_ += cost;
    return copy;
}

}  // namespace askr::static_files
