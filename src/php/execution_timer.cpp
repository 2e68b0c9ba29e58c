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

#include <stdexcept>

#include "php/sapi_internal.hpp"

namespace {

timer_t thread_cpu_timer;
// Read on every setitimer() of PHP's (three a request): a thread-local flag, where the
// thread id would cost a gettid() system call each time.
thread_local bool on_timer_thread = false;
// Whether the timer is armed, as far as this code armed it: PHP disarms an already
// disarmed timer (zend_unset_timeout() before the worker waits for its next request,
// after the request's end disarmed it), and that call needs no system call. A timer
// that fired is disarmed by the kernel; the flag then says armed and the next disarm
// just makes the call.
bool timer_armed = false;

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
    on_timer_thread = true;
    timer_armed = false;
}

}  // namespace askr::php::detail

extern "C" int setitimer(__itimer_which_t which, const struct itimerval* __restrict value,
                         struct itimerval* __restrict old_value) noexcept {
    if (which == ITIMER_PROF && on_timer_thread) {
        itimerspec spec{};
        if (value) spec = {to_timespec(value->it_interval), to_timespec(value->it_value)};
        const bool arming = spec.it_value.tv_sec != 0 || spec.it_value.tv_nsec != 0;
        if (!arming && !timer_armed && !old_value) return 0;
        itimerspec previous{};
        if (timer_settime(thread_cpu_timer, 0, &spec, &previous) != 0) return -1;
        timer_armed = arming;
        if (old_value)
            *old_value = {to_timeval(previous.it_interval), to_timeval(previous.it_value)};
        return 0;
    }
    return static_cast<int>(::syscall(SYS_setitimer, which, value, old_value));
}
