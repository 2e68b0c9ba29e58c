#include "shm/region.hpp"

#include <sys/mman.h>

#include <stdexcept>
#include <string>

namespace askr::shm {

Region::Region(const char* what, std::uint32_t magic, std::uint32_t version, std::size_t content_bytes,
               std::size_t items)
    : bytes_(header_bytes + content_bytes) {
    static_assert(sizeof(Header) <= header_bytes);
    memory_ = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (memory_ == MAP_FAILED) throw std::runtime_error(std::string("cannot map ") + what + " (mmap)");
    expected_ = Header{magic, version, bytes_, items};
    *static_cast<Header*>(memory_) = expected_;
}

Region::~Region() { ::munmap(memory_, bytes_); }

bool Region::valid() const {
    const auto* header = static_cast<const Header*>(memory_);
    return header->magic == expected_.magic && header->version == expected_.version &&
           header->bytes == expected_.bytes && header->items == expected_.items;
}

}  // namespace askr::shm
