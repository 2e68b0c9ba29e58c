#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "core/unique_fd.hpp"
#include "http/request.hpp"
#include "http/response.hpp"
#include "static/file_cache.hpp"

namespace askr::static_files {

/// What to send for a static file, independent of the protocol that frames it.
struct FileResponse {
    http::ResponseHead head;  ///< status, type, validators, range fields; content_length set
    std::shared_ptr<const CachedFile> file;  ///< keeps inline content alive while it is sent
    std::shared_ptr<const EncodedCopy> copy; ///< keeps a compressed copy alive while it is sent
    std::string_view inline_body;            ///< the body from memory (small files), else empty
    core::UniqueFd fd;                       ///< the open file for sendfile (large files)
    std::uint64_t offset = 0;                ///< first byte of the body in the file
    std::uint64_t length = 0;                ///< Content-Length (also for HEAD)
    bool send_body = false;                  ///< false for HEAD, 304, 412, 416, 405
    /// A status Askr answers with its own page (404, 403, 405), with head.fields added.
    bool error_page = false;
};

/// How a file is chosen, when it is not the one the request's URL names.
struct FileOptions {
    /// The file answers any method (a PHP response named it: X-Sendfile); conditional
    /// requests and Range then apply to GET and HEAD only (RFC 9110 sections 13.2.1, 14.2).
    bool any_method = false;
    /// Cache-Control from the URL's file type; off when the URL names a script, not the file.
    bool cache_control_from_path = true;
    /// Answer a client that accepts a coding with a precompressed sibling or a compressed
    /// copy (the URL names the file; an X-Sendfile answer goes as it is).
    bool offer_encodings = false;
};

/// Prepares the response for `path` (an existing file the router chose), through `cache`:
/// evaluates conditional requests (304/412) and a single Range (206/416), sets
/// Content-Type from /etc/mime.types, ETag, Last-Modified and Cache-Control. Only GET and
/// HEAD are allowed (405 otherwise). A file that vanished or cannot be read gives 404/403.
/// Small files come from memory; larger ones are opened for sendfile. With
/// `offer_encodings`, a compressible file is answered in the coding the client prefers
/// among its siblings and the copies `cache` makes, Range requests get the file itself,
/// and every answer says Vary: Accept-Encoding (docs/compression.md, "Static files").
void prepare_file_response(const http::Request& request, FileCache& cache, const std::string& path,
                           FileResponse& out, const FileOptions& options = {});

/// The chain's static-file stage for answers ready in memory: answers `request` with the
/// file at `path` (or the encoded variant it gets) through ResponseSink::send_now() when
/// that is small enough to be kept in memory, or the answer has no body (HEAD, 304, 412,
/// 416) or is an error; false for a larger file (serve_file() sends it), and nothing was
/// sent.
bool serve_file_now(const http::Request& request, http::ResponseSink& sink, FileCache& cache,
                    const std::string& path, FileResponse& scratch);

/// The chain's static-file stage: answers `request` with the file at `path` through
/// `sink` (small files from memory with the head in one write, larger ones with
/// sendfile where the protocol allows). `scratch` is reused between requests.
boost::asio::awaitable<void> serve_file(const http::Request& request, http::ResponseSink& sink,
                                        FileCache& cache, const std::string& path,
                                        FileResponse& scratch);

}  // namespace askr::static_files
