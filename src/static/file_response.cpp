#include "static/file_response.hpp"

#include <fcntl.h>

#include <cerrno>
#include <charconv>

#include "static/conditional.hpp"

namespace askr::static_files {

namespace {

void append_number(std::string& out, std::uint64_t value) {
    char buffer[24];
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
    (void)ec;
    out.append(buffer, end);
}

}  // namespace

void prepare_file_response(const http::Request& request, FileCache& cache, const std::string& path,
                           FileResponse& out) {
    out.fields.clear();
    out.fd.reset();
    out.file.reset();
    out.inline_body = {};
    out.offset = out.length = 0;
    out.send_body = false;
    const bool head = request.method == "HEAD";
    if (!head && request.method != "GET") {
        out.status = 405;
        out.fields = "Allow: GET, HEAD\r\n";
        return;
    }
    FileLookup lookup = cache.lookup(path);
    if (!lookup.file) {
        out.status = lookup.error_status;
        return;
    }
    const CachedFile& file = *lookup.file;
    auto& f = out.fields;
    f.append("ETag: ").append(file.etag).append("\r\n");
    f.append("Last-Modified: ").append(file.last_modified).append("\r\n");
    auto cache_control = cache_control_for(request.path());
    if (!cache_control.empty()) f.append("Cache-Control: ").append(cache_control).append("\r\n");

    switch (evaluate_preconditions(true, request.header("if-match"), request.header("if-none-match"),
                                   request.header("if-modified-since"), request.header("if-unmodified-since"),
                                   file.etag, file.mtime)) {
        case Precondition::not_modified: out.status = 304; return;
        case Precondition::precondition_failed: out.status = 412; return;
        case Precondition::proceed: break;
    }

    f.append("Content-Type: ").append(file.content_type).append("\r\n");
    f.append("Accept-Ranges: bytes\r\n");
    auto range = evaluate_range(request.header("range"), request.header("if-range"), file.etag, file.mtime, file.size);
    switch (range.kind) {
        case RangeKind::unsatisfiable:
            out.status = 416;
            f.append("Content-Range: bytes */");
            append_number(f, file.size);
            f.append("\r\n");
            return;
        case RangeKind::partial:
            out.status = 206;
            out.offset = range.range.first;
            out.length = range.range.last - range.range.first + 1;
            f.append("Content-Range: bytes ");
            append_number(f, range.range.first);
            f += '-';
            append_number(f, range.range.last);
            f += '/';
            append_number(f, file.size);
            f.append("\r\n");
            break;
        case RangeKind::full:
            out.status = 200;
            out.length = file.size;
            break;
    }
    out.send_body = !head && out.length > 0;
    if (!out.send_body) return;
    if (file.inline_content) {
        out.inline_body = std::string_view(file.content).substr(out.offset, out.length);
        out.file = std::move(lookup.file);
        return;
    }
    out.fd.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!out.fd) {  // removed since the cache saw it
        out.status = 404;
        out.fields.clear();
        out.send_body = false;
    }
}

}  // namespace askr::static_files
