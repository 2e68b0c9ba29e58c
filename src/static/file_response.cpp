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

// The representation a request gets: the file itself, or an encoded variant of it.
struct Variant {
    http::Coding coding = http::Coding::identity;
    std::string_view etag;
    std::string_view last_modified;
    std::time_t mtime = 0;
    std::uint64_t size = 0;
    bool in_memory = false;           ///< `content` is the whole body
    std::string_view content;
    const std::string* path = nullptr;  ///< where the body is read from for sendfile
    std::shared_ptr<const EncodedCopy> copy;
};

Variant identity_of(const CachedFile& file) {
    Variant v;
    v.etag = file.etag;
    v.last_modified = file.last_modified;
    v.mtime = file.mtime;
    v.size = file.size;
    v.in_memory = file.inline_content;
    v.content = file.content;
    v.path = &file.path;
    return v;
}

// The variant `request` gets: negotiate_coding() over the codings of the siblings present
// and, for a file from min_size to static_max_size, of the copies `cache` makes; a coding
// whose copy cannot be made is taken out and the rest negotiated again. A Range request
// that the file itself would answer with 206 or 416 gets the file itself: the encoded
// bytes are not what a client that resumes or seeks asks for (nginx does the same).
Variant choose_variant(const http::Request& request, FileCache& cache, const CachedFile& file,
                       bool get_or_head) {
    Variant chosen = identity_of(file);
    const auto& settings = cache.encodings().compression;
    http::CodingSet offered = 0;
    for (auto coding : {http::Coding::gzip, http::Coding::br, http::Coding::zstd}) {
        if (file.siblings[static_cast<int>(coding)]) offered |= http::coding_bit(coding);
    }
    if (file.size > 0 && file.size >= settings.min_size && file.size <= settings.static_max_size)
        offered |= settings.codings;
    if (offered == 0 || !get_or_head) return chosen;
    const auto range = request.header("range");
    if (!range.empty() && evaluate_range(range, request.header("if-range"), file.etag, file.mtime,
                                         file.size)
                                  .kind != RangeKind::full)
        return chosen;
    while (offered != 0) {
        const http::Coding coding = http::negotiate_coding(request, offered);
        if (coding == http::Coding::identity) break;
        if (const auto& sibling = file.siblings[static_cast<int>(coding)]) {
            chosen.coding = coding;
            chosen.etag = sibling->etag;
            chosen.last_modified = sibling->last_modified;
            chosen.mtime = sibling->mtime;
            chosen.size = sibling->size;
            chosen.in_memory = sibling->inline_content;
            chosen.content = sibling->content;
            chosen.path = &sibling->path;
            return chosen;
        }
        if (auto copy = cache.copies().get(file, coding, settings.level(coding))) {
            chosen.coding = coding;
            chosen.etag = copy->etag;
            chosen.size = copy->bytes.size();
            chosen.in_memory = true;
            chosen.content = copy->bytes;
            chosen.path = nullptr;
            chosen.copy = std::move(copy);
            return chosen;
        }
        offered &= static_cast<http::CodingSet>(~http::coding_bit(coding));
    }
    return chosen;
}

// prepare_file_response() once the cache has been asked about the file.
void prepare_from(const http::Request& request, FileLookup lookup, FileCache& cache,
                  FileResponse& out, const FileOptions& options) {
    out.head.clear();
    out.error_page = false;
    out.fd.reset();
    out.file.reset();
    out.copy.reset();
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
    const bool varies = options.offer_encodings && file.varies;
    Variant variant = varies ? choose_variant(request, cache, file, get_or_head) : identity_of(file);
    const bool encoded = variant.coding != http::Coding::identity;
    auto& f = out.head.fields;
    f.add("ETag", variant.etag);
    f.add("Last-Modified", variant.last_modified);
    // Also on the identity answer, so that caches keep it apart (RFC 9110 section 12.5.5).
    if (varies) f.add("Vary", "Accept-Encoding");
    if (options.cache_control_from_path) {
        auto cache_control = cache_control_for(request.path());
        if (!cache_control.empty()) f.add("Cache-Control", cache_control);
    }

    switch (!get_or_head ? Precondition::proceed
                         : evaluate_preconditions(
                               true, request.header("if-match"), request.header("if-none-match"),
                               request.header("if-modified-since"),
                               request.header("if-unmodified-since"), variant.etag, variant.mtime)) {
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
    RangeResult range;
    if (encoded) {
        f.add("Content-Encoding", http::coding_name(variant.coding));
    } else {
        f.add("Accept-Ranges", "bytes");
        range = evaluate_range(get_or_head ? request.header("range") : std::string_view{},
                               request.header("if-range"), file.etag, file.mtime, file.size);
    }
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
            out.length = variant.size;
            break;
    }
    out.head.content_length = out.length;
    out.send_body = !head && out.length > 0;
    if (!out.send_body) return;
    if (variant.in_memory) {
        out.inline_body = variant.content.substr(out.offset, out.length);
        out.copy = std::move(variant.copy);
        out.file = std::move(lookup.file);
        return;
    }
    out.fd.reset(::open(variant.path->c_str(), O_RDONLY | O_CLOEXEC));
    if (!out.fd && encoded) {  // the sibling was removed since the cache saw it: the file
        FileOptions identity = options;
        identity.offer_encodings = false;
        prepare_from(request, std::move(lookup), cache, out, identity);
        return;
    }
    if (!out.fd) {  // removed since the cache saw it
        out.head.clear();
        out.head.status = 404;
        out.error_page = true;
        out.send_body = false;
    }
}

// Whether the answer to `request` is ready in memory (or has no body): the file itself
// when it is not compressible, else the variant it gets.
bool answer_in_memory(const http::Request& request, FileCache& cache, const FileLookup& lookup) {
    if (!lookup.file || lookup.file->size == 0) return true;
    if (!lookup.file->varies) return lookup.file->inline_content;
    const bool get_or_head = request.method == "GET" || request.method == "HEAD";
    const Variant variant = choose_variant(request, cache, *lookup.file, get_or_head);
    return variant.in_memory || variant.size == 0;
}

void release(FileResponse& file) {
    file.fd.reset();
    file.file.reset();
    file.copy.reset();
    file.inline_body = {};
}

}  // namespace

void prepare_file_response(const http::Request& request, FileCache& cache, const std::string& path,
                           FileResponse& out, const FileOptions& options) {
    prepare_from(request, cache.lookup(path), cache, out, options);
}

bool serve_file_now(const http::Request& request, http::ResponseSink& sink, FileCache& cache,
                    const std::string& path, FileResponse& file) {
    // A file too large for memory goes by sendfile: left to serve_file(), before anything
    // is opened (the lookup of a file seen in the last second costs no system call).
    FileLookup lookup = cache.lookup(path);
    if (!answer_in_memory(request, cache, lookup)) return false;
    sink.outcome().kind = shm::ResponseKind::static_file;
    prepare_from(request, std::move(lookup), cache, file, {.offer_encodings = true});
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
    prepare_file_response(request, cache, path, file, {.offer_encodings = true});
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
