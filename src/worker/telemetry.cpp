#include "worker/telemetry.hpp"

#include <unistd.h>

#include <algorithm>

#include <spdlog/spdlog.h>

#include "core/log.hpp"

namespace askr::worker {

namespace {

std::uint64_t cpu_us(clockid_t clock) {
    timespec ts{};
    if (::clock_gettime(clock, &ts) != 0) return 0;
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000 +
           static_cast<std::uint64_t>(ts.tv_nsec) / 1000;
}

const char* kind_name(shm::ResponseKind kind) {
    switch (kind) {
        case shm::ResponseKind::php:
            return "php";
        case shm::ResponseKind::static_file:
            return "static";
        case shm::ResponseKind::other:
            break;
    }
    return "other";
}

}  // namespace

Telemetry::Telemetry(const config::ServeOptions& options, shm::WorkerMetrics* slot,
                     const shm::SupervisorMetrics* supervisor)
    : slot_(ASKR_METRICS_ENABLED ? slot : nullptr), supervisor_(supervisor) {
    if (supervisor_) log_generation_ = supervisor_->log_generation.load(std::memory_order_relaxed);
    // The zygote's copy of the error log may point at a file logrotate has renamed since:
    // every worker opens its own.
    core::reopen_log_file();
    if (!options.access_log.empty()) {
        AccessLogFormat format = AccessLogFormat::combined;
        parse_access_log_format(options.access_log_format, format);
        access_log_ = std::make_unique<AccessLog>(options.access_log, format);
    }
    timing_ = slot_ != nullptr || access_log_ != nullptr;
    have_php_clock_ = ::pthread_getcpuclockid(::pthread_self(), &php_clock_) == 0;
}

Telemetry::~Telemetry() {
    if (access_log_) access_log_->flush();
}

void Telemetry::request_finished(const http::Request& request,
                                 const http::RequestOutcome& outcome) {
    if (!timing_) return;
    const auto duration = std::chrono::steady_clock::now() - outcome.began;
    const auto us = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(duration).count());
#if ASKR_METRICS_ENABLED
    if (slot_) {
        const int status_class = outcome.status / 100;
        if (status_class >= 1 && status_class <= 5)
            slot_->status_classes[static_cast<std::size_t>(status_class - 1)].add(1);
        slot_->kinds[static_cast<std::size_t>(outcome.kind)].add(1);
        slot_->bytes_in.add(outcome.bytes_in);
        slot_->bytes_out.add(outcome.bytes_out);
        slot_->latency_sum_us.add(us);
        slot_->latency[shm::latency_bucket(us)].add(1);
        if (outcome.kind == shm::ResponseKind::php) {
            slot_->php_wall_us.add(static_cast<std::uint64_t>(
                std::chrono::duration_cast<std::chrono::microseconds>(outcome.php).count()));
        }
        slot_->finished.add(1);
    }
#endif
    if (access_log_) {
        AccessRecord record;
        record.status = outcome.status;
        record.body_bytes =
            outcome.bytes_out > outcome.head_bytes ? outcome.bytes_out - outcome.head_bytes : 0;
        record.duration_us = us;
        record.kind = kind_name(outcome.kind);
        access_log_->record(request, record);
    }
}

void Telemetry::tick() {
    if (access_log_) access_log_->flush();
    if (slot_) {
        // Cumulative thread clocks, recorded as increments: the slot only ever grows.
        const std::uint64_t io = cpu_us(CLOCK_THREAD_CPUTIME_ID);
        if (io > io_cpu_seen_us_) slot_->cpu_io_us.add(io - io_cpu_seen_us_);
        io_cpu_seen_us_ = std::max(io_cpu_seen_us_, io);
        if (have_php_clock_) {
            const std::uint64_t php = cpu_us(php_clock_);
            if (php > php_cpu_seen_us_) slot_->cpu_php_us.add(php - php_cpu_seen_us_);
            php_cpu_seen_us_ = std::max(php_cpu_seen_us_, php);
        }
    }
    if (supervisor_) {
        const auto generation = supervisor_->log_generation.load(std::memory_order_relaxed);
        if (generation != log_generation_) {
            log_generation_ = generation;
            const bool error_log = core::reopen_log_file();
            const bool access_log = !access_log_ || access_log_->reopen();
            if (!error_log || !access_log)
                spdlog::warn("worker {}: cannot reopen a log file; still writing to the old one",
                             ::getpid());
        }
    }
}

}  // namespace askr::worker
