#pragma once
#include <time.h>

namespace askr::core {

/// Wall-clock time in seconds since the epoch, with sub-second precision (a request's
/// arrival time: REQUEST_TIME_FLOAT, the access log).
inline double unix_time_now() {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

}  // namespace askr::core
