#include "admin/export.hpp"

#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <string_view>

#include <nlohmann/json.hpp>

namespace askr::admin {

namespace {

using nlohmann::json;

constexpr const char* status_class_names[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
constexpr const char* kind_names[] = {"php", "static", "other"};

double seconds(std::uint64_t us) {
    return static_cast<double>(us) / 1e6;
}

double uptime_seconds(const SupervisorStatus& status) {
    return std::chrono::duration<double>(status.uptime).count();
}

// Upper bound of a latency bucket in seconds, as Prometheus' "le" label writes it.
std::string bucket_label(std::size_t i) {
    if (i + 1 == shm::latency_buckets) return "+Inf";
    char text[32];
    std::snprintf(text, sizeof text, "%g", seconds(shm::latency_bucket_bound_us(i)));
    return text;
}

json worker_list(const shm::Scoreboard& scoreboard) {
    json workers = json::array();
    if (!scoreboard.valid()) return workers;
    const auto now = shm::now_ms();
    for (std::size_t i = 0; i < scoreboard.size(); ++i) {
        const auto& slot = scoreboard.slot(i);
        const auto state = slot.state.load(std::memory_order_relaxed);
        if (state == shm::WorkerState::empty) continue;
        const auto started = slot.request_started_ms.load(std::memory_order_relaxed);
        const auto worker_started = slot.started_ms.load(std::memory_order_relaxed);
        workers.push_back({
            {"slot", i},
            {"pid", slot.pid.load(std::memory_order_relaxed)},
            {"generation", slot.generation.load(std::memory_order_relaxed)},
            {"state", shm::state_name(state)},
            {"requests", slot.requests.load(std::memory_order_relaxed)},
            {"rss_bytes", slot.rss_bytes.load(std::memory_order_relaxed)},
            {"connections", slot.connections.load(std::memory_order_relaxed)},
            {"connections_moved", slot.connections_moved.load(std::memory_order_relaxed)},
            {"php_average_ms",
             static_cast<double>(slot.php_average_us.load(std::memory_order_relaxed)) / 1000.0},
            {"current_request_ms",
             started ? json(std::max<std::int64_t>(0, now - started)) : json(nullptr)},
            {"uptime_seconds",
             static_cast<double>(std::max<std::int64_t>(0, now - worker_started)) / 1000.0},
        });
    }
    return workers;
}

// One metric family in the text exposition format: # HELP, # TYPE, then its samples.
class Family {
  public:
    Family(std::string& out, const char* name, const char* type, const char* help)
        : out_(out), name_(name) {
        out_.append("# HELP ").append(name).append(" ").append(help).append("\n");
        out_.append("# TYPE ").append(name).append(" ").append(type).append("\n");
    }
    Family& sample(std::uint64_t value, const std::string& labels = {}, const char* suffix = "") {
        char text[32];
        std::snprintf(text, sizeof text, "%" PRIu64, value);
        return write(text, labels, suffix);
    }
    Family& sample_double(double value, const std::string& labels = {}, const char* suffix = "") {
        char text[48];
        std::snprintf(text, sizeof text, "%.6f", value);
        return write(text, labels, suffix);
    }

  private:
    Family& write(const char* value, const std::string& labels, const char* suffix) {
        out_.append(name_).append(suffix);
        if (!labels.empty()) out_.append("{").append(labels).append("}");
        out_.append(" ").append(value).append("\n");
        return *this;
    }
    std::string& out_;
    const char* name_;
};

// A label as the text format writes it: backslash, double quote and line feed escaped in
// the value (Prometheus, "Exposition formats", text format details).
std::string label(const char* name, std::string_view value) {
    std::string out = std::string(name) + "=\"";
    for (const char c : value) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out + "\"";
}

// The label value of the subscribers of channels not counted one by one: not a valid
// channel name, so it never collides with one.
constexpr const char* other_channels = "(other)";

// The outcome of the last reload that ended: null before the first one.
json last_reload_json(const SupervisorStatus& status) {
    if (status.last_reload_generation == 0) return nullptr;
    json last = {{"generation", status.last_reload_generation},
                 {"result", status.last_reload_failed ? "failed" : "succeeded"}};
    if (status.last_reload_failed) last["error"] = status.last_reload_error;
    return last;
}

}  // namespace

json sidecar_list(const SupervisorStatus& status) {
    json sidecars = json::array();
    for (const auto& s : status.sidecars) {
        sidecars.push_back({
            {"name", s.name},
            {"pid", s.pid ? json(s.pid) : json(nullptr)},
            {"generation", s.pid ? json(s.generation) : json(nullptr)},
            {"state", s.state},
            {"uptime_seconds", s.pid ? json(s.uptime_seconds) : json(nullptr)},
            {"restarts", s.restarts},
            {"last_exit", s.last_exit.empty() ? json(nullptr) : json(s.last_exit)},
            {"jobs_done", s.jobs_done},
        });
    }
    return sidecars;
}

json status_json(const SupervisorStatus& status, const shm::Scoreboard& scoreboard) {
    return {
        {"version", ASKR_VERSION},
        {"master_pid", ::getpid()},
        {"uptime_seconds", uptime_seconds(status)},
        {"generation", status.generation},
        {"workers_configured", status.workers_configured},
        {"reload",
         {{"state", status.reloading ? "reloading" : "idle"},
          {"pending", status.reload_pending},
          {"last", last_reload_json(status)}}},
        {"stopping", status.stopping},
        {"scoreboard_valid", scoreboard.valid()},
        {"workers", worker_list(scoreboard)},
        {"sidecars", sidecar_list(status)},
    };
}

json health_json(const SupervisorStatus& status) {
    return {{"status", status.stopping ? "stopping" : "up"},
            {"generation", status.generation},
            {"uptime_seconds", uptime_seconds(status)}};
}

json ready_json(const SupervisorStatus& status, const shm::Scoreboard& scoreboard, bool& ready) {
    std::size_t accepting = 0, starting = 0, failing = 0;
    for (std::size_t i = 0; scoreboard.valid() && i < scoreboard.size(); ++i) {
        const auto state = scoreboard.slot(i).state.load(std::memory_order_relaxed);
        if (state == shm::WorkerState::idle || state == shm::WorkerState::busy) ++accepting;
        if (state == shm::WorkerState::starting) ++starting;
        if (state == shm::WorkerState::failing) ++failing;
    }
    ready = !status.stopping && accepting > 0;
    json body = {{"ready", ready},
                 {"generation", status.generation},
                 {"workers_accepting", accepting},
                 {"workers_configured", status.workers_configured}};
    if (status.stopping) {
        body["reason"] = "stopping: the server finishes what it has and takes nothing new";
    } else if (!scoreboard.valid()) {
        body["reason"] = "the scoreboard's header is damaged (a stray write); restart the server";
    } else if (accepting == 0 && failing > 0) {
        body["reason"] = std::to_string(failing) +
                         " worker(s) failing: the worker script ends before "
                         "askr_handle_request() (see the log)";
    } else if (accepting == 0) {
        body["reason"] = "starting: " + std::to_string(starting) +
                         " worker(s) starting, none accepting requests yet";
    }
    return body;
}

json metrics_json(const shm::MetricsSnapshot& m, const SupervisorStatus& status,
                  const shm::Scoreboard& scoreboard) {
    json by_status = json::object();
    for (std::size_t i = 0; i < m.status_classes.size(); ++i)
        by_status[status_class_names[i]] = m.status_classes[i];
    json by_kind = json::object();
    for (std::size_t i = 0; i < m.kinds.size(); ++i) by_kind[kind_names[i]] = m.kinds[i];
    json buckets = json::array();
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < m.latency.size(); ++i) {
        cumulative += m.latency[i];
        json le = i + 1 == shm::latency_buckets ? json("+Inf")
                                                : json(seconds(shm::latency_bucket_bound_us(i)));
        buckets.push_back({{"le", le}, {"count", cumulative}});
    }
    json cache = nullptr;  // null: the cache is off
    if (m.cache) {
        const shm::CacheInfo& c = *m.cache;
        cache = {{"slots", c.slots},         {"entries", c.entries},
                 {"memory_bytes", c.memory}, {"memory_used_bytes", c.memory_used},
                 {"hits", c.hits},           {"misses", c.misses},
                 {"sets", c.sets},           {"evictions", c.evictions},
                 {"expired", c.expired},     {"lock_steals", c.lock_steals}};
    }
    if (!m.cache_backend.empty()) {
        // Redis: its counters are per worker (askr_cache_info()) and in Redis's own INFO.
        if (cache.is_null()) cache = json::object();
        cache["backend"] = m.cache_backend;
    }
    json broadcast = nullptr;  // null: broadcasting is off
    if (m.broadcast) {
        const shm::BroadcastInfo& b = *m.broadcast;
        broadcast = {{"subscribers", b.subscribers},
                     {"subscriptions", b.connects},
                     {"refused", b.refused},
                     {"published", b.published},
                     {"deliveries", b.deliveries},
                     {"drops", b.drops},
                     {"resets", b.resets},
                     {"last_id", b.last_id},
                     {"oldest_id", b.oldest_id},
                     {"ring_bytes", b.ring_bytes},
                     {"ring_used_bytes", b.used_bytes},
                     {"lock_steals", b.lock_steals}};
    }
    if (m.broadcast && m.broadcast->channels.limit > 0) {  // [broadcast] metrics_channels
        const shm::BroadcastInfo& b = *m.broadcast;
        json channels = json::array();
        for (const auto& c : b.channels.channels)
            channels.push_back({{"channel", c.channel}, {"subscribers", c.subscribers}});
        broadcast["channels"] = channels;
        broadcast["other_channels"] = {{"subscribers", b.channels.other_subscribers}};
    }
    return {
        {"uptime_seconds", uptime_seconds(status)},
        {"generation", status.generation},
        {"requests",
         {{"total", m.requests},
          {"in_flight", m.in_flight},
          {"by_status", by_status},
          {"by_kind", by_kind}}},
        {"bytes", {{"in", m.bytes_in}, {"out", m.bytes_out}}},
        {"latency_seconds",
         {{"count", m.requests}, {"sum", seconds(m.latency_sum_us)}, {"buckets", buckets}}},
        {"time_seconds",
         {{"php_wall", seconds(m.php_wall_us)},
          {"cpu_php", seconds(m.cpu_php_us)},
          {"cpu_io", seconds(m.cpu_io_us)}}},
        {"connections", {{"accepted", m.connections_accepted}, {"shed", m.connections_shed}}},
        {"workers",
         {{"live", worker_list(scoreboard).size()},
          {"starts", m.worker_starts},
          {"crashes", m.worker_crashes},
          {"recycles", m.worker_recycles}}},
        {"reloads", m.reloads},
        {"log_reopens", m.log_reopens},
        {"cache", cache},
        {"broadcast", broadcast},
    };
}

std::string prometheus_text(const shm::MetricsSnapshot& m, const SupervisorStatus& status,
                            const shm::Scoreboard& scoreboard) {
    std::string out;
    out.reserve(8192);
    {
        Family f(out, "askr_requests_total", "counter", "Requests answered, by status class.");
        for (std::size_t i = 0; i < m.status_classes.size(); ++i)
            f.sample(m.status_classes[i], label("class", status_class_names[i]));
    }
    {
        Family f(out, "askr_requests_by_kind_total", "counter",
                 "Requests answered, by what answered them: php, static (files), other (redirects, "
                 "errors).");
        for (std::size_t i = 0; i < m.kinds.size(); ++i)
            f.sample(m.kinds[i], label("kind", kind_names[i]));
    }
    Family(out, "askr_requests_in_flight", "gauge", "Requests being answered now.")
        .sample(m.in_flight);
    {
        Family f(out, "askr_request_duration_seconds", "histogram",
                 "Time from a request read completely to its response written.");
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < m.latency.size(); ++i) {
            cumulative += m.latency[i];
            f.sample(cumulative, label("le", bucket_label(i)), "_bucket");
        }
        f.sample_double(seconds(m.latency_sum_us), {}, "_sum");
        f.sample(cumulative, {}, "_count");
    }
    Family(out, "askr_received_bytes_total", "counter", "Bytes read from clients.")
        .sample(m.bytes_in);
    Family(out, "askr_sent_bytes_total", "counter", "Bytes written to clients, headers included.")
        .sample(m.bytes_out);
    Family(out, "askr_php_seconds_total", "counter",
           "Wall time of PHP requests, from the hand-off to the PHP thread to its release.")
        .sample_double(seconds(m.php_wall_us));
    Family(out, "askr_cpu_seconds_total", "counter",
           "CPU time of the workers' threads: php (PHP) or io (HTTP, static files).")
        .sample_double(seconds(m.cpu_php_us), label("thread", "php"))
        .sample_double(seconds(m.cpu_io_us), label("thread", "io"));
    if (!m.cache_backend.empty()) {
        Family(out, "askr_cache_backend_info", "gauge",
               "What askr_cache_*() use: shm (this machine's shared memory) or redis.")
            .sample(1, label("backend", m.cache_backend));
    }
    if (m.cache) {
        const shm::CacheInfo& c = *m.cache;
        Family(out, "askr_cache_requests_total", "counter",
               "askr_cache_get() and remember lookups in the shared-memory cache, by result.")
            .sample(c.hits, label("result", "hit"))
            .sample(c.misses, label("result", "miss"));
        Family(out, "askr_cache_sets_total", "counter",
               "Values written to the cache (increments included).")
            .sample(c.sets);
        Family(out, "askr_cache_evictions_total", "counter",
               "Entries evicted to make room (least recently used first).")
            .sample(c.evictions);
        Family(out, "askr_cache_expired_total", "counter", "Expired entries reclaimed.")
            .sample(c.expired);
        Family(out, "askr_cache_entries", "gauge", "Entries in the cache.").sample(c.entries);
        Family(out, "askr_cache_memory_used_bytes", "gauge",
               "Memory of the cache's keys and values in use.")
            .sample(c.memory_used);
        Family(out, "askr_cache_memory_bytes", "gauge",
               "Memory of the cache for keys and values ([cache] memory).")
            .sample(c.memory);
    }
    if (m.broadcast) {
        const shm::BroadcastInfo& b = *m.broadcast;
        Family(out, "askr_broadcast_subscribers", "gauge",
               "Open subscriber streams (GET /askr/events), all workers.")
            .sample(b.subscribers);
        if (b.channels.limit > 0) {
            Family f(out, "askr_broadcast_channel_subscribers", "gauge",
                     "Open subscriber streams per channel, all workers: the busiest channels "
                     "([broadcast] metrics_channels), the others together as channel=\"(other)\".");
            for (const auto& c : b.channels.channels)
                f.sample(c.subscribers, label("channel", c.channel));
            f.sample(b.channels.other_subscribers, label("channel", other_channels));
        }
        Family(out, "askr_broadcast_subscriptions_total", "counter",
               "Subscriptions, by result: accepted, or refused by a limit.")
            .sample(b.connects, label("result", "accepted"))
            .sample(b.refused, label("result", "refused"));
        Family(out, "askr_broadcast_published_total", "counter",
               "Events askr_broadcast() published.")
            .sample(b.published);
        Family(out, "askr_broadcast_deliveries_total", "counter",
               "Events written to subscribers (one per subscriber and event).")
            .sample(b.deliveries);
        Family(out, "askr_broadcast_drops_total", "counter",
               "Subscribers disconnected because they did not read ([broadcast] buffer).")
            .sample(b.drops);
        Family(out, "askr_broadcast_resets_total", "counter",
               "askr-reset events sent: a resume from an id the ring no longer holds.")
            .sample(b.resets);
        Family(out, "askr_broadcast_ring_used_bytes", "gauge", "Bytes of the ring holding events.")
            .sample(b.used_bytes);
    }
    Family(out, "askr_connections_accepted_total", "counter", "Client connections accepted.")
        .sample(m.connections_accepted);
    Family(out, "askr_connections_shed_total", "counter",
           "Client connections refused because the server was overloaded.")
        .sample(m.connections_shed);
    Family(out, "askr_worker_starts_total", "counter", "Worker processes started.")
        .sample(m.worker_starts);
    Family(out, "askr_worker_crashes_total", "counter", "Worker processes that died unexpectedly.")
        .sample(m.worker_crashes);
    Family(out, "askr_worker_recycles_total", "counter",
           "Worker processes retired after --max-requests.")
        .sample(m.worker_recycles);
    Family(out, "askr_reloads_total", "counter",
           "Rolling reloads started (SIGHUP or POST /api/reload).")
        .sample(m.reloads);
    Family(out, "askr_log_reopens_total", "counter", "Log files reopened (SIGUSR1).")
        .sample(m.log_reopens);
    {
        std::uint64_t by_state[shm::worker_state_count] = {};
        Family rss(out, "askr_worker_rss_bytes", "gauge", "Resident memory of each live worker.");
        if (scoreboard.valid()) {
            for (std::size_t i = 0; i < scoreboard.size(); ++i) {
                const auto& slot = scoreboard.slot(i);
                const auto state = slot.state.load(std::memory_order_relaxed);
                if (state == shm::WorkerState::empty) continue;
                const auto index = static_cast<std::size_t>(state);
                if (index < shm::worker_state_count) ++by_state[index];
                rss.sample(
                    slot.rss_bytes.load(std::memory_order_relaxed),
                    label("slot", std::to_string(i)) + "," +
                        label("pid", std::to_string(slot.pid.load(std::memory_order_relaxed))));
            }
        }
        Family workers(out, "askr_workers", "gauge", "Live worker processes, by state.");
        for (auto state :
             {shm::WorkerState::starting, shm::WorkerState::idle, shm::WorkerState::busy,
              shm::WorkerState::draining, shm::WorkerState::failing}) {
            workers.sample(by_state[static_cast<std::size_t>(state)],
                           label("state", shm::state_name(state)));
        }
    }
    Family(out, "askr_generation", "gauge", "Newest generation (increases with every reload).")
        .sample(status.generation);
    Family(out, "askr_uptime_seconds", "gauge", "Seconds since the master started.")
        .sample_double(uptime_seconds(status));
    Family(out, "askr_build_info", "gauge", "Askr's version.")
        .sample(1, label("version", ASKR_VERSION));
    return out;
}

}  // namespace askr::admin
