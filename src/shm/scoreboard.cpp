#include "shm/scoreboard.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <new>
#include <stdexcept>

namespace askr::shm {

const char* state_name(WorkerState state) {
    switch (state) {
        case WorkerState::empty: return "empty";
        case WorkerState::starting: return "starting";
        case WorkerState::idle: return "idle";
        case WorkerState::busy: return "busy";
        case WorkerState::draining: return "draining";
        case WorkerState::failing: return "failing";
    }
    return "unknown";
}

Scoreboard::Scoreboard(std::size_t slots)
    : slots_(slots), region_("the worker table", magic, layout_version, slots * sizeof(WorkerSlot), slots) {
    for (std::size_t i = 0; i < slots; ++i) new (&slot(i)) WorkerSlot();
}

Scoreboard::~Scoreboard() = default;

WorkerSlot& Scoreboard::slot(std::size_t i) const {
    return *reinterpret_cast<WorkerSlot*>(region_.contents() + i * sizeof(WorkerSlot));
}

bool Scoreboard::valid() const { return region_.valid(); }

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
