#include "master/canary.hpp"

#include <cstdio>

namespace askr::master {

namespace {

double share(std::uint64_t part, std::uint64_t whole) {
    return whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

}  // namespace

Canary::Counts Canary::counts(std::size_t slot) const {
    const shm::WorkerMetrics& m = metrics_.slot(slot);
    return {m.finished.value.load(std::memory_order_relaxed),
            m.status_classes[4].value.load(std::memory_order_relaxed)};
}

Canary::Verdict Canary::watch(Seen canary, const std::vector<Seen>& old, Clock::time_point now,
                              std::string& why) {
    if (!watching_ || canary.pid != canary_.pid) {
        // It can serve from now on: the window starts here, for it and the old workers.
        watching_ = true;
        since_ = now;
        canary_ = canary;
        canary_start_ = counts(canary.slot);
        old_start_.clear();
        for (const Seen& w : old) old_start_[w.pid] = {w.slot, counts(w.slot)};
        return Verdict::watching;
    }
    if (now - since_ < options_.canary_seconds) return Verdict::watching;

    const Counts end = counts(canary.slot);
    const std::uint64_t answered = end.answered - canary_start_.answered;
    const std::uint64_t errors = end.errors - canary_start_.errors;
    Counts before;  // the old generation over the same seconds (workers alive throughout)
    for (const Seen& w : old) {
        auto start = old_start_.find(w.pid);
        if (start == old_start_.end() || start->second.first != w.slot) continue;
        const Counts now_counts = counts(w.slot);
        before.answered += now_counts.answered - start->second.second.answered;
        before.errors += now_counts.errors - start->second.second.errors;
    }
    const double canary_share = share(errors, answered);
    const double old_share = share(before.errors, before.answered);
    char text[256];
    if (answered == 0) {
        std::snprintf(text, sizeof text,
                      "canary worker %d served no request in %lld s (a canary must serve to pass; "
                      "send traffic during the reload, or reload without --canary)",
                      canary.pid, static_cast<long long>(options_.canary_seconds.count()));
        why = text;
        return Verdict::failed;
    }
    std::snprintf(text, sizeof text,
                  "canary worker %d answered %llu request(s), %.1f%% 5xx, in %lld s (old "
                  "generation: %llu, %.1f%% 5xx; margin %u points)",
                  canary.pid, static_cast<unsigned long long>(answered), canary_share,
                  static_cast<long long>(options_.canary_seconds.count()),
                  static_cast<unsigned long long>(before.answered), old_share,
                  options_.canary_error_margin);
    why = text;
    return canary_share <= old_share + options_.canary_error_margin ? Verdict::passed
                                                                    : Verdict::failed;
}

}  // namespace askr::master
