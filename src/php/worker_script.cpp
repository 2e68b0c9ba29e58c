// Worker mode: the app's script boots once and serves many requests through
// askr_handle_request(callable): bool. Between two requests, everything a request can
// leave behind is reset; the steps and what each prevents were measured on this PHP
// (docs/worker-mode.md, "What Askr resets between requests"; FrankenPHP's
// frankenphp_worker_request_startup is the model).
//
// Every request switches the SAPI state from the "idle" context of the worker script to
// the HTTP request and back, each sapi_activate() paired with one sapi_deactivate(), so
// that the script's own php_request_shutdown() at the end stays balanced.
#include <chrono>
#include <thread>

#include <spdlog/spdlog.h>

#include "core/clock.hpp"
#include "php/sapi_internal.hpp"

extern "C" {
#include "SAPI.h"
#include "ext/random/php_random.h"
#include "php.h"
#include "php_main.h"
#include "php_output.h"
#include "php_variables.h"
#include "zend_exceptions.h"
}

namespace askr::php {

namespace detail {
bool worker_mode = false;
bool frankenphp_compat = false;
}  // namespace detail

namespace {

using detail::ActiveRequest;

RequestSource* source = nullptr;
ActiveRequest idle_state;  // the worker script itself, between requests
ScriptRequest idle_script;
http::Request idle_request;
zend_long request_time_limit = 0;
std::uint64_t handled = 0;          // requests handled by the current run of the script
bool stop_seen = false;             // the source said there are no more requests
bool reached_handler = false;       // this run of the script called askr_handle_request()
ForkServer* fork_server = nullptr;  // --cow: the zygote's fork loop (null otherwise)
bool forked = false;                // --cow: this process is a worker forked from the template
bool left_template = false;         // --cow: forked to be a sidecar; the template script unwinds

// Output of the worker script outside a request goes to the log.
class LogWriter final : public ResponseWriter {
  public:
    bool push(ResponseHead*, std::string& body, bool) override {
        log(body);
        return true;
    }
    void end(ResponseHead*, std::string& body) override { log(body); }
    bool client_gone() override { return false; }

  private:
    static void log(std::string& body) {
        while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
        if (!body.empty()) spdlog::info("worker script: {}", body);
        body.clear();
    }
} log_writer;

// The extensions whose per-request state lives in their RINIT/RSHUTDOWN.
constexpr const char* reloaded_modules[] = {"filter", "session"};

void call_module_hooks(bool startup) {
    for (const char* name : reloaded_modules) {
        auto* module = static_cast<zend_module_entry*>(
            zend_hash_str_find_ptr(&module_registry, name, std::strlen(name)));
        if (!module) continue;
        auto hook = startup ? module->request_startup_func : module->request_shutdown_func;
        if (hook) hook(module->type, module->module_number);
    }
}

// Makes the worker script's own (request-less) context the current one; its output goes
// to the log. idle_script.target is set once, by run_worker_script().
void begin_idle_request_info() {
    idle_request.clear();
    idle_request.method = "GET";
    idle_request.target = "/";
    // opcache takes "now" from the request time when a request starts (the worker
    // script's, here) and caches no file modified less than file_update_protection
    // seconds before it: a time of 0 made every file "too new", and a worker cached none.
    idle_request.start_time = core::unix_time_now();
    idle_script.request = &idle_request;
    idle_script.writer = &log_writer;
    detail::begin_request_info(idle_state, idle_script);
}

// The context the worker script runs in between requests.
void open_idle_context() {
    begin_idle_request_info();
    php_output_activate();
    sapi_activate();
    call_module_hooks(true);
}

// Each RINIT/RSHUTDOWN and sapi_activate/sapi_deactivate stays paired: the idle context
// is closed before a request starts and opened again after it.
void close_idle_context() {
    zend_try {
        call_module_hooks(false);
    }
    zend_end_try();
    zend_try {
        php_output_end_all();
        php_output_deactivate();
    }
    zend_end_try();
    zend_try {
        sapi_deactivate();
    }
    zend_end_try();
}

// Request startup inside a running script (instead of php_request_startup()).
void start_http_request(ScriptRequest& script) {
    ActiveRequest& a = detail::http_request_state();
    detail::begin_request_info(a, script);
    php_output_activate();
    PG(header_is_being_sent) = 0;
    PG(connection_status) = PHP_CONNECTION_NORMAL;
    sapi_activate();
    SG(sapi_headers).http_response_code = 200;
    if (PG(output_buffering)) {
        php_output_start_user(nullptr, PG(output_buffering) > 1 ? PG(output_buffering) : 0,
                              PHP_OUTPUT_HANDLER_STDFLAGS);
    } else if (PG(implicit_flush)) {
        php_output_set_implicit_flush(1);
    }
    // Superglobals: free the previous request's (else ~6.5 KB leak per request), rebuild
    // them, and build the just-in-time ones now: compiled code reads them directly.
    for (auto& global : PG(http_globals)) {
        zval_ptr_dtor_nogc(&global);
        ZVAL_UNDEF(&global);
    }
    php_hash_environment();
    zend_is_auto_global_str(ZEND_STRL("_SERVER"));
    zend_is_auto_global_str(ZEND_STRL("_REQUEST"));
    call_module_hooks(true);
    PG(last_error_type) = 0;
    zend_set_timeout(request_time_limit, 0);  // max_execution_time counts per request
}

// Request shutdown inside a running script: the response is sent, the state reset.
void finish_http_request() {
    ActiveRequest& a = detail::http_request_state();
    detail::mark_fatal_as_500();
    zend_try {
        php_output_end_all();
    }
    zend_end_try();
    zend_try {
        call_module_hooks(false);
    }
    zend_end_try();  // session written and closed
    zend_try {
        php_output_deactivate();
    }
    zend_end_try();  // headers sent
    if (SG(request_info).request_body) {
        php_stream_close(SG(request_info).request_body);
        SG(request_info).request_body = nullptr;
    }
    zend_unset_timeout();
    zend_try {
        sapi_deactivate();
    }
    zend_end_try();  // uploaded temp files removed
    zend_set_memory_limit(PG(memory_limit));
    zend_hash_str_del(&EG(symbol_table), ZEND_STRL("_SESSION"));
    detail::end_request(a);
    ++handled;
}

// --cow: the app has booted in the zygote; from here on, this code runs in each worker
// forked from it. Waiting for fork requests is not execution (no time limit), and the
// random generators seeded before the fork would give every worker the same numbers.
// False in a process forked to be a sidecar: the script is then unwinding (as exit()
// does) and the caller returns at once.
bool enter_fork_server() {
    zend_unset_timeout();
    php_output_flush_all();  // boot output goes to the log once, not once per worker
    sapi_flush();
    std::fflush(nullptr);
    source = fork_server->serve_forks();
    if (!source) {
        left_template = true;
        zend_throw_unwind_exit();
        return false;
    }
    forked = true;
    RANDOM_G(mt19937_seeded) = false;       // mt_rand(), rand(), shuffle(), ...
    RANDOM_G(combined_lcg_seeded) = false;  // lcg_value(), uniqid(more_entropy)
    return true;
}

bool in_idle_context() {
    return detail::active() == &idle_state;
}

}  // namespace

namespace detail {

// askr_cow_ready(): bool. With --cow, in the zygote: the workers are forked from here
// and the call returns true in each of them. Otherwise a no-op that returns false.
void cow_ready_function(INTERNAL_FUNCTION_PARAMETERS) {
    ZEND_PARSE_PARAMETERS_NONE();
    if (!fork_server || forked) RETURN_FALSE;
    if (!in_idle_context()) {
        zend_throw_error(
            nullptr,
            "askr_cow_ready() can only be called by a worker script, outside of a request");
        RETURN_THROWS();
    }
    if (!enter_fork_server()) RETURN_THROWS();
    RETURN_TRUE;
}

// askr_handle_request(callable $handler): bool (and frankenphp_handle_request).
void handle_request_function(INTERNAL_FUNCTION_PARAMETERS) {
    zend_fcall_info fci;
    zend_fcall_info_cache fcc;
    ZEND_PARSE_PARAMETERS_START(1, 1)
    Z_PARAM_FUNC(fci, fcc)
    ZEND_PARSE_PARAMETERS_END();
    // --cow without an askr_cow_ready() call (a FrankenPHP script): the first
    // askr_handle_request() is where the app has booted.
    if (fork_server && !forked && in_idle_context() && !enter_fork_server()) RETURN_THROWS();
    if (!source || !in_idle_context()) {
        zend_throw_error(nullptr,
                         "askr_handle_request() can only be called by a worker script (--worker), "
                         "outside of a request");
        RETURN_THROWS();
    }
    // The previous request and the app's own reset (the loop body) are done: the state
    // left now is what the next request will see.
    if (!reached_handler) {
        reached_handler = true;
        source->script_ready();  // the app booted: this worker can take over from the old ones
    }
    if (detail::paranoid && handled > 0) detail::paranoid_after_request(handled);
    close_idle_context();
    zend_unset_timeout();  // waiting is not execution
    ScriptRequest* script = source->next();
    if (!script) {
        stop_seen = true;
        open_idle_context();
        RETURN_FALSE;
    }
    start_http_request(*script);

    zval result;
    ZVAL_UNDEF(&result);
    fci.retval = &result;
    if (zend_call_function(&fci, &fcc) == SUCCESS) zval_ptr_dtor(&result);
    // exit() unwinds as a special exception: the response is what the script sent. Any
    // other exception is an error of the request (500); it then ends the worker script,
    // which is started again.
    const bool thrown = EG(exception) != nullptr;
    if (thrown && !zend_is_unwind_exit(EG(exception)) && !SG(headers_sent) &&
        SG(sapi_headers).http_response_code == 200) {
        SG(sapi_headers).http_response_code = 500;
    }
    if (thrown) zend_exception_save();  // output handlers must not run with it pending
    finish_http_request();
    open_idle_context();
    if (thrown) zend_exception_restore();
    RETURN_TRUE;
}

}  // namespace detail

namespace {

// One run of the worker script, from php_request_startup() to php_request_shutdown().
void run_once(const WorkerScript& worker) {
    reached_handler = false;
    begin_idle_request_info();
    if (php_request_startup() == FAILURE) {
        spdlog::error("worker script {}: PHP request startup failed", worker.filename);
        detail::set_current(nullptr);
        return;
    }
    request_time_limit = INI_INT("max_execution_time");
    PG(last_error_type) = 0;
    zend_file_handle file;
    zend_stream_init_filename(&file, worker.filename.c_str());
    php_execute_script(&file);
    zend_destroy_file_handle(&file);
    // --cow: a forked worker whose script ended is not restarted but replaced by a new
    // fork. Stop accepting before the last response goes out (below), so that the
    // client's next connection waits for the replacement instead of reaching this one.
    if (forked && !stop_seen && !source->stopping()) fork_server->drain();

    ActiveRequest* in_flight = detail::active();
    const bool request_died = in_flight && in_flight != &idle_state;
    if (request_died) detail::mark_fatal_as_500();  // fatal error inside the handler
    php_request_shutdown(nullptr);                  // flushes what the request produced
    if (request_died) {
        detail::end_request(*in_flight);
        ++handled;
    }
    detail::set_current(nullptr);
}

// A request that arrives while the worker script cannot start.
void answer_unavailable(ScriptRequest& script) {
    ResponseHead head;
    head.status = 503;
    head.fields.add("Content-Type", "text/plain");
    head.fields.add("Retry-After", "1");
    std::string body =
        "503 Service Unavailable: the worker script is failing to start (see the server log)\n";
    script.writer->end(&head, body);
}

void prepare(const WorkerScript& worker) {
    stop_seen = false;
    detail::worker_mode = true;
    detail::frankenphp_compat = worker.frankenphp_compat;
    detail::paranoid = worker.paranoid;
    idle_script.target = {worker.filename, "", "", worker.document_root};
}

}  // namespace

void run_worker_script(const WorkerScript& worker, RequestSource& requests) {
    prepare(worker);
    source = &requests;
    auto delay = std::chrono::milliseconds(0);
    for (;;) {
        handled = 0;
        const auto started = std::chrono::steady_clock::now();
        run_once(worker);
        if (stop_seen || requests.stopping()) break;
        if (!reached_handler) requests.script_failed();
        // The script ended while requests are still wanted: start it again. If it did
        // not get to serve anything, wait longer each time (it is failing at boot).
        const bool failed_at_boot =
            handled == 0 && std::chrono::steady_clock::now() - started < std::chrono::seconds(5);
        delay = failed_at_boot ? std::min(std::max(delay * 2, std::chrono::milliseconds(100)),
                                          std::chrono::milliseconds(10000))
                               : std::chrono::milliseconds(0);
        if (requests.stopping()) break;
        if (failed_at_boot) {
            spdlog::error("worker script {} ended before serving a request; restarting in {} ms",
                          worker.filename, delay.count());
        } else {
            spdlog::info("worker script {} ended after {} request(s); restarting", worker.filename,
                         handled);
        }
        // While the script cannot start, clients get a 503 at once instead of waiting,
        // and a stop request ends the wait.
        const auto until = std::chrono::steady_clock::now() + delay;
        while (!requests.stopping()) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                until - std::chrono::steady_clock::now());
            if (left.count() <= 0) break;
            if (ScriptRequest* waiting = requests.next_for(left)) answer_unavailable(*waiting);
        }
        if (requests.stopping()) break;
    }
    source = nullptr;
}

TemplateEnd run_cow_template(const WorkerScript& worker, ForkServer& forks) {
    prepare(worker);
    fork_server = &forks;
    handled = 0;
    run_once(worker);  // in the zygote, returns only if askr_cow_ready() was never reached
    if (left_template) return TemplateEnd::became_sidecar;
    if (!forked) {
        spdlog::error(
            "worker script {} ended before askr_cow_ready() (--cow): the app did not boot",
            worker.filename);
        return TemplateEnd::boot_failed;
    }
    if (stop_seen || source->stopping()) return TemplateEnd::worker_stopped;
    // The script ended (exit, fatal error) while requests are still wanted. Under --cow a
    // new worker is forked from the template instead of booting the script again here:
    // this one stopped accepting (run_once), answers what is already queued with 503, and
    // exits.
    if (handled == 0) {
        spdlog::error("worker script {} ended before serving a request; this worker exits",
                      worker.filename);
    } else {
        spdlog::info(
            "worker script {} ended after {} request(s); a new worker is forked from the template",
            worker.filename, handled);
    }
    while (!source->stopping()) {
        if (ScriptRequest* waiting = source->next_for(std::chrono::milliseconds(100)))
            answer_unavailable(*waiting);
    }
    return handled == 0 ? TemplateEnd::worker_failed : TemplateEnd::worker_ended;
}

}  // namespace askr::php
