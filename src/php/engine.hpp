#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/request.hpp"
#include "php/cgi_environment.hpp"

// The PHP engine as the rest of Askr sees it. PHP's own headers stay inside src/php/.
namespace askr::php {

/// Settings applied when PHP starts (once per process, before serving).
struct EngineOptions {
    std::vector<std::pair<std::string, std::string>> ini;  ///< ini overrides, applied last
    std::string server_software = "Askr";                   ///< SERVER_SOFTWARE
};

/// The response head PHP produced: status and header lines, framing headers removed.
struct ResponseHead {
    int status = 200;
    std::string fields;          ///< "Name: value\r\n" lines as the script set them
    std::string content_length;  ///< a Content-Length the script set itself ("" if none)
};

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

/// Shuts PHP down (module shutdown). Call once, on the thread that called startup().
void shutdown();

/// Runs one script through PHP's classic request cycle. Always completes the response.
void run_script(ScriptRequest& script);

/// Version of the PHP library Askr runs ("8.2.36").
std::string_view php_version();

}  // namespace askr::php
