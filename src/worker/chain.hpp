#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "http/compression.hpp"
#include "http/handler.hpp"
#include "http/route_cache.hpp"
#include "http/router.hpp"
#include "static/file_cache.hpp"
#include "static/file_response.hpp"
#include "worker/php_handler.hpp"

namespace askr::worker {

/// The handler chain of a worker, one code path for HTTP/1.1 and HTTP/2: requests that
/// name no resource (OPTIONS *, a malformed target), then routing (try_files with Askr's
/// safety rules), then the stage the route names: a static file, PHP, a redirect or an
/// error page. PHP responses are compressed as they stream (http/compression.hpp), static
/// files from a precompressed sibling or a copy compressed once (static/file_cache.hpp). A PHP response
/// may name a file under `sendfile_roots` to be answered with (X-Sendfile, worker/sendfile.hpp).
/// The life of a request through it: docs/architecture.md.
class Chain final : public http::Handler {
  public:
    Chain(const http::RouterConfig& router, PhpHandler& php,
          std::vector<std::string> sendfile_roots = {},
          http::CompressionSettings compression = {.enabled = false});

    boost::asio::awaitable<http::HandlerResult> handle(http::Request& request,
                                                       http::ResponseSink& sink) override;
    bool handle_now(http::Request& request, http::ResponseSink& sink) override;
    int refuse_before_body(const http::Request& request) override;

    /// Routing decisions of the last second (shared with the worker's move decisions).
    http::RouteCache& routes() { return routes_; }
    /// Static files of the last second.
    static_files::FileCache& files() { return files_; }

    /// Serves the static file `path` (for stages that answer with a file).
    boost::asio::awaitable<void> serve_static(const http::Request& request,
                                              http::ResponseSink& sink, const std::string& path);
    /// serve_static() for a file whose answer is ready at once; false: serve_static().
    bool serve_static_now(const http::Request& request, http::ResponseSink& sink,
                          const std::string& path);

  private:
    boost::asio::awaitable<http::HandlerResult> serve_php(http::Request& request,
                                                          std::shared_ptr<const http::Route>& route,
                                                          http::ResponseSink& sink);
    bool answer_now(http::Request& request, http::ResponseSink& sink,
                    std::shared_ptr<const http::Route>& route);
    std::unique_ptr<static_files::FileResponse> take_scratch();
    void give_back(std::unique_ptr<static_files::FileResponse> file);

    const http::RouterConfig& router_;
    PhpHandler& php_;
    http::RouteCache routes_;
    static_files::FileCache files_;
    std::vector<std::unique_ptr<static_files::FileResponse>> spare_files_;
    std::vector<std::string> sendfile_roots_;  // none: X-Sendfile is an ordinary header
    http::CompressionSettings compression_;
    http::EncoderPool encoders_;
};

/// The chain of a --listen-http socket: every request is redirected to HTTPS (308), except
/// ACME HTTP-01 challenges, served as static files from the document root.
class RedirectToHttps final : public http::Handler {
  public:
    RedirectToHttps(Chain& files, const http::RouterConfig& router, std::uint16_t https_port);

    boost::asio::awaitable<http::HandlerResult> handle(http::Request& request,
                                                       http::ResponseSink& sink) override;
    bool handle_now(http::Request& request, http::ResponseSink& sink) override;
    int refuse_before_body(const http::Request& request) override;

  private:
    Chain& files_;
    const http::RouterConfig& router_;
    std::uint16_t https_port_;
};

}  // namespace askr::worker
