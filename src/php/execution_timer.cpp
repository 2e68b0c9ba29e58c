// max_execution_time, counted on the PHP thread's own CPU clock.
//
// Debian's NTS libphp is built without ZEND_MAX_EXECUTION_TIMERS, so PHP arms
// setitimer(ITIMER_PROF), which counts the CPU time of *every* thread of the process: the
// I/O thread's work would eat into a script's time limit. Askr
// interposes setitimer(): libphp's calls resolve to this definition (the executable exports
// it, see CMakeLists.txt), and an ITIMER_PROF request made on the PHP thread is turned
// into a timer on CLOCK_THREAD_CPUTIME_ID that delivers SIGPROF to that thread only.
// PHP's own SIGPROF handler then raises the usual "Maximum execution time" fatal error,
// and set_time_limit()/ini_set() keep working because they all go through setitimer().
#include <signal.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <stdexcept>

#include "php/sapi_internal.hpp"

namespace {

std::atomic<pid_t> timer_thread{0};
timer_t thread_cpu_timer;

timespec to_timespec(const timeval& tv) {
    return {tv.tv_sec, tv.tv_usec * 1000};
}
timeval to_timeval(const timespec& ts) {
    return {ts.tv_sec, ts.tv_nsec / 1000};
}

}  // namespace

namespace askr::php::detail {

void bind_execution_timer_to_this_thread() {
    sigevent event{};
    event.sigev_notify = SIGEV_THREAD_ID;
    event.sigev_signo = SIGPROF;
    event._sigev_un._tid = static_cast<pid_t>(::syscall(SYS_gettid));
    if (timer_create(CLOCK_THREAD_CPUTIME_ID, &event, &thread_cpu_timer) != 0) {
        throw std::runtime_error("cannot create the PHP thread's CPU timer (timer_create)");
    }
    timer_thread.store(event._sigev_un._tid, std::memory_order_release);
}

}  // namespace askr::php::detail

extern "C" int setitimer(__itimer_which_t which, const struct itimerval* __restrict value,
                         struct itimerval* __restrict old_value) noexcept {
    const pid_t owner = timer_thread.load(std::memory_order_acquire);
    if (which == ITIMER_PROF && owner != 0 && owner == static_cast<pid_t>(::syscall(SYS_gettid))) {
        itimerspec spec{};
        if (value) spec = {to_timespec(value->it_interval), to_timespec(value->it_value)};
        itimerspec previous{};
        if (timer_settime(thread_cpu_timer, 0, &spec, &previous) != 0) return -1;
        if (old_value)
            *old_value = {to_timeval(previous.it_interval), to_timeval(previous.it_value)};
        return 0;
    }
    return static_cast<int>(::syscall(SYS_setitimer, which, value, old_value));
}
