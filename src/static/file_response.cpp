#include "static/file_response.hpp"

#include <fcntl.h>

#include <cerrno>
#include <charconv>

#include "http/handler.hpp"
#include "static/conditional.hpp"

namespace askr::static_files {

namespace {

void append_number(std::string& out, std::uint64_t value) {
    char buffer[24];
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
    (void)ec;
    out.append(buffer, end);
}

// prepare_file_response() once the cache has been asked about the file.
void prepare_from(const http::Request& request, FileLookup lookup, const std::string& path,
                  FileResponse& out, const FileOptions& options) {
    out.head.clear();
    out.error_page = false;
    out.fd.reset();
    out.file.reset();
    out.inline_body = {};
    out.offset = out.length = 0;
    out.send_body = false;
    const bool head = request.method == "HEAD";
    const bool get_or_head = head || request.method == "GET";
    if (!get_or_head && !options.any_method) {
        out.head.status = 405;
        out.head.fields.add("Allow", "GET, HEAD");
        out.error_page = true;
        return;
    }
    if (!lookup.file) {
        out.head.status = lookup.error_status;
        out.error_page = true;
        return;
    }
    const CachedFile& file = *lookup.file;
    auto& f = out.head.fields;
    f.add("ETag", file.etag);
    f.add("Last-Modified", file.last_modified);
    if (options.cache_control_from_path) {
        auto cache_control = cache_control_for(request.path());
        if (!cache_control.empty()) f.add("Cache-Control", cache_control);
    }

    switch (!get_or_head ? Precondition::proceed
                         : evaluate_preconditions(
                               true, request.header("if-match"), request.header("if-none-match"),
                               request.header("if-modified-since"),
                               request.header("if-unmodified-since"), file.etag, file.mtime)) {
        case Precondition::not_modified:
            out.head.status = 304;
            return;
        case Precondition::precondition_failed:
            out.head.status = 412;
            out.head.content_length = 0;
            return;
        case Precondition::proceed:
            break;
    }

    f.add("Content-Type", file.content_type);
    f.add("Accept-Ranges", "bytes");
    auto range = evaluate_range(get_or_head ? request.header("range") : std::string_view{},
                                request.header("if-range"), file.etag, file.mtime, file.size);
    switch (range.kind) {
        case RangeKind::unsatisfiable: {
            out.head.status = 416;
            out.head.content_length = 0;
            std::string value = "bytes */";
            append_number(value, file.size);
            f.add("Content-Range", value);
            return;
        }
        case RangeKind::partial: {
            out.head.status = 206;
            out.offset = range.range.first;
            out.length = range.range.last - range.range.first + 1;
            std::string value = "bytes ";
            append_number(value, range.range.first);
            value += '-';
            append_number(value, range.range.last);
            value += '/';
            append_number(value, file.size);
            f.add("Content-Range", value);
            break;
        }
        case RangeKind::full:
            out.head.status = 200;
            out.length = file.size;
            break;
    }
    out.head.content_length = out.length;
    out.send_body = !head && out.length > 0;
    if (!out.send_body) return;
    if (file.inline_content) {
        out.inline_body = std::string_view(file.content).substr(out.offset, out.length);
        out.file = std::move(lookup.file);
        return;
    }
    out.fd.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!out.fd) {  // removed since the cache saw it
        out.head.clear();
        out.head.status = 404;
        out.error_page = true;
        out.send_body = false;
    }
}

void release(FileResponse& file) {
    file.fd.reset();
    file.file.reset();
    file.inline_body = {};
}

}  // namespace

void prepare_file_response(const http::Request& request, FileCache& cache, const std::string& path,
                           FileResponse& out, const FileOptions& options) {
    prepare_from(request, cache.lookup(path), path, out, options);
}

bool serve_file_now(const http::Request& request, http::ResponseSink& sink, FileCache& cache,
                    const std::string& path, FileResponse& file) {
    // A file too large for memory goes by sendfile: left to serve_file(), before anything
    // is opened (the lookup of a file seen in the last second costs no system call).
    FileLookup lookup = cache.lookup(path);
    if (lookup.file && !lookup.file->inline_content && lookup.file->size > 0) return false;
    sink.outcome().kind = shm::ResponseKind::static_file;
    prepare_from(request, std::move(lookup), path, file, {});
    if (file.error_page) {
        http::respond_with_status_now(sink, file.head.status, file.head.fields);
    } else {
        // HEAD, 304, 412, 416: the head alone; otherwise the body from memory with it.
        sink.send_now(file.head, file.send_body ? file.inline_body : std::string_view{});
    }
    release(file);
    return true;
}

boost::asio::awaitable<void> serve_file(const http::Request& request, http::ResponseSink& sink,
                                        FileCache& cache, const std::string& path,
                                        FileResponse& file) {
    if (serve_file_now(request, sink, cache, path, file)) co_return;
    sink.outcome().kind = shm::ResponseKind::static_file;
    prepare_file_response(request, cache, path, file);
    if (file.error_page) {
        co_await http::respond_with_status(sink, file.head.status, file.head.fields);
    } else if (!file.send_body) {
        co_await sink.send(&file.head, {}, true);  // HEAD, 304, 412, 416: the head alone
    } else if (file.fd.get() < 0) {
        co_await sink.send(&file.head, file.inline_body, true);  // from memory, with the head
    } else {
        co_await sink.send_file(&file.head, {file.fd.get(), file.offset, file.length});
    }
    release(file);
}

}  // namespace askr::static_files
