#pragma once
#include "broadcast/redis_stream.hpp"

namespace askr::shm {
class BroadcastRing;
}

namespace askr::broadcast {

/// The relay of one node ([broadcast] redis): a process of its own, forked by the master,
/// that reads the shared stream with one connection (XREAD BLOCK) and copies each event
/// into this node's ring under the id derived from its stream id, so that every node's
/// ring holds the same events with the same ids in the same order. Events read back are
/// checked with the limits of askr_broadcast(); one that fails them is skipped (logged).
///
/// Started with an empty ring it first copies what the stream still holds (the ring then
/// resumes clients from other nodes); started again, it goes on from where it was (the
/// ring keeps its position). When Redis goes away it tries again with a growing delay,
/// logs when it reads again and what it may have missed: events trimmed from the stream
/// before it read them (the ring then answers a Last-Event-ID before them with
/// askr-reset), or a stream that is gone (Redis restarted without its data). Ends only
/// when the process is killed.
[[noreturn]] void run_relay(const StreamSettings& settings, shm::BroadcastRing& ring);

}  // namespace askr::broadcast
