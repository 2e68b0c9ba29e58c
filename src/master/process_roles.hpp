#pragma once
#include <chrono>

namespace askr::master {

/// One kind of process the master supervises, described as data: one table says how each
/// is started and restarted, instead of checks scattered through the master.
struct ProcessRole {
    const char* name;                         ///< "zygote", "worker"
    std::chrono::milliseconds min_uptime;     ///< an exit sooner than this counts as a crash loop
    std::chrono::milliseconds first_backoff;  ///< delay before the first restart of a crash loop
    std::chrono::milliseconds max_backoff;    ///< the delay doubles up to this
};

/// The zygote: PHP's module startup once per generation; forks workers on request. A
/// zygote that dies takes its generation's ability to fork: the master starts a new one.
inline constexpr ProcessRole zygote_role{"zygote", std::chrono::seconds(2),
                                         std::chrono::milliseconds(500), std::chrono::seconds(30)};

/// A worker: serves HTTP with one PHP thread; replaced whenever it exits.
inline constexpr ProcessRole worker_role{"worker", std::chrono::seconds(2),
                                         std::chrono::milliseconds(100), std::chrono::seconds(30)};

}  // namespace askr::master
