// A PHP engine started only to be asked about itself, in a child process: the master
// never loads PHP (docs/architecture.md, "Processes"), and `askr doctor` wants to see what the
// embed SAPI with Askr's settings really loads, not what the CLI's php.ini says.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "php/sapi_internal.hpp"

extern "C" {
#include "SAPI.h"
#include "php_main.h"
#include "zend_exceptions.h"
}

namespace askr::php {

namespace {

std::string lower(std::string_view text) {
    std::string out(text);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// One expression PHP evaluates inside a request; its value is the report, one
// key=value per line.
constexpr const char* report_expression = R"PHP(implode("\n", array_merge([
    'version=' . PHP_VERSION,
    'zts=' . (PHP_ZTS ? 1 : 0),
    'opcache_loaded=' . (extension_loaded('Zend OPcache') ? 1 : 0),
    'opcache_enabled=' . ((function_exists('opcache_get_status') && is_array($askr_s = opcache_get_status(false))
                           && !empty($askr_s['opcache_enabled'])) ? 1 : 0),
    'opcache_enable_ini=' . ini_get('opcache.enable'),
], array_map(fn($e) => 'ext=' . strtolower($e), array_merge(get_loaded_extensions(), get_loaded_extensions(true))))))PHP";

// In the child: start PHP, run one request that evaluates the expression, write the result.
std::string report_in_this_process(const EngineOptions& options) {
    try {
        startup(options);
    } catch (const std::exception& e) {
        return std::string("error=") + e.what();
    }
    SG(server_context) =
        reinterpret_cast<void*>(1);  // "a request is being served"; never dereferenced here
    SG(request_info).no_headers = 1;
    SG(headers_sent) = 1;
    if (php_request_startup() == FAILURE) return "error=PHP request startup failed";
    std::string text = "error=evaluating the report failed";
    zend_try {
        zval result;
        ZVAL_UNDEF(&result);
        if (zend_eval_string(report_expression, &result, "askr inspect") == SUCCESS &&
            Z_TYPE(result) == IS_STRING) {
            text.assign(Z_STRVAL(result), Z_STRLEN(result));
        }
        zval_ptr_dtor(&result);
    }
    zend_end_try();
    php_request_shutdown(nullptr);
    return text;
}

}  // namespace

bool EngineReport::has_extension(std::string_view name) const {
    std::string wanted = lower(name);
    if (wanted == "opcache" || wanted == "zend_opcache") wanted = "zend opcache";
    return std::find(extensions.begin(), extensions.end(), wanted) != extensions.end();
}

EngineReport inspect_in_child(const EngineOptions& options) {
    EngineReport report;
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        report.error = std::string("pipe: ") + std::strerror(errno);
        return report;
    }
    std::fflush(nullptr);  // nothing buffered may be written twice
    const pid_t pid = ::fork();
    if (pid < 0) {
        report.error = std::string("fork: ") + std::strerror(errno);
        ::close(fds[0]);
        ::close(fds[1]);
        return report;
    }
    if (pid == 0) {  // child: PHP lives and dies here
        ::close(fds[0]);
        const std::string text = report_in_this_process(options);
        std::size_t done = 0;
        while (done < text.size()) {
            ssize_t n = ::write(fds[1], text.data() + done, text.size() - done);
            if (n <= 0 && errno != EINTR) break;
            if (n > 0) done += static_cast<std::size_t>(n);
        }
        std::fflush(nullptr);
        ::_exit(0);  // no module shutdown: the process ends here
    }
    ::close(fds[1]);
    std::string text;
    char buffer[4096];
    for (;;) {
        ssize_t n = ::read(fds[0], buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        text.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fds[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        auto eq = line.find('=');
        if (eq == std::string::npos) continue;
        const std::string key = line.substr(0, eq), value = line.substr(eq + 1);
        if (key == "error") report.error = value;
        if (key == "version") report.version = value;
        if (key == "zts") report.thread_safe = value == "1";
        if (key == "opcache_loaded") report.opcache_loaded = value == "1";
        if (key == "opcache_enabled") report.opcache_enabled = value == "1";
        if (key == "opcache_enable_ini") report.opcache_enable_ini = value;
        if (key == "ext") report.extensions.push_back(value);
    }
    report.started = report.error.empty() && !report.version.empty();
    if (!report.started && report.error.empty()) {
        report.error = "the PHP process ended without a report (" +
                       std::string(WIFSIGNALED(status)
                                       ? "signal " + std::to_string(WTERMSIG(status))
                                       : "exit status " + std::to_string(WEXITSTATUS(status))) +
                       ")";
    }
    return report;
}

}  // namespace askr::php
