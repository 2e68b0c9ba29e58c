#include "worker/accept_policy.hpp"

#include <gtest/gtest.h>

namespace askr::worker {
namespace {

shm::WorkerSlot& serving(shm::Scoreboard& board, std::size_t i, std::uint32_t connections) {
    auto& slot = board.slot(i);
    slot.state.store(shm::WorkerState::idle);
    slot.connections.store(connections);
    return slot;
}

TEST(AcceptPolicy, AWorkerAloneAlwaysAccepts) {
    shm::Scoreboard board(4);
    auto& self = serving(board, 0, 1000);
    EXPECT_TRUE(may_accept(board, self));
    EXPECT_EQ(least_loaded_peer(board, self), -1);
}

TEST(AcceptPolicy, AcceptsWithinOneConnectionOfTheLeastLoadedPeer) {
    shm::Scoreboard board(4);
    auto& self = serving(board, 0, 5);
    serving(board, 1, 4);
    serving(board, 2, 9);
    EXPECT_TRUE(may_accept(board, self));
    self.connections.store(6);
    EXPECT_FALSE(may_accept(board, self));
    EXPECT_EQ(least_loaded_peer(board, self), 1);
}

// During a reload, a new generation's worker takes new connections first while it is no
// more loaded than the old one; once it is more loaded, the old one takes them again.
TEST(AcceptPolicy, AnOldWorkerStepsBackForANewerGenerationAsLoaded) {
    shm::Scoreboard board(4);
    auto& old_worker = serving(board, 0, 3);
    old_worker.generation.store(1);
    auto& canary = serving(board, 1, 3);
    canary.generation.store(2);
    EXPECT_FALSE(may_accept(board, old_worker));
    EXPECT_TRUE(may_accept(board, canary));
    auto& other_old = serving(board, 2, 3);
    other_old.generation.store(1);
    EXPECT_EQ(least_loaded_peer(board, old_worker), 1) << "a declined connection goes to the new one";
    canary.connections.store(4);
    EXPECT_TRUE(may_accept(board, old_worker));
    EXPECT_TRUE(may_accept(board, canary));
    canary.connections.store(5);
    EXPECT_FALSE(may_accept(board, canary));
    EXPECT_TRUE(may_accept(board, old_worker));
}

TEST(AcceptPolicy, StartingDrainingAndEmptySlotsDoNotCount) {
    shm::Scoreboard board(4);
    auto& self = serving(board, 0, 10);
    board.slot(1).state.store(shm::WorkerState::starting);
    board.slot(2).state.store(shm::WorkerState::draining);
    EXPECT_TRUE(may_accept(board, self));
    EXPECT_EQ(least_loaded_peer(board, self), -1);
}

TEST(AcceptPolicy, AWorkerStuckInASlowScriptRanksAfterAllOthers) {
    shm::Scoreboard board(4);
    auto& self = serving(board, 0, 1);
    serving(board, 1, 50);
    self.php_outstanding.store(1);
    self.request_started_ms.store(shm::now_ms() - 2000);
    EXPECT_FALSE(may_accept(board, self));
    EXPECT_EQ(least_loaded_peer(board, board.slot(1)), 0);
    EXPECT_TRUE(may_accept(board, board.slot(1)));
}

TEST(AcceptPolicy, AMomentarilyBusyWorkerCountsOneConnectionMore) {
    shm::Scoreboard board(4);
    auto& self = serving(board, 0, 3);
    serving(board, 1, 2);
    self.php_outstanding.store(1);
    self.request_started_ms.store(shm::now_ms());
    EXPECT_EQ(accept_load(self), 4u);
    EXPECT_FALSE(may_accept(board, self));
    self.connections.store(2);
    EXPECT_TRUE(may_accept(board, self));
}

// --- moving a waiting request's connection (worker/handoff.hpp) ---------------------

TEST(MovePolicy, ExpectedWaitIsQueuedRequestsTimesTheAveragePhpTime) {
    shm::Scoreboard board(2);
    auto& self = serving(board, 0, 4);
    self.php_average_us.store(30'000);
    const auto now = shm::now_ms();
    EXPECT_EQ(expected_wait_us(self, 0, now), 0u);
    EXPECT_EQ(expected_wait_us(self, 3, now), 90'000u);
    // Fast requests do not add up to much: a queue of hello-world requests stays put.
    self.php_average_us.store(25);
    EXPECT_EQ(expected_wait_us(self, 16, now), 400u);
}

TEST(MovePolicy, AScriptRunningLongCountsAtLeastItsRunningTime) {
    shm::Scoreboard board(2);
    auto& self = serving(board, 0, 4);
    self.php_average_us.store(100);
    const auto now = shm::now_ms();
    self.request_started_ms.store(now - 2000);
    EXPECT_EQ(expected_wait_us(self, 1, now), 2'000'000u);
    self.request_started_ms.store(now - 2);  // short: the average decides
    EXPECT_EQ(expected_wait_us(self, 1, now), 100u);
}

TEST(MovePolicy, OnlyAnIdleServingPeerWithRoomTakesAConnection) {
    shm::Scoreboard board(4);
    auto& self = serving(board, 0, 10);
    auto& busy = serving(board, 1, 1);
    busy.state.store(shm::WorkerState::busy);
    auto& queued = serving(board, 2, 1);
    queued.php_outstanding.store(1);  // idle thread, but a request was just handed to it
    board.slot(3).state.store(shm::WorkerState::draining);
    EXPECT_EQ(idle_peer(board, self, 100), -1);
    queued.php_outstanding.store(0);
    EXPECT_EQ(idle_peer(board, self, 100), 2);
    EXPECT_EQ(idle_peer(board, self, 1), -1);  // at --max-connections
    self.state.store(shm::WorkerState::busy);
    EXPECT_EQ(idle_peer(board, queued, 100), -1) << "never itself";
}

TEST(MovePolicy, AnIdleWorkerAsksTheBusyPeerWhoseQueueWaitsLongest) {
    shm::Scoreboard board(4);
    auto& self = serving(board, 0, 1);
    auto& one_running = serving(board, 1, 5);
    one_running.state.store(shm::WorkerState::busy);
    one_running.php_outstanding.store(1);  // nothing waits behind it
    one_running.php_average_us.store(50'000);
    auto& short_queue = serving(board, 2, 5);
    short_queue.state.store(shm::WorkerState::busy);
    short_queue.php_outstanding.store(2);
    short_queue.php_average_us.store(1'000);
    auto& long_queue = serving(board, 3, 5);
    long_queue.state.store(shm::WorkerState::busy);
    long_queue.php_outstanding.store(3);
    long_queue.php_average_us.store(1'000);
    const auto now = shm::now_ms();
    EXPECT_EQ(busiest_peer(board, self, now, 250), 3);
    EXPECT_EQ(busiest_peer(board, self, now, 2'500), 3);
    EXPECT_EQ(busiest_peer(board, self, now, 5'000), -1) << "no queue waits that long";
    EXPECT_EQ(busiest_peer(board, long_queue, now, 250), 2) << "never itself";
}

}  // namespace
}  // namespace askr::worker
