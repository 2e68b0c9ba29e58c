#pragma once
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "admin/admin_server.hpp"
#include "shm/metrics.hpp"
#include "shm/scoreboard.hpp"

namespace askr::admin {

/// GET /api/status: version, uptime, generation, reload state and the worker table.
nlohmann::json status_json(const SupervisorStatus& status, const shm::Scoreboard& scoreboard);

/// GET /health: 200 while the master answers ("up", or "stopping" during a graceful stop).
nlohmann::json health_json(const SupervisorStatus& status);

/// GET /ready: whether the server takes requests, and `ready` says so (the reply is 503
/// when it does not). Ready: not stopping, and at least one worker accepts requests
/// (idle or busy in the scoreboard). During a rolling reload the generation being replaced
/// serves until the new one takes over, so a reload never makes the server unready.
nlohmann::json ready_json(const SupervisorStatus& status, const shm::Scoreboard& scoreboard,
                          bool& ready);

/// GET /api/metrics: the metrics as JSON (counters since start, histogram cumulative).
nlohmann::json metrics_json(const shm::MetricsSnapshot& metrics, const SupervisorStatus& status,
                            const shm::Scoreboard& scoreboard);

/// GET /metrics: the same in the Prometheus text exposition format (version 0.0.4).
std::string prometheus_text(const shm::MetricsSnapshot& metrics, const SupervisorStatus& status,
                            const shm::Scoreboard& scoreboard);

/// The dashboard page (src/admin/dashboard.html, built into the binary).
extern const char* const dashboard_html;

}  // namespace askr::admin
