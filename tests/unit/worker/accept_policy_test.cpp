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

}  // namespace
}  // namespace askr::worker
