#include "shm/metrics.hpp"

#include <new>
#include <stdexcept>

namespace askr::shm {

namespace {
// Layout after the region's header: SupervisorMetrics, retired WorkerMetrics, slots.
constexpr std::size_t supervisor_offset = 0;
constexpr std::size_t retired_offset = supervisor_offset + sizeof(SupervisorMetrics);
constexpr std::size_t slots_offset = retired_offset + sizeof(WorkerMetrics);

template <std::size_t N>
void add_all(std::array<Counter, N>& to, const std::array<Counter, N>& from) {
    for (std::size_t i = 0; i < N; ++i) to[i].add(from[i].get());
}
}  // namespace

void WorkerMetrics::fold_from(const WorkerMetrics& other) {
    add_all(status_classes, other.status_classes);
    add_all(kinds, other.kinds);
    in_flight_started.add(other.in_flight_started.get());
    finished.add(other.finished.get());
    moved_away.add(other.moved_away.get());
    bytes_in.add(other.bytes_in.get());
    bytes_out.add(other.bytes_out.get());
    latency_sum_us.add(other.latency_sum_us.get());
    add_all(latency, other.latency);
    php_wall_us.add(other.php_wall_us.get());
    cpu_php_us.add(other.cpu_php_us.get());
    cpu_io_us.add(other.cpu_io_us.get());
    connections_accepted.add(other.connections_accepted.get());
    connections_shed.add(other.connections_shed.get());
}

void WorkerMetrics::reset() {
    this->~WorkerMetrics();
    new (this) WorkerMetrics();
}

Metrics::Metrics(std::size_t slots)
    : slots_(slots),
      region_("the metrics region", magic, layout_version, slots_offset + slots * sizeof(WorkerMetrics), slots) {
    new (&supervisor()) SupervisorMetrics();
    new (&retired()) WorkerMetrics();
    for (std::size_t i = 0; i < slots; ++i) new (&slot(i)) WorkerMetrics();
}

Metrics::~Metrics() = default;

WorkerMetrics& Metrics::slot(std::size_t i) const {
    return *reinterpret_cast<WorkerMetrics*>(region_.contents() + slots_offset +
                                             i * sizeof(WorkerMetrics));
}

SupervisorMetrics& Metrics::supervisor() const {
    return *reinterpret_cast<SupervisorMetrics*>(region_.contents() + supervisor_offset);
}

WorkerMetrics& Metrics::retired() const {
    return *reinterpret_cast<WorkerMetrics*>(region_.contents() + retired_offset);
}

void Metrics::retire_slot(std::size_t i) {
    WorkerMetrics& gone = slot(i);
    // A worker that died mid-request never finished it: it is no longer in flight.
    const auto started = gone.in_flight_started.get();
    const auto finished = gone.finished.get() + gone.moved_away.get();
    if (started > finished) gone.finished.add(started - finished);
    retired().fold_from(gone);
    gone.reset();
}

MetricsSnapshot Metrics::snapshot() const {
    MetricsSnapshot out;
    std::uint64_t started = 0, moved = 0;
    auto add = [&out, &started, &moved](const WorkerMetrics& m) {
        for (std::size_t i = 0; i < out.status_classes.size(); ++i)
            out.status_classes[i] += m.status_classes[i].get();
        for (std::size_t i = 0; i < out.kinds.size(); ++i) out.kinds[i] += m.kinds[i].get();
        for (std::size_t i = 0; i < out.latency.size(); ++i) out.latency[i] += m.latency[i].get();
        started += m.in_flight_started.get();
        moved += m.moved_away.get();
        out.requests += m.finished.get();
        out.bytes_in += m.bytes_in.get();
        out.bytes_out += m.bytes_out.get();
        out.latency_sum_us += m.latency_sum_us.get();
        out.php_wall_us += m.php_wall_us.get();
        out.cpu_php_us += m.cpu_php_us.get();
        out.cpu_io_us += m.cpu_io_us.get();
        out.connections_accepted += m.connections_accepted.get();
        out.connections_shed += m.connections_shed.get();
    };
    add(retired());
    for (std::size_t i = 0; i < slots_; ++i) add(slot(i));
    // Read without stopping the writers: "finished" may be read after a newer "started".
    out.in_flight = started > out.requests + moved ? started - out.requests - moved : 0;
    const SupervisorMetrics& s = supervisor();
    out.worker_starts = s.worker_starts.get();
    out.worker_crashes = s.worker_crashes.get();
    out.worker_recycles = s.worker_recycles.get();
    out.reloads = s.reloads.get();
    out.log_reopens = s.log_reopens.get();
    return out;
}

bool Metrics::valid() const { return region_.valid(); }

}  // namespace askr::shm
