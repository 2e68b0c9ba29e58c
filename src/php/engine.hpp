#pragma once
#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/request.hpp"
#include "http/response_head.hpp"
#include "php/cgi_environment.hpp"

namespace askr::cache {
class Backend;
}
namespace askr::shm {
class BroadcastRing;
}
namespace askr::broadcast {
class RedisPublisher;
}

// The PHP engine as the rest of Askr sees it. PHP's own headers stay inside src/php/.
namespace askr::php {

/// Settings applied when PHP starts (once per process, before serving).
struct EngineOptions {
    std::vector<std::pair<std::string, std::string>> ini;  ///< ini overrides, applied last
    std::string server_software = "Askr";                  ///< SERVER_SOFTWARE
    bool frankenphp_compat = false;  ///< register frankenphp_handle_request() and friends
    /// The server answers X-Sendfile / X-Accel-Redirect with the file: PHP's default
    /// Content-Type (default_mimetype) is then left out of such a response, so that the
    /// file's own type applies unless the script set one.
    bool sendfile = false;
    cache::Backend* cache = nullptr;          ///< what askr_cache_*() use (null: they throw)
    shm::BroadcastRing* broadcast = nullptr;  ///< what askr_broadcast() uses (null: it throws)
    std::uint64_t broadcast_max_data = 0;     ///< askr_broadcast(): largest payload
    std::uint32_t broadcast_max_channel_length = 0;  ///< ... and longest channel name
    /// With [broadcast] redis: askr_broadcast() publishes through Redis (null: the ring only).
    broadcast::RedisPublisher* broadcast_redis = nullptr;
    /// When set, the process environment is replaced by exactly these variables once PHP
    /// has started (php-fpm's clear_env): scripts never see the server's own.
    std::optional<std::vector<std::pair<std::string, std::string>>> environment;
};

/// The response head a script produced: its status and fields as the script set them;
/// `content_length` holds a Content-Length the script declared itself (the server frames
/// the body it actually gets, and uses the declaration only to answer HEAD).
using ResponseHead = http::ResponseHead;

/// Where a running script's response goes; implemented by the server (one per request).
class ResponseWriter {
  public:
    virtual ~ResponseWriter() = default;
    /// Hands over output produced so far. `head` is non-null exactly once, with the first
    /// call. `body` is taken (swapped with an empty buffer of some capacity). `last` ends
    /// the response. May block while the client is slow (bounded buffering). Returns
    /// false when the client has gone away.
    virtual bool push(ResponseHead* head, std::string& body, bool last) = 0;
    /// The script has ended: last output (if the response is not complete yet) and the
    /// server may reuse the request. Called exactly once, last.
    virtual void end(ResponseHead* head, std::string& body) = 0;
    /// True once the server knows the client is gone (a write failed or it hung up).
    virtual bool client_gone() = 0;
    /// Hands over an interim (1xx) response, such as 103 Early Hints, to go out before the
    /// final head; only before the first push(). False when it cannot go (the head was
    /// handed over, the client is gone, or the writer has no client to send it to).
    virtual bool interim(int /*status*/, const http::Fields& /*fields*/) { return false; }
};

/// One script execution: what to run, for which request, and where its output goes.
struct ScriptRequest {
    const http::Request* request = nullptr;
    ScriptTarget target;
    ResponseWriter* writer = nullptr;
};

/// Starts PHP for this process: the SAPI, php.ini, extensions, opcache. Throws
/// std::runtime_error with PHP's reason when PHP cannot start.
void startup(const EngineOptions& options);

/// Makes the calling thread the PHP thread of this process: max_execution_time is then
/// counted on its own CPU clock. Call in each forked worker (timers do not survive fork).
void bind_php_thread();

/// Shuts PHP down (module shutdown). Call once, on the thread that called startup().
void shutdown();

/// Runs one script through PHP's classic request cycle. Always completes the response.
void run_script(ScriptRequest& script);

/// Hands requests to a worker script (implemented by the worker process).
class RequestSource {
  public:
    virtual ~RequestSource() = default;
    /// Blocks until the next request; nullptr when the worker must stop.
    virtual ScriptRequest* next() = 0;
    /// Waits at most `timeout` for the next request; nullptr on time-out or stop.
    virtual ScriptRequest* next_for(std::chrono::milliseconds timeout) = 0;
    /// True once the worker must stop.
    virtual bool stopping() = 0;
    /// The worker script reached askr_handle_request(): this worker can serve.
    virtual void script_ready() {}
    /// The worker script ended before reaching askr_handle_request() (it is restarted).
    virtual void script_failed() {}
};

/// A worker script and how to run it (worker mode: the app boots once per process).
struct WorkerScript {
    std::string filename;  ///< absolute path of the script
    std::string document_root;
    bool frankenphp_compat = false;  ///< also frankenphp_handle_request() and FRANKENPHP_WORKER
    bool paranoid = false;           ///< report app state that grows between requests
};

/// Runs the worker script on this (the PHP) thread: it boots the app and loops on
/// askr_handle_request(). When the script ends (exit, fatal error, uncaught exception)
/// while requests are still wanted, it is started again, with a growing delay when it
/// fails before serving anything. Returns once `source` has no more requests.
void run_worker_script(const WorkerScript& worker, RequestSource& source);

/// The zygote's side of the copy-on-write template (--cow), called from PHP.
class ForkServer {
  public:
    virtual ~ForkServer() = default;
    /// Called once the app has booted (askr_cow_ready(), or the first
    /// askr_handle_request()): tells the master the generation is ready and forks workers
    /// when it asks. Returns only in a forked process: in a worker, with that worker's
    /// request source (its I/O thread running); nullptr in a process forked to be
    /// something else (a sidecar), where the template's script must end at once. In the
    /// zygote it never returns.
    virtual RequestSource* serve_forks() = 0;
    /// In a forked worker whose script ended while requests were still wanted: stop
    /// accepting, so that the worker can exit and be forked again from the template.
    virtual void drain() = 0;
};

/// How a run of the worker script under --cow ended.
enum class TemplateEnd {
    boot_failed,     ///< in the zygote: the script ended before askr_cow_ready()
    worker_stopped,  ///< in a worker: no more requests (shutdown, reload, --max-requests)
    worker_ended,    ///< in a worker: the script ended (exit, fatal error) after serving
    worker_failed,   ///< in a worker: the script ended before serving anything
    became_sidecar,  ///< in a process forked to be a sidecar: the template's script ended
};

/// --cow: runs the worker script in the zygote, where askr_cow_ready() hands over to
/// `forks`. Returns in the zygote only if the script never got there, and in each forked
/// worker once the script has ended there (the worker then exits; the master forks a new
/// one from the template).
TemplateEnd run_cow_template(const WorkerScript& worker, ForkServer& forks);

/// A sidecar: a PHP script run beside the web workers the way the CLI runs it.
struct SidecarScript {
    std::string filename;       ///< absolute path of the script
    std::string document_root;  ///< DOCUMENT_ROOT (the server's root)
    std::string role;           ///< $_SERVER['ASKR_SIDECAR']: "queue:0", "scheduler"
    int stop_fd = -1;           ///< readable once the sidecar should stop
    std::atomic<std::uint64_t>* jobs_done = nullptr;  ///< askr_sidecar_job_done() counts here
    /// The scheduler with the cache on Redis: the run of this tick (`tick`, a wall-clock
    /// multiple of the interval) happens on one server of all that share the cache.
    bool once_per_cluster = false;
    std::int64_t tick = 0;
    std::int64_t tick_seconds = 60;
};

/// Runs a sidecar's script once on this thread, with no time limit and its output going
/// to the log; returns its exit status (exit(N), 255 after a fatal error).
int run_sidecar_script(const SidecarScript& sidecar);

/// Version of the PHP library Askr runs ("8.2.36").
std::string_view php_version();

/// What PHP says about itself once started with some settings (askr doctor, and the
/// [php] extensions check before `askr serve` starts).
struct EngineReport {
    bool started = false;
    std::string error;                    ///< why it did not start (started == false)
    std::string version;                  ///< PHP_VERSION
    bool thread_safe = false;             ///< a ZTS build
    bool opcache_loaded = false;          ///< the Zend OPcache extension is loaded
    bool opcache_enabled = false;         ///< opcache_get_status()['opcache_enabled'] in a request
    std::string opcache_enable_ini;       ///< ini_get('opcache.enable')
    std::vector<std::string> extensions;  ///< loaded extensions and Zend extensions, lower case
    /// True when `name` (as `php -m` prints it, any case; "opcache" too) is loaded.
    bool has_extension(std::string_view name) const;
};

/// Starts PHP with `options` in a short-lived child process, runs one request there and
/// reports. The calling process (the master, which must stay free of PHP) loads nothing.
EngineReport inspect_in_child(const EngineOptions& options);

}  // namespace askr::php
