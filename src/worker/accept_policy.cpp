#include "worker/accept_policy.hpp"

#include <algorithm>
#include <limits>

namespace askr::worker {

namespace {

// A script running this long is a slow one (a report, an upload, a hung API call):
// whoever connects to its worker waits for it, so the worker ranks after every other.
// A worker that is busy only for a moment (a few-millisecond page) counts one connection
// more: that busy state flickers, and weighing it heavily would pile long-lived
// keep-alive connections onto whichever worker happened to be idle at that instant.
constexpr std::int64_t slow_request_ms = 10;
constexpr std::uint64_t slow_weight = std::uint64_t{1} << 32;

bool serving(const shm::WorkerSlot& slot) {
    const auto state = slot.state.load(std::memory_order_relaxed);
    return state == shm::WorkerState::idle || state == shm::WorkerState::busy;
}

}  // namespace

std::uint64_t accept_load(const shm::WorkerSlot& slot) {
    std::uint64_t load = slot.connections.load(std::memory_order_relaxed);
    if (slot.php_outstanding.load(std::memory_order_relaxed) > 0) ++load;
    const std::int64_t started = slot.request_started_ms.load(std::memory_order_relaxed);
    if (started != 0 && shm::now_ms() - started >= slow_request_ms) load += slow_weight;
    return load;
}

namespace {

// Among equally loaded workers, the newest generation's (what may_accept() steps back for).
int least_loaded_except(const shm::Scoreboard& board, const shm::WorkerSlot* self) {
    int best = -1;
    std::uint64_t least = std::numeric_limits<std::uint64_t>::max();
    std::uint32_t newest = 0;
    for (std::size_t i = 0; i < board.size(); ++i) {
        const shm::WorkerSlot& other = board.slot(i);
        if (&other == self || !serving(other)) continue;
        const auto load = accept_load(other);
        const auto generation = other.generation.load(std::memory_order_relaxed);
        if (load < least || (load == least && generation > newest)) {
            least = load;
            newest = generation;
            best = static_cast<int>(i);
        }
    }
    return best;
}

}  // namespace

int least_loaded_peer(const shm::Scoreboard& board, const shm::WorkerSlot& self) {
    return least_loaded_except(board, &self);
}

int least_loaded_worker(const shm::Scoreboard& board) {
    return least_loaded_except(board, nullptr);
}

bool may_accept(const shm::Scoreboard& board, const shm::WorkerSlot& self) {
    const std::uint64_t mine = accept_load(self);
    const std::uint32_t generation = self.generation.load(std::memory_order_relaxed);
    std::uint64_t least = std::numeric_limits<std::uint64_t>::max();
    for (std::size_t i = 0; i < board.size(); ++i) {
        const shm::WorkerSlot& other = board.slot(i);
        if (&other == &self || !serving(other)) continue;
        const std::uint64_t load = accept_load(other);
        if (other.generation.load(std::memory_order_relaxed) > generation && load <= mine)
            return false;  // a newer generation's worker takes it
        least = std::min(least, load);
    }
    return least == std::numeric_limits<std::uint64_t>::max() || mine <= least + 1;
}

std::uint64_t expected_wait_us(const shm::WorkerSlot& self, std::uint32_t outstanding,
                               std::int64_t now_ms) {
    std::uint64_t wait =
        std::uint64_t{outstanding} * self.php_average_us.load(std::memory_order_relaxed);
    const std::int64_t started = self.request_started_ms.load(std::memory_order_relaxed);
    if (outstanding > 0 && started != 0 && now_ms - started >= slow_request_ms) {
        wait = std::max(wait, static_cast<std::uint64_t>(now_ms - started) * 1000);
    }
    return wait;
}

int idle_peer(const shm::Scoreboard& board, const shm::WorkerSlot& self,
              std::uint32_t max_connections) {
    for (std::size_t i = 0; i < board.size(); ++i) {
        const shm::WorkerSlot& other = board.slot(i);
        if (&other == &self ||
            other.state.load(std::memory_order_relaxed) != shm::WorkerState::idle)
            continue;
        if (other.php_outstanding.load(std::memory_order_relaxed) != 0) continue;
        if (other.connections.load(std::memory_order_relaxed) >= max_connections) continue;
        return static_cast<int>(i);
    }
    return -1;
}

int busiest_peer(const shm::Scoreboard& board, const shm::WorkerSlot& self, std::int64_t now_ms,
                 std::uint64_t min_wait_us) {
    int busiest = -1;
    std::uint64_t longest = 0;
    for (std::size_t i = 0; i < board.size(); ++i) {
        const shm::WorkerSlot& peer = board.slot(i);
        if (&peer == &self || peer.state.load(std::memory_order_relaxed) != shm::WorkerState::busy)
            continue;
        const auto outstanding = peer.php_outstanding.load(std::memory_order_relaxed);
        if (outstanding < 2) continue;  // only the running request: nothing waits
        if (const auto wait = expected_wait_us(peer, outstanding, now_ms);
            wait >= min_wait_us && wait > longest) {
            longest = wait;
            busiest = static_cast<int>(i);
        }
    }
    return busiest;
}

}  // namespace askr::worker
