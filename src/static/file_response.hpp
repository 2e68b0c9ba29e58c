#pragma once
#include <cstdint>
#include <string>

#include "core/unique_fd.hpp"
#include "http/request.hpp"

namespace askr::static_files {

/// What to send for a static file, independent of the protocol that frames it.
struct FileResponse {
    int status = 200;
    std::string fields;          ///< "Name: value\r\n" lines (type, validators, ranges)
    core::UniqueFd fd;           ///< the open file when a body is sent
    std::uint64_t offset = 0;    ///< first byte of the body in the file
    std::uint64_t length = 0;    ///< Content-Length (also for HEAD)
    bool send_body = false;      ///< false for HEAD, 304, 412, 416, 405
};

/// Prepares the response for `path` (an existing file the router chose): opens it,
/// evaluates conditional requests (304/412) and a single Range (206/416), sets
/// Content-Type from /etc/mime.types, ETag, Last-Modified and Cache-Control. Only GET and
/// HEAD are allowed (405 otherwise). A file that vanished or cannot be read gives 404/403.
void prepare_file_response(const http::Request& request, const std::string& path, FileResponse& out);

}  // namespace askr::static_files
