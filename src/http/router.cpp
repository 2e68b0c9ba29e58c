#include "http/router.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <memory>
#include <vector>

#include "http/percent.hpp"

namespace askr::http {

namespace {

/// The decoded path after dot-segment removal: segments are views into the decoded string.
struct NormalisedPath {
    std::vector<std::string_view> segments;
    bool trailing_slash = false;  ///< the path named a directory ("/a/", "/a/.", "/a/b/..")
};

enum class Normalise { ok, above_root };

/// RFC 3986 §5.2.4 remove_dot_segments, applied to a decoded path that starts with '/'.
/// Empty segments ("//") are dropped, which collapses repeated slashes as nginx's
/// merge_slashes does. A ".." with nothing left to pop would climb above the root.
Normalise normalise(std::string_view decoded, NormalisedPath& out) {
    out.segments.clear();
    out.trailing_slash = false;
    std::size_t pos = 1;  // decoded[0] == '/'
    while (pos <= decoded.size()) {
        std::size_t end = decoded.find('/', pos);
        if (end == std::string_view::npos) end = decoded.size();
        const std::string_view segment = decoded.substr(pos, end - pos);
        const bool last = end == decoded.size();
        if (segment == "..") {
            if (out.segments.empty()) return Normalise::above_root;
            out.segments.pop_back();
            if (last) out.trailing_slash = true;
        } else if (segment == ".") {
            if (last) out.trailing_slash = true;
        } else if (segment.empty()) {
            if (last) out.trailing_slash = true;
        } else {
            out.segments.push_back(segment);
        }
        pos = end + 1;
    }
    if (out.segments.empty()) out.trailing_slash = true;  // "/" is the root directory
    return Normalise::ok;
}

/// "/" + segments[begin, end) joined with '/'.
std::string join(const NormalisedPath& path, std::size_t begin, std::size_t end) {
    std::string result;
    for (std::size_t i = begin; i < end; ++i) {
        result.push_back('/');
        result.append(path.segments[i]);
    }
    return result;
}

bool ends_with_ignore_case(std::string_view text, std::string_view suffix) {
    if (text.size() < suffix.size()) return false;
    text = text.substr(text.size() - suffix.size());
    for (std::size_t i = 0; i < suffix.size(); ++i) {
        char c = text[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != suffix[i]) return false;
    }
    return true;
}

bool is_php(std::string_view name) {
    return ends_with_ignore_case(name, ".php");
}

/// Extensions whose files hold PHP source or code PHP includes: served as text they would
/// leak it, and we only execute ".php", so they are hidden (not_found).
/// So are the copies editors and deployments leave of a PHP file ("index.php.bak",
/// "index.php~", Vim's ".index.php.swp" is a dot-file already, Emacs' "#index.php#"):
/// served with a type from their extension, they too would leak the source.
bool is_php_source(std::string_view name) {
    static constexpr std::string_view hidden[] = {".phtml", ".php3", ".php4", ".php5", ".php6",
                                                  ".php7",  ".php8", ".phps", ".phar", ".inc"};
    for (std::string_view extension : hidden) {
        if (ends_with_ignore_case(name, extension)) return true;
    }
    static constexpr std::string_view copies[] = {".php~",    ".php.bak", ".php.orig", ".php.save",
                                                  ".php.swp", ".php.old", ".php.tmp",  ".php.dist"};
    for (std::string_view suffix : copies) {
        if (ends_with_ignore_case(name, suffix)) return true;
    }
    // Emacs' auto-save file "#name#" (a copy of whatever is being edited).
    const std::string_view last = name.substr(name.rfind('/') + 1);
    if (last.size() > 2 && last.front() == '#' && last.back() == '#') return true;
    return false;
}

/// Dot-files (".env", ".git", ".htaccess", "...") are never served; the one exception is
/// the RFC 8615 ".well-known" prefix, and only as the first segment.
bool has_hidden_segment(const NormalisedPath& path) {
    for (std::size_t i = 0; i < path.segments.size(); ++i) {
        const std::string_view segment = path.segments[i];
        if (segment.front() != '.') continue;
        if (i == 0 && segment == ".well-known") continue;
        return true;
    }
    return false;
}

/// RFC 9112 §3.2 / RFC 3986 §3.3: a request-target has no controls, spaces or DEL. A
/// parser should have refused them already; refusing again keeps CR/LF out of Location.
bool has_control_bytes(std::string_view text) {
    for (char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (c <= 0x20 || c == 0x7f) return true;
    }
    return false;
}

enum class FileType { regular, directory, other, missing, denied };

/// stat() (following symlinks) classified for routing. EACCES/EPERM are reported so the
/// caller can answer forbidden; every other error means "not there" (nginx's try_files
/// moves on to the next candidate for ENOENT, ENOTDIR, ENAMETOOLONG, ELOOP likewise).
FileType file_type(const std::string& path) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) {
        return (errno == EACCES || errno == EPERM) ? FileType::denied : FileType::missing;
    }
    if (S_ISREG(info.st_mode)) return FileType::regular;
    if (S_ISDIR(info.st_mode)) return FileType::directory;
    return FileType::other;
}

Route make(Route::Kind kind) {
    Route route;
    route.kind = kind;
    return route;
}

/// Applies SymlinkPolicy::inside_root to the file chosen for `route`.
Route confine(const RouterConfig& config, std::string_view root, Route route) {
    if (config.symlinks != SymlinkPolicy::inside_root) return route;
    struct FreeDeleter {
        void operator()(char* p) const { std::free(p); }
    };
    const std::unique_ptr<char, FreeDeleter> real(::realpath(route.file.c_str(), nullptr));
    if (!real) {
        return make(errno == ENOENT || errno == ENOTDIR ? Route::Kind::not_found
                                                        : Route::Kind::forbidden);
    }
    const std::string_view resolved(real.get());
    const bool inside = resolved == root ||
                        (resolved.size() > root.size() && resolved.substr(0, root.size()) == root &&
                         resolved[root.size()] == '/');
    return inside ? route : make(Route::Kind::forbidden);
}

Route php_route(const RouterConfig& config, std::string_view root, std::string script_name,
                std::string path_info) {
    Route route;
    route.kind = Route::Kind::php;
    route.file.reserve(root.size() + script_name.size());
    route.file.append(root).append(script_name);
    route.script_name = std::move(script_name);
    route.path_info = std::move(path_info);
    return confine(config, root, std::move(route));
}

Route static_route(const RouterConfig& config, std::string_view root, std::string file) {
    Route route;
    route.kind = Route::Kind::static_file;
    route.file = std::move(file);
    return confine(config, root, std::move(route));
}

/// A regular file chosen by name: PHP runs, PHP sources hide, everything else is static.
Route file_route(const RouterConfig& config, std::string_view root, std::string uri_path) {
    if (is_php(uri_path)) return php_route(config, root, std::move(uri_path), "");
    if (is_php_source(uri_path)) return make(Route::Kind::not_found);
    std::string file(root);
    file.append(uri_path);
    return static_route(config, root, std::move(file));
}

/// The last try_files candidate: "/" + index at the root, with no PATH_INFO.
Route front_controller(const RouterConfig& config, std::string_view root) {
    std::string script_name = "/" + config.index;
    if (!config.worker_script.empty()) {  // worker mode: the booted app answers
        Route route;
        route.kind = Route::Kind::php;
        route.file = config.worker_script;
        route.script_name = std::move(script_name);
        return route;
    }
    const FileType type = file_type(std::string(root) + script_name);
    if (type == FileType::denied) return make(Route::Kind::forbidden);
    if (type != FileType::regular) return make(Route::Kind::not_found);
    if (!is_php(script_name)) return static_route(config, root, std::string(root) + script_name);
    return php_route(config, root, std::move(script_name), "");
}

/// Location for a directory requested without its trailing slash (RFC 9110 §10.2.2). The
/// raw path keeps the client's encoding; but a raw path starting "//" or "/\" would read as
/// a network-path reference (another host) in a browser, so that one is rebuilt from the
/// normalised path, encoded.
std::string directory_location(std::string_view raw_path, const NormalisedPath& path,
                               std::string_view query) {
    std::string location;
    if (raw_path.size() > 1 && (raw_path[1] == '/' || raw_path[1] == '\\')) {
        percent_encode_path(join(path, 0, path.segments.size()), location);
    } else {
        location.append(raw_path);
    }
    location.push_back('/');
    if (!query.empty()) location.append("?").append(query);
    return location;
}

}  // namespace

Route resolve(const RouterConfig& config, std::string_view raw_path, std::string_view query) {
    if (raw_path.empty() || raw_path.front() != '/') return make(Route::Kind::bad_request);
    if (has_control_bytes(raw_path) || has_control_bytes(query)) {
        return make(Route::Kind::bad_request);
    }

    // nginx decodes %2F to '/' too, so an encoded slash or dot goes through the same
    // dot-segment removal as a literal one: "/%2e%2e/" and "/a/..%2f.." are caught here.
    std::string decoded;
    if (!percent_decode(raw_path, decoded)) return make(Route::Kind::bad_request);
    if (decoded.find('\0') != std::string::npos) return make(Route::Kind::bad_request);

    NormalisedPath path;
    if (normalise(decoded, path) == Normalise::above_root) return make(Route::Kind::forbidden);
    if (has_hidden_segment(path)) return make(Route::Kind::not_found);

    std::string_view root = config.root;
    if (!root.empty() && root.back() == '/') root.remove_suffix(1);  // root "/" → ""
    const std::size_t count = path.segments.size();

    // PATH_INFO (RFC 3875 §4.1.5): the first segment ending in ".php" that is a regular
    // file and has something after it ("/a.php/x", or "/a.php/" → PATH_INFO "/") is the
    // script; the rest is PATH_INFO, as fastcgi_split_path_info ^(.+?\.php)(/.*)$ splits.
    for (std::size_t i = 0; i < count; ++i) {
        const bool has_rest = i + 1 < count || path.trailing_slash;
        if (!has_rest || !is_php(path.segments[i])) continue;
        std::string script_name = join(path, 0, i + 1);
        const FileType type = file_type(std::string(root) + script_name);
        if (type == FileType::denied) return make(Route::Kind::forbidden);
        if (type != FileType::regular) continue;
        std::string path_info = join(path, i + 1, count);
        if (path.trailing_slash) path_info.push_back('/');
        return php_route(config, root, std::move(script_name), std::move(path_info));
    }

    std::string uri_path = join(path, 0, count);  // "" for the root
    std::string target(root);
    target.append(uri_path);
    switch (file_type(target.empty() ? std::string("/") : target)) {
        case FileType::denied:
            return make(Route::Kind::forbidden);
        case FileType::regular:
            // "/file.css/" names a directory that is not there (open() says ENOTDIR):
            // like try_files, move on to the front controller.
            if (!path.trailing_slash) return file_route(config, root, std::move(uri_path));
            break;
        case FileType::directory: {
            if (!path.trailing_slash) {
                Route route = make(Route::Kind::redirect);
                route.location = directory_location(raw_path, path, query);
                return route;
            }
            // `index` directive: the configured index, then index.html.
            std::string index_path = uri_path + "/" + config.index;
            FileType type = file_type(std::string(root) + index_path);
            if (type == FileType::regular) {
                if (is_php(index_path)) return php_route(config, root, std::move(index_path), "");
                return static_route(config, root, std::string(root) + index_path);
            }
            index_path = uri_path + "/index.html";
            type = file_type(std::string(root) + index_path);
            if (type == FileType::regular) {
                return static_route(config, root, std::string(root) + index_path);
            }
            break;
        }
        case FileType::other:
        case FileType::missing:
            break;
    }
    return front_controller(config, root);
}

}  // namespace askr::http
