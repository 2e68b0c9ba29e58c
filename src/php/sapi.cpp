// Askr's SAPI: how PHP talks to the server. One sapi_module_struct (below, commented field
// by field), started once per process; one short request bridge (run_script).
// Reference points: php-src sapi/embed/php_embed.c and sapi/fpm, NGINX Unit nxt_php_sapi.c.
#include <poll.h>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "core/suggest.hpp"
#include "core/text.hpp"
#include "php/sapi_internal.hpp"

extern "C" {
#include "SAPI.h"
#include "ext/standard/head.h"
#include "php.h"
#include "php_main.h"
#include "php_variables.h"
#include "zend_constants.h"
#include "zend_ini.h"
#include "zend_signal.h"
}

namespace askr::php {
namespace {

using detail::ActiveRequest;

ActiveRequest request_state;       // reused: buffers keep their capacity
ActiveRequest* current = nullptr;  // set while a script runs
std::string ini_entries;           // must outlive PHP (PHP keeps the pointer)
std::string server_software;
bool sendfile = false;  // EngineOptions::sendfile

// Output is handed to the server in pieces of this size, or sooner on flush().
constexpr std::size_t push_threshold = 64 * 1024;

// Hands what the script produced to the server. False when the client is gone.
bool push_output(bool last) {
    ActiveRequest& a = *current;
    if (a.finished) {
        a.output.clear();
        return true;
    }
    ResponseHead* head = nullptr;
    if (!a.head_pushed) {
        head = &a.head;
        a.head_pushed = true;
    }
    const bool delivered = a.script->writer->push(head, a.output, last);
    a.output.clear();
    if (last) a.finished = true;
    return delivered;
}

// --- the sapi_module_struct callbacks -------------------------------------------------

int on_startup(sapi_module_struct* module) {
    return php_module_startup(module, detail::functions_module());
}

int on_deactivate() {
    return SUCCESS;
}

// Unbuffered write: PHP's output layer calls this with what a script echoes.
size_t on_ub_write(const char* data, size_t length) {
    if (!current) {  // outside a request (startup messages): nowhere else to go
        spdlog::warn("PHP: {}", std::string_view(data, length));
        return length;
    }
    if (current->finished) return length;
    if (!detail::sidecar_role.empty()) {  // a sidecar's output: to its log as it comes
        std::string text(data, length);
        current->script->writer->push(nullptr, text, false);
        return length;
    }
    current->output.append(data, length);
    if (current->output.size() >= push_threshold && !push_output(false)) {
        php_handle_aborted_connection();  // as php-fpm: may end the script (ignore_user_abort)
    }
    return length;
}

// flush(): what the script produced so far goes to the client now.
void on_flush(void* /*server_context*/) {
    if (!current || current->finished) return;
    if (!SG(headers_sent)) sapi_send_headers();
    if (!push_output(false) || current->script->writer->client_gone()) {
        php_handle_aborted_connection();
    }
}

// header(): PHP itself refuses CR and LF in a header; a name that is not a token (RFC
// 9110 section 5.1: "X A", "X-A ", "" or no colon at all) would reach the client as
// garbage or split into something else, so it is refused here the same way, with a warning.
int on_header(sapi_header_struct* header, sapi_header_op_enum op, sapi_headers_struct*) {
    if (op != SAPI_HEADER_ADD && op != SAPI_HEADER_REPLACE) return SAPI_HEADER_ADD;
    const std::string_view line(header->header, header->header_len);
    const auto colon = line.find(':');
    const std::string_view name = line.substr(0, colon);
    if (colon != std::string_view::npos && http::is_field_name(name)) {
        // sapi_send_headers() adds PHP's default Content-Type while send_default_content_type
        // is still set; a script's own header() clears it first (PHP 8.2 main/SAPI.c).
        if (current && core::iequals(name, "content-type"))
            current->default_content_type = SG(sapi_headers).send_default_content_type;
        return SAPI_HEADER_ADD;
    }
    php_error_docref(nullptr, E_WARNING,
                     "Header \"%.*s\" not sent: a header is \"Name: value\" and the name a "
                     "token (letters, digits and !#$%%&'*+-.^_`|~, no spaces)",
                     static_cast<int>(std::min<std::size_t>(name.size(), 64)), name.data());
    return 0;
}

// The script's headers are final: keep them for the server, which frames the response.
int on_send_headers(sapi_headers_struct* headers) {
    if (!current) return SAPI_HEADER_SENT_SUCCESSFULLY;
    ResponseHead& head = current->head;
    current->head_captured = true;
    head.clear();
    head.status = headers->http_response_code ? headers->http_response_code : 200;
    zend_llist_position position;
    for (auto* h = static_cast<sapi_header_struct*>(
             zend_llist_get_first_ex(&headers->headers, &position));
         h != nullptr; h = static_cast<sapi_header_struct*>(
                           zend_llist_get_next_ex(&headers->headers, &position))) {
        std::string_view line(h->header, h->header_len);
        auto colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        auto name = core::trim_ows(line.substr(0, colon));
        auto value = core::trim_ows(line.substr(colon + 1));
        if (core::iequals(name, "content-length")) {
            std::uint64_t declared = 0;
            if (std::from_chars(value.data(), value.data() + value.size(), declared).ec ==
                std::errc{}) {
                head.content_length = declared;
            }
        } else if (core::iequals(name, "status")) {  // CGI's Status header, as php-fpm honours it
            int code = 0;
            for (char c : value.substr(0, 3))
                code = c >= '0' && c <= '9' ? code * 10 + (c - '0') : -1000;
            if (code >= 100 && code <= 999) head.status = code;
        } else if (!http::is_protocol_owned(name)) {
            // Framing and connection fields belong to the server (RFC 9110 section 7.6.1).
            head.fields.add(name, value);
        }
    }
    // A response the server answers with a file (X-Sendfile) takes the file's type unless
    // the script chose one: PHP's default text/html would mislabel a PDF.
    if (sendfile && current->default_content_type &&
        (head.fields.has("x-sendfile") || head.fields.has("x-accel-redirect"))) {
        head.fields.remove("content-type");
    }
    // Only 200-599 can be a final status (RFC 9110 section 15): a 1xx sent as the final
    // answer would leave the client waiting for another, and the next response on the
    // connection would be read as this one's. Interim responses go through headers_send().
    if (head.status < 200 || head.status > 599) {
        spdlog::error("PHP: {} set the invalid final status {}: answered 500 instead",
                      current->filename, head.status);
        head.status = 500;
    }
    return SAPI_HEADER_SENT_SUCCESSFULLY;
}

size_t on_read_post(char* buffer, size_t count) {
    if (!current) return 0;
    const std::size_t n = current->script->request->read_body(current->body_offset, buffer, count);
    current->body_offset += n;
    return n;
}

char* on_read_cookies() {
    if (!current) return nullptr;
    join_cookies(*current->script->request, current->cookies);
    return current->cookies.empty() ? nullptr : current->cookies.data();
}

void on_register_server_variables(zval* track_vars) {
    if (!current) return;
    if (!detail::sidecar_role.empty()) {
        detail::register_sidecar_variables(track_vars);
        return;
    }
    char name[256];
    for_each_cgi_variable(*current->script->request, current->script->target, server_software,
                          [&](std::string_view key, std::string_view value) {
                              if (key.size() >= sizeof name) return;
                              std::memcpy(name, key.data(), key.size());
                              name[key.size()] = '\0';
                              php_register_variable_safe(name, value.data(), value.size(),
                                                         track_vars);
                          });
    if (detail::worker_mode) {
        php_register_variable_safe(const_cast<char*>("ASKR_WORKER"), "1", 1, track_vars);
        if (detail::frankenphp_compat)
            php_register_variable_safe(const_cast<char*>("FRANKENPHP_WORKER"), "1", 1, track_vars);
    }
}

// getenv() asks the SAPI first: as under php-fpm and mod_php, a request's CGI variables
// (REMOTE_ADDR, HTTP_HOST, ...) answer it; other names fall through to the environment.
char* on_getenv(const char* name, size_t name_length) {
    if (!current || !current->script || !detail::sidecar_role.empty()) return nullptr;
    const std::string_view wanted(name, name_length);
    bool found = false;
    for_each_cgi_variable(*current->script->request, current->script->target, server_software,
                          [&](std::string_view key, std::string_view value) {
                              if (found || key != wanted) return;
                              current->getenv_value.assign(value);
                              found = true;
                          });
    return found ? current->getenv_value.data() : nullptr;
}

void on_log_message(const char* message, int syslog_type) {
    if (syslog_type <= LOG_ERR) {
        spdlog::error("PHP: {}", message);
    } else if (syslog_type == LOG_WARNING) {
        spdlog::warn("PHP: {}", message);
    } else {
        spdlog::info("PHP: {}", message);
    }
}

zend_result on_get_request_time(double* request_time) {
    if (!current) return FAILURE;
    *request_time = current->script->request->start_time;
    return SUCCESS;
}

// opcache enables itself only for SAPI names on its allow-list, checked once at startup
// (PHP 8.2 ext/opcache/ZendAccelerator.c, accel_find_sapi). Askr starts PHP under the
// php-fpm name and renames the module to "askr" right after (docs/php.md).
constexpr const char* startup_name = "fpm-fcgi";

sapi_module_struct make_module() {
    sapi_module_struct m{};
    m.name = const_cast<char*>(startup_name);
    m.pretty_name = const_cast<char*>("Askr");
    m.startup = on_startup;  // php_module_startup + Askr's functions
    m.shutdown = php_module_shutdown_wrapper;
    m.activate = nullptr;  // nothing per request beyond PHP's own
    m.deactivate = on_deactivate;
    m.ub_write = on_ub_write;  // script output → the response
    m.flush = on_flush;        // flush() → sent to the client now
    m.get_stat = nullptr;
    m.getenv = on_getenv;  // the request's CGI variables, then the (clean) environment
    m.sapi_error = php_error;
    m.header_handler = on_header;      // refuses invalid names; PHP keeps the list itself
    m.send_headers = on_send_headers;  // the head, framed later by the server
    m.send_header = nullptr;
    m.read_post = on_read_post;        // request body (already read by the I/O thread)
    m.read_cookies = on_read_cookies;  // all Cookie headers joined
    m.register_server_variables = on_register_server_variables;  // the CGI/1.1 contract
    m.log_message = on_log_message;                              // PHP errors → Askr's log
    m.get_request_time = on_get_request_time;  // REQUEST_TIME(_FLOAT) = arrival time
    m.terminate_process = nullptr;
    m.php_ini_path_override = nullptr;  // the embed SAPI's php.ini and conf.d
    m.default_post_reader = nullptr;
    m.treat_data = nullptr;
    m.executable_location = nullptr;
    m.php_ini_ignore = 0;
    m.php_ini_ignore_cwd = 1;  // never read a php.ini from the cwd
    m.input_filter = nullptr;
    m.ini_defaults = nullptr;
    m.phpinfo_as_text = 0;
    m.ini_entries = nullptr;
    m.additional_functions = nullptr;
    m.input_filter_init = nullptr;
    return m;
}

sapi_module_struct askr_module = make_module();

}  // namespace

namespace detail {

// The script has ended: the rest of the response, and the request is released.
void end_request(ActiveRequest& a) {
    ResponseHead* head = nullptr;
    if (!a.head_pushed) {
        if (!a.head_captured && a.head.status == 200)
            a.head.status = 500;  // PHP never sent headers
        head = &a.head;
        a.head_pushed = true;
    }
    if (a.finished) a.output.clear();
    a.script->writer->end(head, a.output);
    a.output.clear();
    a.finished = true;
    current = nullptr;
}

ActiveRequest* active() {
    return current;
}

bool finish_request() {
    if (!current || current->finished) return false;
    php_output_end_all();
    php_header();
    push_output(true);
    return true;
}

// A script that calls headers_send(103) in a loop would queue responses the server
// holds until its head goes out; more than a page ever needs is refused.
constexpr unsigned max_interims = 16;

bool send_interim(int status) {
    if (!current || current->finished || current->head_pushed || SG(headers_sent)) return false;
    if (status == 101) return false;  // switches protocols: the server's Upgrade, not a hint
    if (current->interims_sent >= max_interims) {
        php_error_docref(nullptr, E_WARNING,
                         "Interim response %d not sent: a response carries at most %u of them",
                         status, max_interims);
        return false;
    }
    // RFC 8297 section 2: a 103 carries the Link fields the final response is expected to
    // have; the script's other headers are still being decided and stay for the final one.
    http::Fields& fields = current->interim_fields;
    fields.clear();
    zend_llist_position position;
    for (auto* h = static_cast<sapi_header_struct*>(
             zend_llist_get_first_ex(&SG(sapi_headers).headers, &position));
         h != nullptr; h = static_cast<sapi_header_struct*>(
                           zend_llist_get_next_ex(&SG(sapi_headers).headers, &position))) {
        const std::string_view line(h->header, h->header_len);
        const auto colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        const auto name = core::trim_ows(line.substr(0, colon));
        if (core::iequals(name, "link")) fields.add(name, core::trim_ows(line.substr(colon + 1)));
    }
    if (!current->script->writer->interim(status, fields)) return false;
    ++current->interims_sent;
    return true;
}

bool send_head_now(int status) {
    if (!current || current->finished) return false;
    if (!SG(headers_sent)) {
        SG(sapi_headers).http_response_code = status;
        sapi_send_headers();
    }
    return push_output(false);
}

}  // namespace detail

namespace {

// PHP ignores an ini key nothing registered without a word (a typo, or the setting of an
// extension that is not loaded): say so, with the closest key PHP knows.
void warn_about_unknown_ini_keys(const std::vector<std::pair<std::string, std::string>>& ini) {
    std::vector<std::string> known;
    for (const auto& [key, value] : ini) {
        if (zend_hash_str_exists(EG(ini_directives), key.data(), key.size())) continue;
        if (known.empty()) {
            zend_string* name;
            ZEND_HASH_FOREACH_STR_KEY(EG(ini_directives), name) {
                if (name) known.emplace_back(ZSTR_VAL(name), ZSTR_LEN(name));
            }
            ZEND_HASH_FOREACH_END();
        }
        const std::string suggestion = core::closest(key, known);
        spdlog::warn(
            "[php.ini] {}: PHP has no such setting (nor has any loaded extension), so it "
            "has no effect{}",
            key, suggestion.empty() ? "" : "; did you mean " + suggestion + "?");
    }
}

// The relocatable tarball (make dist): bin/askr beside lib/php/extensions and
// etc/php/php.ini. Then PHP reads that php.ini, its conf.d and its extensions, never the
// system's /etc/php or /usr/lib/php. "" for an ordinary install.
std::string bundle_root() {
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return {};
    const std::string root = exe.parent_path().parent_path().string();
    if (::access((root + "/etc/php/php.ini").c_str(), R_OK) != 0 ||
        ::access((root + "/lib/php/extensions").c_str(), X_OK) != 0)
        return {};
    return root;
}

std::string bundle_ini;  // the tarball's php.ini path (PHP keeps the pointer)

}  // namespace

void startup(const EngineOptions& options) {
    server_software = options.server_software;
    sendfile = options.sendfile;
    detail::frankenphp_compat = options.frankenphp_compat;  // read by the module's MINIT
    detail::cache = options.cache;
    detail::broadcast = options.broadcast;
    detail::broadcast_max_data = options.broadcast_max_data;
    detail::broadcast_max_channel_length = options.broadcast_max_channel_length;
    detail::broadcast_redis = options.broadcast_redis;
    ini_entries.clear();
    if (const std::string bundle = bundle_root(); !bundle.empty()) {
        bundle_ini = bundle + "/etc/php/php.ini";
        askr_module.php_ini_path_override = bundle_ini.data();
        ::setenv("PHP_INI_SCAN_DIR", (bundle + "/etc/php/conf.d").c_str(), 1);
        ini_entries.append("extension_dir=").append(bundle).append("/lib/php/extensions\n");
    }
    for (const auto& [key, value] : options.ini)
        ini_entries.append(key).append("=").append(value).append("\n");

#ifdef ZEND_SIGNALS
    zend_signal_startup();
#endif
    sapi_startup(&askr_module);
    askr_module.ini_entries = ini_entries.data();  // after sapi_startup, which clears it
    if (askr_module.startup(&askr_module) == FAILURE) {
        throw std::runtime_error(
            "PHP failed to start (php_module_startup); see the PHP messages above");
    }
    warn_about_unknown_ini_keys(options.ini);
    // PHP has read what it reads of the environment at startup (PHPRC, PHP_INI_SCAN_DIR);
    // from here scripts see only what the configuration gives them.
    if (options.environment) {
        ::clearenv();
        for (const auto& [name, value] : *options.environment)
            ::setenv(name.c_str(), value.c_str(), 1);
    }
    sapi_module.name = const_cast<char*>("askr");  // what php_sapi_name() answers
    // PHP_SAPI was registered during startup under the startup name: apps test it as
    // often as php_sapi_name(), so it must say "askr" too.
    // The string must be a real permanent interned one: once opcache has started,
    // zend_string_init_interned() returns an ordinary refcounted string when the text is
    // not in its shared memory. Marked as interned in the zval but not in the string, it
    // was freed by code releasing it as a string: seen with the Illuminate example app
    // in classic mode as PHP_SAPI reading "" and a corrupted heap (the next request
    // crashed in PCRE's JIT code).
    if (auto* constant = static_cast<zend_constant*>(
            zend_hash_str_find_ptr(EG(zend_constants), "PHP_SAPI", 8))) {
        zend_string* name = zend_string_init("askr", 4, 1);
        GC_SET_REFCOUNT(name, 1);
        GC_TYPE_INFO(name) = GC_STRING | ((IS_STR_INTERNED | IS_STR_PERSISTENT | IS_STR_PERMANENT)
                                          << GC_FLAGS_SHIFT);
        zend_string_hash_val(name);
        ZVAL_INTERNED_STR(&constant->value, name);
    }
#ifdef ZEND_SIGNALS
    // With `reset` on, every request start re-installs PHP's deferring handler for
    // SIGTERM, SIGINT, SIGHUP, ... and makes it call the handlers seen at startup (the
    // zygote's SIG_DFL), so a worker's own stop handler would be replaced by "die". Askr
    // owns the process's signals; PHP keeps handling the ones it arms itself (SIGPROF for
    // max_execution_time, pcntl_signal) through zend_signal().
    SIGG(reset) = false;
#endif
    detail::bind_execution_timer_to_this_thread();
}

void bind_php_thread() {
    detail::bind_execution_timer_to_this_thread();
}

void shutdown() {
    php_module_shutdown();
    sapi_shutdown();
}

std::string_view php_version() {
    return PHP_VERSION;
}

namespace detail {

ActiveRequest& http_request_state() {
    return request_state;
}
void set_current(ActiveRequest* a) {
    current = a;
}

void begin_request_info(ActiveRequest& a, ScriptRequest& script) {
    a.script = &script;
    a.head.clear();
    a.head_pushed = false;
    a.head_captured = false;
    a.finished = false;
    a.output.clear();
    a.body_offset = 0;
    a.interims_sent = 0;
    a.default_content_type = false;
    const http::Request& request = *script.request;
    a.filename.assign(script.target.filename);
    a.script_name.assign(script.target.script_name);
    a.query.assign(request.query());
    a.content_type.assign(request.header("content-type"));
    a.authorization.assign(request.header("authorization"));
    current = &a;

    SG(server_context) = &a;  // must be non-null, or PHP reads no body and sends no headers
    SG(request_info).request_method = request.method.c_str();
    SG(request_info).query_string = a.query.data();
    SG(request_info).request_uri = a.script_name.data();
    SG(request_info).path_translated = a.filename.data();
    SG(request_info).content_type = a.content_type.empty() ? nullptr : a.content_type.c_str();
    SG(request_info).content_length = static_cast<zend_long>(request.body_length());
    SG(request_info).proto_num = request.version_major * 1000 + request.version_minor;
    // sapi_deactivate() frees these without clearing them.
    SG(request_info).auth_user = nullptr;
    SG(request_info).auth_password = nullptr;
    SG(request_info).auth_digest = nullptr;
    SG(sapi_headers).http_response_code = 200;
    if (!a.authorization.empty()) php_handle_auth_data(a.authorization.c_str());
}

void mark_fatal_as_500() {
    // A fatal error or uncaught exception is a 500, also when display_errors put the
    // message in the body (PHP itself sets 500 only when display_errors is off).
    constexpr int fatal =
        E_ERROR | E_CORE_ERROR | E_COMPILE_ERROR | E_USER_ERROR | E_PARSE | E_RECOVERABLE_ERROR;
    if ((PG(last_error_type) & fatal) && !SG(headers_sent) &&
        SG(sapi_headers).http_response_code == 200) {
        SG(sapi_headers).http_response_code = 500;
    }
}

}  // namespace detail

void run_script(ScriptRequest& script) {
    ActiveRequest& a = request_state;
    detail::begin_request_info(a, script);

    if (php_request_startup() == FAILURE) {
        spdlog::error("PHP request startup failed for {}", a.filename);
        a.head.status = 500;
        a.output.assign("Internal Server Error\n");
        a.head.fields.add("Content-Type", "text/plain");
        detail::end_request(a);
        return;
    }

    // PHP resets the last error's message per request but not its type (only
    // error_clear_last() does): without this, one fatal error made every later request 500.
    PG(last_error_type) = 0;
    zend_file_handle file;
    zend_stream_init_filename(&file, a.filename.c_str());
    php_execute_script(&file);
    zend_destroy_file_handle(&file);

    detail::mark_fatal_as_500();
    php_request_shutdown(nullptr);
    detail::end_request(a);
}

}  // namespace askr::php
