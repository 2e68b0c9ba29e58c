#pragma once
// Shared between the files of src/php only: PHP's headers are included here.
#include <string>

#include "php/engine.hpp"

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
    // NUL-terminated copies PHP keeps char* pointers to during the request.
    std::string filename, script_name, query, content_type, cookies, authorization;
};

/// The running request, or nullptr between requests.
ActiveRequest* active();

/// Completes the response now (fastcgi_finish_request semantics): flushes output
/// buffers, sends headers and body; the script goes on, its further output is discarded.
/// False when the response was already complete.
bool finish_request();

/// The module that adds Askr's PHP functions (getallheaders, askr_finish_request, ...).
::_zend_module_entry* functions_module();

/// Creates the per-thread CPU-time clock that enforces max_execution_time for the
/// calling thread (the PHP thread). See execution_timer.cpp.
void bind_execution_timer_to_this_thread();

}  // namespace askr::php::detail
