#pragma once
#include <atomic>
// Shared between the files of src/php only: PHP's headers are included here.
#include <string>

#include "php/engine.hpp"

extern "C" {
#include "php.h"
}

struct _zend_module_entry;

namespace askr::php::detail {

/// State of the script the PHP thread is running (one at a time per process).
struct ActiveRequest {
    ScriptRequest* script = nullptr;
    ResponseHead head;
    bool head_captured = false;  ///< PHP has sent its headers (on_send_headers ran)
    bool head_pushed = false;
    bool finished = false;  ///< the response is complete; further output is discarded
    std::string output;     ///< produced by the script, not yet handed to the server
    std::uint64_t body_offset = 0;
    unsigned interims_sent = 0;         ///< headers_send(1xx) calls handed to the server
    bool default_content_type = false;  ///< PHP added its default_mimetype, not the script
    http::Fields interim_fields;        ///< scratch for an interim response's fields
    // NUL-terminated copies PHP keeps char* pointers to during the request.
    std::string filename, script_name, query, content_type, cookies, authorization;
    std::string getenv_value;  ///< the last getenv() answer (PHP copies it at once)
};

/// The running request, or nullptr between requests.
ActiveRequest* active();
/// The state object HTTP requests use (reused).
ActiveRequest& http_request_state();
/// Makes `a` the request PHP's callbacks (output, headers, body) work for.
void set_current(ActiveRequest* a);
/// Makes `script` the current request: resets `a`, fills SG(request_info) and the
/// server context, handles Basic auth. Call before sapi_activate().
void begin_request_info(ActiveRequest& a, ScriptRequest& script);
/// Turns a response whose script died of a fatal error into a 500 (headers not sent).
void mark_fatal_as_500();
/// The script has ended: hands the rest of the response to the server and releases the
/// request.
void end_request(ActiveRequest& a);

/// Completes the response now (fastcgi_finish_request semantics): flushes output
/// buffers, sends headers and body; the script goes on, its further output is discarded.
/// False when the response was already complete.
bool finish_request();

/// headers_send(status) with a 1xx status: hands an interim response carrying the Link
/// headers set so far to the server (103 Early Hints, RFC 8297), before the final head.
/// False when it cannot go (headers already sent, too many, outside a request).
bool send_interim(int status);
/// headers_send(status) with a final status: sets it, makes the headers final and hands
/// the head to the server now, as flush() does. False when the client is gone.
bool send_head_now(int status);

/// True in a worker process running a worker script (sets ASKR_WORKER in $_SERVER).
extern bool worker_mode;
/// --frankenphp-compat: FRANKENPHP_WORKER in $_SERVER, frankenphp_* functions.
extern bool frankenphp_compat;
/// askr_handle_request() (worker_script.cpp).
void handle_request_function(INTERNAL_FUNCTION_PARAMETERS);
/// askr_cow_ready() (worker_script.cpp).
void cow_ready_function(INTERNAL_FUNCTION_PARAMETERS);

/// In a sidecar: its role ("queue:0"), script and stop eventfd; "" and -1 elsewhere
/// (sidecar_script.cpp).
extern std::string sidecar_role;
extern std::string sidecar_filename;
extern int sidecar_stop_fd;
extern std::atomic<std::uint64_t>* sidecar_jobs_done;
extern std::int64_t sidecar_scheduled_at;  ///< the scheduler: the wall-clock second it runs for
/// $_SERVER of a sidecar: the environment, its role, its script and argv/argc.
void register_sidecar_variables(zval* track_vars);
/// askr_sidecar_should_stop() (sidecar_script.cpp).
void sidecar_should_stop_function(INTERNAL_FUNCTION_PARAMETERS);
/// askr_sidecar_job_done() (sidecar_script.cpp).
void sidecar_job_done_function(INTERNAL_FUNCTION_PARAMETERS);

/// --paranoid: the state-bleed detector is on (paranoid.cpp).
extern bool paranoid;
/// --paranoid: measures the app's state after the `handled`-th request of the script's
/// run, in the script's idle context; warns about what keeps growing or changing.
void paranoid_after_request(std::uint64_t handled);
/// askr_paranoid_watch(callable): registers more state to measure (no-op without --paranoid).
void paranoid_watch_function(INTERNAL_FUNCTION_PARAMETERS);

/// The cache askr_cache_*() use (null: off; they throw). Set by startup().
extern cache::Backend* cache;
/// askr_cache_*() (cache_functions.cpp), registered by the module's MINIT.
extern const zend_function_entry cache_functions[];

/// The ring askr_broadcast() publishes to (null: off; it throws), and its limits. Set by
/// startup().
extern shm::BroadcastRing* broadcast;
extern std::uint64_t broadcast_max_data;
extern std::uint32_t broadcast_max_channel_length;
/// With [broadcast] redis: where askr_broadcast() publishes first (null: the ring only).
extern broadcast::RedisPublisher* broadcast_redis;
/// askr_broadcast() (broadcast_functions.cpp), registered by the module's MINIT.
extern const zend_function_entry broadcast_functions[];

/// The module that adds Askr's PHP functions (getallheaders, askr_finish_request, ...).
::_zend_module_entry* functions_module();

/// Creates the per-thread CPU-time clock that enforces max_execution_time for the
/// calling thread (the PHP thread). See execution_timer.cpp.
void bind_execution_timer_to_this_thread();

}  // namespace askr::php::detail
