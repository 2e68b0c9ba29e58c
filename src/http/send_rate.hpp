#pragma once
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace askr::http {

/// The rate at which a client takes a response, judged only over the time the server
/// waits on it (bytes are ready and the client does not take them): a script that is
/// slow to produce its output, or a keep-alive pause, is not the client's doing.
///
/// A slow-read attack reads a byte now and then, so the write stall timeout never
/// fires, and holds the connection, its buffers and a spool file for as long as it
/// likes. Judging bytes per second over a window of waiting ends it, while a short
/// stall (slow start, a phone changing cells) is forgiven inside the window.
class SendRate {
  public:
    using Clock = std::chrono::steady_clock;

    /// How much waiting the rate is judged over, sliding: the bytes a connection's first
    /// write puts into the kernel's buffers at once leave the window after it, and do not
    /// pay for a slow reader's next minute.
    static constexpr std::chrono::seconds window{20};

    /// Whether the server waits on the client from `now` on, and how many bytes the
    /// client has taken in all (a counter that only grows while this object lives).
    void update(Clock::time_point now, bool waiting, std::uint64_t taken) {
        if (waiting_) waited_ += now - since_;
        since_ = now;
        waiting_ = waiting;
        taken_ = taken;
    }

    /// Called about once a second while the client is waited on: true when over the last
    /// window of waiting it took fewer than `min_rate` bytes a second (`taken` as for
    /// update()). Needs a window of waiting first. 0 turns the check off.
    bool too_slow(Clock::time_point now, std::uint64_t taken, std::uint64_t min_rate) {
        if (min_rate == 0) return false;
        const auto before = waited_;
        update(now, waiting_, taken);
        if (waited_ == before) return false;  // not waited on since the last check
        samples_[next_ % samples_.size()] = {waited_, taken_};
        ++next_;
        // The newest sample at least a window of waiting old.
        const Sample* from = nullptr;
        for (std::size_t i = next_ > samples_.size() ? next_ - samples_.size() : 0; i < next_;
             ++i) {
            const Sample& sample = samples_[i % samples_.size()];
            if (waited_ - sample.waited < window) break;
            from = &sample;
        }
        if (!from) return false;
        const auto waited_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(waited_ - from->waited).count();
        return (taken_ - from->taken) * 1000 < min_rate * static_cast<std::uint64_t>(waited_ms);
    }

  private:
    struct Sample {
        Clock::duration waited{};  // waiting so far when the sample was taken
        std::uint64_t taken = 0;   // bytes taken by then
    };
    // One sample per check (a second of waiting each): a window's worth and some slack.
    std::array<Sample, 24> samples_{};
    std::size_t next_ = 0;
    Clock::time_point since_{};
    Clock::duration waited_{};
    std::uint64_t taken_ = 0;
    bool waiting_ = false;
};

}  // namespace askr::http
