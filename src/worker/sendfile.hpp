#pragma once
#include <span>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "http/response.hpp"
#include "static/file_cache.hpp"
#include "static/file_response.hpp"

namespace askr::worker {

/// Where an X-Sendfile path leads: the file's real path, or why it may not be sent.
struct SendfileTarget {
    std::string path;   ///< realpath of the file, under a root ("" when refused)
    std::string error;  ///< why it is refused, for the log ("" when allowed)
};

/// Resolves `requested` (from X-Sendfile or X-Accel-Redirect) with realpath(), which
/// follows `..` and every symbolic link, and allows it only when the result lies inside
/// one of `roots` (real paths) on a path-component boundary: /srv/files allows
/// /srv/files/a, never /srv/files-private/a.
SendfileTarget resolve_sendfile(std::span<const std::string> roots, std::string_view requested);

/// The chain's X-Sendfile stage: wraps the sink of a PHP response. When the script's head
/// names a file in `X-Sendfile` or `X-Accel-Redirect`, the response is that file, served
/// as a static file is (sendfile, ETag, Last-Modified, Range, HEAD, conditional requests),
/// with the script's other headers kept and its body dropped; a file outside `roots`, or
/// missing, or not a readable regular file, is a 500 and a log line. Any other response
/// passes through unchanged.
class SendfileFilter final : public http::ResponseSink {
  public:
    SendfileFilter(http::ResponseSink& next, const http::Request& request,
                   static_files::FileCache& files, std::span<const std::string> roots);

    boost::asio::awaitable<bool> interim(int status, const http::Fields& fields) override;
    boost::asio::awaitable<bool> send(const http::ResponseHead* head, std::string_view body,
                                      bool last) override;
    boost::asio::awaitable<bool> send_file(const http::ResponseHead* head,
                                           http::FileBody file) override;
    bool send_now(const http::ResponseHead& head, std::string_view body) override;
    bool head_sent() const override { return next_.head_sent(); }
    http::RequestOutcome& outcome() override { return next_.outcome(); }
    std::unique_ptr<http::Request> release_request() override { return next_.release_request(); }
    int socket_fd() const override { return next_.socket_fd(); }
    void cut() override { next_.cut(); }

  private:
    bool prepare(const http::ResponseHead& script_head);
    boost::asio::awaitable<bool> send_prepared();

    http::ResponseSink& next_;
    const http::Request& request_;
    static_files::FileCache& files_;
    std::span<const std::string> roots_;
    static_files::FileResponse file_;
    bool taken_over_ = false;  // the file (or the 500) answers; the script's body is dropped
    bool delivered_ = true;    // what the answer's send said (false: the client is gone)
};

}  // namespace askr::worker
