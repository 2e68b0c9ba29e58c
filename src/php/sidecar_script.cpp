// Sidecars: a PHP script run the way the CLI runs it (docs/sidecars.md), in a process
// forked from a generation's zygote beside the web workers: no HTTP request, no time
// limit, $argv and STDIN/STDOUT/STDERR as a CLI script expects, $_SERVER['ASKR_SIDECAR']
// naming its role. Its output goes to the server's log, a line at a time.
#include <poll.h>
#include <unistd.h>

#include <string>

#include <spdlog/spdlog.h>

#include "cache/backend.hpp"
#include "php/sapi_internal.hpp"
#include "shm/scoreboard.hpp"

extern "C" {
#include "SAPI.h"
#include "php.h"
#include "php_main.h"
#include "php_output.h"
#include "php_variables.h"
#include "zend_ini.h"
}

namespace askr::php {

namespace detail {
std::string sidecar_role;
std::string sidecar_filename;
int sidecar_stop_fd = -1;
std::atomic<std::uint64_t>* sidecar_jobs_done = nullptr;
std::int64_t sidecar_scheduled_at = 0;

// askr_sidecar_should_stop(): bool — true once the server wants this sidecar to stop
// (shutdown, reload); false in a web worker, which is never stopped this way.
void sidecar_should_stop_function(INTERNAL_FUNCTION_PARAMETERS) {
    ZEND_PARSE_PARAMETERS_NONE();
    if (sidecar_stop_fd < 0) RETURN_FALSE;
    pollfd stop{sidecar_stop_fd, POLLIN, 0};  // the eventfd stays readable once written
    RETURN_BOOL(::poll(&stop, 1, 0) > 0 && (stop.revents & POLLIN));
}

// askr_sidecar_job_done(): bool — counts one job done, shown as the sidecar's jobs_done in
// /api/status, `askr status` and the dashboard; false (nothing counted) outside a sidecar.
void sidecar_job_done_function(INTERNAL_FUNCTION_PARAMETERS) {
    ZEND_PARSE_PARAMETERS_NONE();
    if (!sidecar_jobs_done) RETURN_FALSE;
    sidecar_jobs_done->fetch_add(1, std::memory_order_relaxed);
    RETURN_TRUE;
}

void register_sidecar_variables(zval* track_vars) {
    php_import_environment_variables(track_vars);
    auto put = [track_vars](const char* name, const std::string& value) {
        php_register_variable_safe(const_cast<char*>(name), value.c_str(), value.size(),
                                   track_vars);
    };
    put("ASKR_SIDECAR", sidecar_role);
    if (sidecar_scheduled_at > 0) put("ASKR_SCHEDULED_AT", std::to_string(sidecar_scheduled_at));
    put("SCRIPT_FILENAME", sidecar_filename);
    put("SCRIPT_NAME", sidecar_filename);
    put("PHP_SELF", sidecar_filename);
    put("PATH_TRANSLATED", sidecar_filename);
    zval argv;
    array_init(&argv);
    add_next_index_stringl(&argv, sidecar_filename.data(), sidecar_filename.size());
    zend_hash_str_update(Z_ARRVAL_P(track_vars), "argv", 4, &argv);
    zval argc;
    ZVAL_LONG(&argc, 1);
    zend_hash_str_update(Z_ARRVAL_P(track_vars), "argc", 4, &argc);
}
}  // namespace detail

namespace {

// A sidecar's output, to the log a line at a time, under its role ("queue:0: ...").
class LineLog final : public ResponseWriter {
  public:
    bool push(ResponseHead*, std::string& body, bool) override {
        pending_ += body;
        body.clear();
        std::size_t start = 0;
        for (auto end = pending_.find('\n'); end != std::string::npos;
             end = pending_.find('\n', start)) {
            line(std::string_view(pending_).substr(start, end - start));
            start = end + 1;
        }
        pending_.erase(0, start);
        return true;
    }
    void end(ResponseHead* head, std::string& body) override {
        push(head, body, true);
        line(pending_);
        pending_.clear();
    }
    bool client_gone() override { return false; }

  private:
    static void line(std::string_view text) {
        if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
        if (!text.empty()) spdlog::info("{}: {}", detail::sidecar_role, text);
    }
    std::string pending_;
} line_log;

// What a CLI script finds defined and set that a web request does not have.
constexpr const char* cli_prelude =
    "if (!defined('STDIN')) {"
    " define('STDIN', fopen('php://stdin', 'rb'));"
    " define('STDOUT', fopen('php://stdout', 'wb'));"
    " define('STDERR', fopen('php://stderr', 'wb'));"
    "}"
    "$argv = $_SERVER['argv']; $argc = $_SERVER['argc'];";

// Several servers sharing the cache on Redis each start the scheduler at the same tick;
// the one that takes the tick's lock runs it. The lock outlives the tick, so a server
// whose clock is a little late does not run it again.
bool this_server_runs_the_tick(const SidecarScript& sidecar) {
    if (!sidecar.once_per_cluster || !detail::cache) return true;
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    const std::string owner = std::string(host) + ":" + std::to_string(::getpid());
    const std::string name = "askr:scheduler:" + std::to_string(sidecar.tick);
    const auto status = detail::cache->set(cache::Space::lock, name, cache::ValueType::string,
                                           owner, sidecar.tick_seconds * 2000, true);
    if (status == cache::Status::ok) return true;
    if (status == cache::Status::unavailable) {
        spdlog::warn("scheduler: the cache (Redis) does not answer; running this tick here");
        return true;
    }
    spdlog::info("scheduler: another server runs this tick");
    return false;
}

}  // namespace

int run_sidecar_script(const SidecarScript& sidecar) {
    if (!this_server_runs_the_tick(sidecar)) return 0;
    detail::sidecar_role = sidecar.role;
    detail::sidecar_filename = sidecar.filename;
    detail::sidecar_stop_fd = sidecar.stop_fd;
    detail::sidecar_jobs_done = sidecar.jobs_done;
    detail::sidecar_scheduled_at =
        sidecar.role == "scheduler" ? sidecar.tick * sidecar.tick_seconds : 0;
    static http::Request request;
    request.clear();
    request.method = "GET";
    request.target = "/";
    request.start_time = static_cast<double>(shm::now_ms()) / 1000.0;
    static ScriptRequest script;
    script.request = &request;
    script.target = {sidecar.filename, sidecar.filename, "", sidecar.document_root};
    script.writer = &line_log;
    static detail::ActiveRequest state;
    detail::begin_request_info(state, script);
    if (php_request_startup() == FAILURE) {
        spdlog::error("{}: PHP request startup failed", sidecar.role);
        detail::set_current(nullptr);
        return 1;
    }
    // The whole run is one script, as under the CLI: no max_execution_time, and output
    // reaches the log as it is written rather than when a buffer fills.
    zend_string* limit = zend_string_init(ZEND_STRL("max_execution_time"), 0);
    zend_alter_ini_entry_chars(limit, "0", 1, ZEND_INI_USER, ZEND_INI_STAGE_RUNTIME);
    zend_string_release(limit);
    zend_unset_timeout();
    php_output_end_all();
    php_output_set_implicit_flush(1);
    zend_try {
        zend_eval_string(const_cast<char*>(cli_prelude), nullptr, "askr sidecar prelude");
    }
    zend_end_try();
    zend_file_handle file;
    zend_stream_init_filename(&file, sidecar.filename.c_str());
    php_execute_script(&file);
    zend_destroy_file_handle(&file);
    const int status = EG(exit_status);
    php_request_shutdown(nullptr);
    detail::end_request(state);
    detail::set_current(nullptr);
    return status;
}

}  // namespace askr::php
