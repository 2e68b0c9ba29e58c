#include "worker/sendfile.hpp"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include <spdlog/spdlog.h>

#include "core/text.hpp"
#include "http/handler.hpp"

namespace askr::worker {

namespace asio = boost::asio;

namespace {

// The fields that describe the file itself: conditional requests and ranges are evaluated
// against them, so a value the script set would make them lie.
bool describes_file(std::string_view name) {
    return core::iequals(name, "etag") || core::iequals(name, "last-modified") ||
           core::iequals(name, "content-range") || core::iequals(name, "accept-ranges");
}

bool is_sendfile_header(std::string_view name) {
    return core::iequals(name, "x-sendfile") || core::iequals(name, "x-accel-redirect");
}

bool names_file(const http::ResponseHead& head) {
    return head.fields.has("x-sendfile") || head.fields.has("x-accel-redirect");
}

bool inside(std::string_view path, std::string_view root) {
    if (!path.starts_with(root)) return false;
    return root.ends_with('/') || (path.size() > root.size() && path[root.size()] == '/');
}

}  // namespace

SendfileTarget resolve_sendfile(std::span<const std::string> roots, std::string_view requested) {
    if (requested.empty() || requested.front() != '/')
        return {{}, "not an absolute path (X-Sendfile takes /abs/path/to/file)"};
    if (requested.find('\0') != std::string_view::npos) return {{}, "contains a NUL byte"};
    const std::string text(requested);
    char resolved[PATH_MAX];
    if (::realpath(text.c_str(), resolved) == nullptr) return {{}, std::strerror(errno)};
    const std::string_view real(resolved);
    for (const auto& root : roots) {
        if (inside(real, root)) return {std::string(real), {}};
    }
    return {{},
            "resolves to " + std::string(real) +
                ", outside every sendfile root (add its directory with --sendfile-root or "
                "[server] sendfile_roots to allow it)"};
}

SendfileFilter::SendfileFilter(http::ResponseSink& next, const http::Request& request,
                               static_files::FileCache& files, std::span<const std::string> roots)
    : next_(next), request_(request), files_(files), roots_(roots) {}

asio::awaitable<bool> SendfileFilter::interim(int status, const http::Fields& fields) {
    co_return co_await next_.interim(status, fields);
}

asio::awaitable<bool> SendfileFilter::send(const http::ResponseHead* head, std::string_view body,
                                           bool last) {
    if (!taken_over_ && head && names_file(*head)) {
        taken_over_ = true;
        if (prepare(*head)) {
            delivered_ = co_await send_prepared();
        } else {
            delivered_ = co_await http::respond_with_status(next_, 500);
        }
    }
    if (taken_over_) co_return delivered_;  // the script's own body is not part of it
    co_return co_await next_.send(head, body, last);
}

asio::awaitable<bool> SendfileFilter::send_file(const http::ResponseHead* head,
                                                http::FileBody file) {
    if (!taken_over_ && head && names_file(*head)) co_return co_await send(head, {}, true);
    if (taken_over_) co_return delivered_;
    co_return co_await next_.send_file(head, file);
}

// The PHP stage answers through send(); an answer ready at once that names a file is
// served the same way when the file is in memory (or no body goes), else refused.
bool SendfileFilter::send_now(const http::ResponseHead& head, std::string_view body) {
    if (taken_over_) return delivered_;
    if (!names_file(head)) return next_.send_now(head, body);
    taken_over_ = true;
    if (prepare(head) && (!file_.send_body || file_.fd.get() < 0)) {
        delivered_ = next_.send_now(file_.head, file_.send_body ? file_.inline_body : "");
    } else {
        delivered_ = http::respond_with_status_now(next_, 500);
    }
    file_ = {};
    return delivered_;
}

// Resolves the file the script named and builds the head: the static-file answer's
// status and validators, with every other field the script set taking the place of the
// file's own (Content-Type, Cache-Control) or added to them (Content-Disposition,
// Set-Cookie). False when it may not be sent (logged).
bool SendfileFilter::prepare(const http::ResponseHead& script) {
    const std::string_view header =
        script.fields.has("x-sendfile") ? "X-Sendfile" : "X-Accel-Redirect";
    const std::string_view requested = script.fields.get(header);
    const SendfileTarget target = resolve_sendfile(roots_, requested);
    if (target.path.empty()) {
        spdlog::error("{} \"{}\" from {} refused: {}; answered 500", header, requested,
                      request_.path(), target.error);
        return false;
    }
    static_files::prepare_file_response(request_, files_, target.path, file_,
                                        {.any_method = true, .cache_control_from_path = false});
    if (file_.error_page) {
        spdlog::error("{} \"{}\" from {} refused: {} is {}; answered 500", header, requested,
                      request_.path(), target.path,
                      file_.head.status == 403 ? "not readable by the server's user"
                                               : "not a regular file (a directory, or removed)");
        file_ = {};
        return false;
    }
    http::Fields merged;
    for (std::size_t i = 0; i < script.fields.size(); ++i) {
        const auto name = script.fields.name(i);
        if (!is_sendfile_header(name) && !describes_file(name))
            merged.add(name, script.fields.value(i));
    }
    const http::Fields& own = file_.head.fields;
    for (std::size_t i = 0; i < own.size(); ++i) {
        if (describes_file(own.name(i)) || !merged.has(own.name(i)))
            merged.add(own.name(i), own.value(i));
    }
    file_.head.fields.swap(merged);
    file_.head.close = script.close;
    return true;
}

asio::awaitable<bool> SendfileFilter::send_prepared() {
    bool delivered;
    if (!file_.send_body) {
        delivered = co_await next_.send(&file_.head, {}, true);  // HEAD, 304, 412, 416
    } else if (file_.fd.get() < 0) {
        delivered = co_await next_.send(&file_.head, file_.inline_body, true);  // from memory
    } else {
        delivered =
            co_await next_.send_file(&file_.head, {file_.fd.get(), file_.offset, file_.length});
    }
    file_ = {};  // closes the file, lets the cache entry go
    co_return delivered;
}

}  // namespace askr::worker
