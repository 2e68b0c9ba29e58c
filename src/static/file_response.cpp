#include "static/file_response.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <charconv>

#include "static/conditional.hpp"
#include "static/http_date.hpp"
#include "static/mime_types.hpp"

namespace askr::static_files {

namespace {

void append_number(std::string& out, std::uint64_t value) {
    char buffer[24];
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
    (void)ec;
    out.append(buffer, end);
}

}  // namespace

void prepare_file_response(const http::Request& request, const std::string& path, FileResponse& out) {
    out.fields.clear();
    out.fd.reset();
    out.offset = out.length = 0;
    out.send_body = false;
    const bool head = request.method == "HEAD";
    if (!head && request.method != "GET") {
        out.status = 405;
        out.fields = "Allow: GET, HEAD\r\n";
        return;
    }
    core::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st{};
    if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
        out.status = (!fd && errno == EACCES) ? 403 : 404;
        return;
    }
    const std::string etag = make_etag(st.st_mtim.tv_sec, static_cast<std::uint64_t>(st.st_size));
    char last_modified[30];
    format_http_date(st.st_mtim.tv_sec, last_modified);
    last_modified[29] = '\0';

    auto& f = out.fields;
    f.append("ETag: ").append(etag).append("\r\n");
    f.append("Last-Modified: ").append(last_modified, 29).append("\r\n");
    auto cache_control = cache_control_for(request.path());
    if (!cache_control.empty()) f.append("Cache-Control: ").append(cache_control).append("\r\n");

    switch (evaluate_preconditions(true, request.header("if-match"), request.header("if-none-match"),
                                   request.header("if-modified-since"), request.header("if-unmodified-since"),
                                   etag, st.st_mtim.tv_sec)) {
        case Precondition::not_modified: out.status = 304; return;
        case Precondition::precondition_failed: out.status = 412; return;
        case Precondition::proceed: break;
    }

    f.append("Content-Type: ").append(MimeTypes::system().lookup(path)).append("\r\n");
    f.append("Accept-Ranges: bytes\r\n");
    const auto size = static_cast<std::uint64_t>(st.st_size);
    auto range = evaluate_range(request.header("range"), request.header("if-range"), etag, st.st_mtim.tv_sec, size);
    switch (range.kind) {
        case RangeKind::unsatisfiable:
            out.status = 416;
            f.append("Content-Range: bytes */");
            append_number(f, size);
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
            append_number(f, size);
            f.append("\r\n");
            break;
        case RangeKind::full:
            out.status = 200;
            out.length = size;
            break;
    }
    out.send_body = !head && out.length > 0;
    out.fd = std::move(fd);
}

}  // namespace askr::static_files
