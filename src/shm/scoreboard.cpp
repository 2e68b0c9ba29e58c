#include "shm/scoreboard.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <new>
#include <stdexcept>

namespace askr::shm {

namespace {
constexpr std::size_t header_bytes = 64;
}

const char* state_name(WorkerState state) {
    switch (state) {
        case WorkerState::empty: return "empty";
        case WorkerState::starting: return "starting";
        case WorkerState::idle: return "idle";
        case WorkerState::busy: return "busy";
        case WorkerState::draining: return "draining";
    }
    return "unknown";
}

Scoreboard::Scoreboard(std::size_t slots) : slots_(slots) {
    bytes_ = header_bytes + slots * sizeof(WorkerSlot);
    memory_ = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (memory_ == MAP_FAILED) throw std::runtime_error("cannot map the worker table (mmap)");
    auto* header = static_cast<Header*>(memory_);
    *header = Header{magic, layout_version, bytes_, slots};
    for (std::size_t i = 0; i < slots; ++i) new (&slot(i)) WorkerSlot();
}

Scoreboard::~Scoreboard() { ::munmap(memory_, bytes_); }

WorkerSlot& Scoreboard::slot(std::size_t i) const {
    return *reinterpret_cast<WorkerSlot*>(static_cast<char*>(memory_) + header_bytes + i * sizeof(WorkerSlot));
}

bool Scoreboard::valid() const {
    const auto* header = static_cast<const Header*>(memory_);
    return header->magic == magic && header->version == layout_version && header->bytes == bytes_ &&
           header->slots == slots_;
}

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::uint64_t current_rss_bytes() {
    std::FILE* f = std::fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long size = 0, resident = 0;
    const int n = std::fscanf(f, "%lu %lu", &size, &resident);
    std::fclose(f);
    return n == 2 ? resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)) : 0;
}

}  // namespace askr::shm
