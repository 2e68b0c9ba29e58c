// PHP functions Askr adds: the request-header accessors apps expect from php-fpm and
// Apache, and finishing a response early.
#include <string>

#include "php/sapi_internal.hpp"

extern "C" {
#include "php.h"
#include "SAPI.h"
}

namespace askr::php::detail {
namespace {

// getallheaders(): header names in Title-Case ("User-Agent"), as php-fpm rebuilds them
// from HTTP_* variables; repeated headers joined like their $_SERVER value.
PHP_FUNCTION(askr_getallheaders) {
    ZEND_PARSE_PARAMETERS_NONE();
    array_init(return_value);
    ActiveRequest* a = active();
    if (!a) return;
    const http::Request& request = *a->script->request;
    std::string name;
    std::string value;
    for (std::size_t i = 0; i < request.header_count(); ++i) {
        auto lower = request.header_name(i);
        bool seen_before = false;
        for (std::size_t j = 0; j < i && !seen_before; ++j) seen_before = request.header_name(j) == lower;
        if (seen_before) continue;
        name.assign(lower);
        bool word_start = true;
        for (char& c : name) {
            if (word_start && c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
            word_start = c == '-';
        }
        value.assign(request.header_value(i));
        const char* separator = lower == "cookie" ? "; " : ", ";
        for (std::size_t j = i + 1; j < request.header_count(); ++j) {
            if (request.header_name(j) == lower) value.append(separator).append(request.header_value(j));
        }
        add_assoc_stringl_ex(return_value, name.data(), name.size(), value.data(), value.size());
    }
}

// askr_finish_request() / fastcgi_finish_request(): send the response now, keep running.
PHP_FUNCTION(askr_finish_request) {
    ZEND_PARSE_PARAMETERS_NONE();
    RETURN_BOOL(finish_request());
}

// headers_send(int $status = 200): int, as FrankenPHP defines it. With a 1xx status
// (103 Early Hints) an interim response carrying the Link headers set so far goes to the
// client before the final one, and the script goes on; the status of the final response
// is left as it was. With another status the headers are final and go now. Returns 1
// (PHP's SAPI_HEADER_SENT_SUCCESSFULLY) when sent or queued, 3 (SAPI_HEADER_SEND_FAILED)
// when not.
PHP_FUNCTION(askr_headers_send) {
    zend_long status = 200;
    ZEND_PARSE_PARAMETERS_START(0, 1)
    Z_PARAM_OPTIONAL
    Z_PARAM_LONG(status)
    ZEND_PARSE_PARAMETERS_END();
    if (status < 100 || status > 999) {
        zend_argument_value_error(1, "must be an HTTP status code from 100 to 999");
        RETURN_THROWS();
    }
    const int code = static_cast<int>(status);
    const bool sent = code < 200 ? send_interim(code) : send_head_now(code);
    RETURN_LONG(sent ? SAPI_HEADER_SENT_SUCCESSFULLY : SAPI_HEADER_SEND_FAILED);
}

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_handle_request, 0, 1, _IS_BOOL, 0)
ZEND_ARG_TYPE_INFO(0, handler, IS_CALLABLE, 0)
ZEND_END_ARG_INFO()
ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_watch, 0, 1, _IS_BOOL, 0)
ZEND_ARG_TYPE_INFO(0, source, IS_CALLABLE, 0)
ZEND_END_ARG_INFO()
ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_headers, 0, 0, IS_ARRAY, 0)
ZEND_END_ARG_INFO()
ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_finish, 0, 0, _IS_BOOL, 0)
ZEND_END_ARG_INFO()
ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_headers_send, 0, 0, IS_LONG, 0)
ZEND_ARG_TYPE_INFO_WITH_DEFAULT_VALUE(0, status, IS_LONG, 0, "200")
ZEND_END_ARG_INFO()

const zend_function_entry functions[] = {
    ZEND_RAW_FENTRY("getallheaders", zif_askr_getallheaders, arginfo_headers, 0)
    ZEND_RAW_FENTRY("apache_request_headers", zif_askr_getallheaders, arginfo_headers, 0)
    ZEND_RAW_FENTRY("askr_finish_request", zif_askr_finish_request, arginfo_finish, 0)
    ZEND_RAW_FENTRY("fastcgi_finish_request", zif_askr_finish_request, arginfo_finish, 0)
    ZEND_RAW_FENTRY("askr_handle_request", handle_request_function, arginfo_handle_request, 0)
    ZEND_RAW_FENTRY("askr_cow_ready", cow_ready_function, arginfo_finish, 0)
    ZEND_RAW_FENTRY("askr_paranoid_watch", paranoid_watch_function, arginfo_watch, 0)
    ZEND_RAW_FENTRY("askr_sidecar_should_stop", sidecar_should_stop_function, arginfo_finish, 0)
    ZEND_RAW_FENTRY("askr_sidecar_job_done", sidecar_job_done_function, arginfo_finish, 0)
    ZEND_FE_END};

// Only with --frankenphp-compat: worker scripts written for FrankenPHP run unmodified.
const zend_function_entry frankenphp_functions[] = {
    ZEND_RAW_FENTRY("frankenphp_handle_request", handle_request_function, arginfo_handle_request, 0)
    ZEND_RAW_FENTRY("frankenphp_finish_request", zif_askr_finish_request, arginfo_finish, 0)
    ZEND_FE_END};

// PHP has no headers_send(); registered unless an extension already defines one.
const zend_function_entry early_hints_functions[] = {
    ZEND_RAW_FENTRY("headers_send", zif_askr_headers_send, arginfo_headers_send, 0)
    ZEND_FE_END};

PHP_MINIT_FUNCTION(askr) {
    (void)type;
    if (!zend_hash_str_exists(CG(function_table), "headers_send", sizeof "headers_send" - 1))
        zend_register_functions(nullptr, early_hints_functions, nullptr, MODULE_PERSISTENT);
    if (frankenphp_compat) zend_register_functions(nullptr, frankenphp_functions, nullptr, MODULE_PERSISTENT);
    zend_register_functions(nullptr, cache_functions, nullptr, MODULE_PERSISTENT);
    zend_register_functions(nullptr, broadcast_functions, nullptr, MODULE_PERSISTENT);
    (void)module_number;
    return SUCCESS;
}

zend_module_entry module = {
    STANDARD_MODULE_HEADER,
    "askr",
    functions,
    PHP_MINIT(askr),
    nullptr,  // MSHUTDOWN
    nullptr,  // RINIT
    nullptr,  // RSHUTDOWN
    nullptr,  // MINFO
    ASKR_VERSION,
    STANDARD_MODULE_PROPERTIES};

}  // namespace

zend_module_entry* functions_module() { return &module; }

}  // namespace askr::php::detail
