#pragma once
#include <functional>
#include <string>
#include <string_view>

#include "http/request.hpp"

namespace askr::php {

/// Which script serves a request, as the router decided.
struct ScriptTarget {
    std::string_view filename;       ///< SCRIPT_FILENAME: absolute path of the script
    std::string_view script_name;    ///< SCRIPT_NAME: URI path of the script
    std::string_view path_info;      ///< PATH_INFO, "" when none
    std::string_view document_root;  ///< DOCUMENT_ROOT
};

/// Receives one CGI variable.
using VariableSink = std::function<void(std::string_view name, std::string_view value)>;

/// Produces the CGI/1.1 variables of $_SERVER for a request, as nginx + php-fpm with
/// Debian's fastcgi.conf would (RFC 3875 section 4.1; differences are documented in
/// docs/php.md). Request headers become HTTP_* variables; headers whose names contain
/// '_' are dropped (as nginx does: they could spoof a '-' header) and so is `Proxy`
/// (httpoxy). Repeated headers are joined with ", " (Cookie with "; ").
void for_each_cgi_variable(const http::Request& request, const ScriptTarget& target,
                           std::string_view server_software, const VariableSink& sink);

/// Joins all Cookie headers of a request with "; " (RFC 6265 section 5.4), into `out`.
void join_cookies(const http::Request& request, std::string& out);

/// The host name a request addressed: Host without its port, or the local address.
std::string_view server_name(const http::Request& request);

}  // namespace askr::php
