#pragma once
#include <string>
#include <string_view>

#include "config/symlink_policy.hpp"

namespace askr::http {

/// Whether files reached through symbolic links may lie outside the document root.
using SymlinkPolicy = config::SymlinkPolicy;

/// What the router needs to know about a site.
struct RouterConfig {
    std::string root;                 ///< absolute realpath of the document root, no trailing slash
    std::string index = "index.php";  ///< directory index AND front controller name
    SymlinkPolicy symlinks = SymlinkPolicy::follow;  ///< see SymlinkPolicy
    /// Worker mode: requests that no file answers go to this script (absolute path), the
    /// app's front controller, whether or not an index file exists.
    std::string worker_script;
};

/// The router's decision for one request path.
struct Route {
    /// What serves the request.
    enum class Kind { php, static_file, redirect, not_found, forbidden, bad_request };
    Kind kind = Kind::not_found;  ///< the decision
    std::string file;  ///< absolute filesystem path: the script (SCRIPT_FILENAME) or static file
    std::string
        script_name;        ///< php only: URI path of the script, e.g. "/index.php", "/sub/app.php"
    std::string path_info;  ///< php only: PATH_INFO, "" when none
    std::string location;   ///< redirect only: Location value (path + "/" and "?query" if any)
};

/// Resolves a raw (percent-encoded, query-less) request path to what serves it, the way
/// nginx's `try_files $uri $uri/ /index.php?$query_string` with php-fpm does, but refusing
/// traversal, dot-files and PHP sources. `query` is only used for a redirect's Location.
/// Never throws; touches the filesystem with stat() and, for inside_root, realpath().
Route resolve(const RouterConfig& config, std::string_view raw_path, std::string_view query);

}  // namespace askr::http
