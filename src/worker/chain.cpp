#include "worker/chain.hpp"

#include "http/https_redirect.hpp"
#include "worker/sendfile.hpp"

namespace askr::worker {

namespace asio = boost::asio;

namespace {

// The methods a resource on this server may answer; PHP scripts take any.
constexpr std::string_view server_methods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

}  // namespace

Chain::Chain(const http::RouterConfig& router, PhpHandler& php,
             std::vector<std::string> sendfile_roots, http::CompressionSettings compression)
    : router_(router),
      php_(php),
      routes_(router),
      sendfile_roots_(std::move(sendfile_roots)),
      compression_(std::move(compression)),
      encoders_(compression_) {
    files_.offer_encodings({.compression = compression_,
                            .root = router_.root,
                            .symlinks = router_.symlinks});
}

bool Chain::handle_now(http::Request& request, http::ResponseSink& sink) {
    std::shared_ptr<const http::Route> route;
    return answer_now(request, sink, route);
}

asio::awaitable<http::HandlerResult> Chain::handle(http::Request& request,
                                                   http::ResponseSink& sink) {
    std::shared_ptr<const http::Route> route;
    if (answer_now(request, sink, route)) co_return http::HandlerResult{};
    if (route->kind == http::Route::Kind::php) co_return co_await serve_php(request, route, sink);
    co_await serve_static(request, sink, route->file);  // a file sent from disk
    co_return http::HandlerResult{};
}

// X-Sendfile sees the script's head before compression does: a file it answers with
// passes the compression stage unchanged (send_file), or as a body of known length.
asio::awaitable<http::HandlerResult> Chain::serve_php(http::Request& request,
                                                      std::shared_ptr<const http::Route>& route,
                                                      http::ResponseSink& sink) {
    if (!compression_.enabled) {
        if (sendfile_roots_.empty()) co_return co_await php_.serve(request, std::move(route), sink);
        SendfileFilter sendfile(sink, request, files_, sendfile_roots_);
        co_return co_await php_.serve(request, std::move(route), sendfile);
    }
    http::CompressFilter compress(sink, request, compression_, encoders_);
    if (sendfile_roots_.empty()) co_return co_await php_.serve(request, std::move(route), compress);
    SendfileFilter sendfile(compress, request, files_, sendfile_roots_);
    co_return co_await php_.serve(request, std::move(route), sendfile);
}

// Every answer but PHP's and a large file's is ready at once; for those two, `route`.
bool Chain::answer_now(http::Request& request, http::ResponseSink& sink,
                       std::shared_ptr<const http::Route>& route) {
    // The asterisk-form (RFC 9112 section 3.2.4) names the server itself, and only OPTIONS
    // may use it (RFC 9110 section 9.3.7): say what it supports, with no body.
    if (request.target == "*") {
        if (request.method == "OPTIONS") {
            http::ResponseHead head;
            head.status = 204;
            head.fields.add("Allow", server_methods);
            sink.send_now(head, {});
        } else {
            http::respond_with_status_now(sink, 400, {}, true);
        }
        return true;
    }
    if (request.target.empty() || request.target.front() != '/') {
        http::respond_with_status_now(sink, 400, {}, true);
        return true;
    }
    route = routes_.resolve(request.path(), request.query());
    switch (route->kind) {
        case http::Route::Kind::php:
            return false;
        case http::Route::Kind::static_file:
            return serve_static_now(request, sink, route->file);
        case http::Route::Kind::redirect: {
            http::Fields location;
            location.add("Location", route->location);
            http::respond_with_status_now(sink, 301, location);
            return true;
        }
        case http::Route::Kind::forbidden:
            http::respond_with_status_now(sink, 403);
            return true;
        case http::Route::Kind::bad_request:
            http::respond_with_status_now(sink, 400, {}, true);
            return true;
        case http::Route::Kind::not_found:
            http::respond_with_status_now(sink, 404);
            return true;
    }
    return true;
}

// The answer a request with a body is going to get when it does not go to PHP: a static
// file takes no body (405), routing errors do not depend on it.
int Chain::refuse_before_body(const http::Request& request) {
    if (request.target.empty() || request.target.front() != '/') return 400;
    switch (routes_.resolve(request.path(), request.query())->kind) {
        case http::Route::Kind::php:
            return 0;
        case http::Route::Kind::static_file:
            return request.method == "GET" || request.method == "HEAD" ? 0 : 405;
        case http::Route::Kind::redirect:
            return 0;  // 301 does not read the body either, but tells where to send it
        case http::Route::Kind::forbidden:
            return 403;
        case http::Route::Kind::bad_request:
            return 400;
        case http::Route::Kind::not_found:
            return 404;
    }
    return 0;
}

std::unique_ptr<static_files::FileResponse> Chain::take_scratch() {
    if (spare_files_.empty()) return std::make_unique<static_files::FileResponse>();
    auto file = std::move(spare_files_.back());
    spare_files_.pop_back();
    return file;
}

void Chain::give_back(std::unique_ptr<static_files::FileResponse> file) {
    if (spare_files_.size() < 64) spare_files_.push_back(std::move(file));
}

bool Chain::serve_static_now(const http::Request& request, http::ResponseSink& sink,
                             const std::string& path) {
    auto file = take_scratch();
    const bool answered = static_files::serve_file_now(request, sink, files_, path, *file);
    give_back(std::move(file));
    return answered;
}

asio::awaitable<void> Chain::serve_static(const http::Request& request, http::ResponseSink& sink,
                                          const std::string& path) {
    auto file = take_scratch();
    co_await static_files::serve_file(request, sink, files_, path, *file);
    give_back(std::move(file));
}

RedirectToHttps::RedirectToHttps(Chain& files, const http::RouterConfig& router,
                                 std::uint16_t https_port)
    : files_(files), router_(router), https_port_(https_port) {}

// RFC 9110 section 15.4.9: 308 keeps the method and body. ACME HTTP-01 challenges, which
// certbot's webroot mode puts under ROOT/.well-known/acme-challenge/ and the CA fetches
// over plain HTTP, are the only files served here.
asio::awaitable<http::HandlerResult> RedirectToHttps::handle(http::Request& request,
                                                             http::ResponseSink& sink) {
    if (!handle_now(request, sink)) {
        const auto route = files_.routes().resolve(request.path(), request.query());
        co_await files_.serve_static(request, sink, route->file);  // a large challenge file
    }
    co_return http::HandlerResult{};
}

bool RedirectToHttps::handle_now(http::Request& request, http::ResponseSink& sink) {
    if (http::is_acme_challenge(request.path())) {
        const auto route = files_.routes().resolve(request.path(), request.query());
        const std::string challenges = router_.root + "/.well-known/acme-challenge/";
        if (route->kind == http::Route::Kind::static_file && route->file.starts_with(challenges))
            return files_.serve_static_now(request, sink, route->file);
        http::respond_with_status_now(sink, 404);
        return true;
    }
    const auto& local = request.endpoints.local_addr;
    const std::string fallback = local.find(':') != std::string::npos ? "[" + local + "]" : local;
    const auto location = http::https_redirect_location(request.header("host"), request.target,
                                                        https_port_, fallback);
    if (!location) {
        http::respond_with_status_now(sink, 400, {}, true);
    } else {
        http::Fields fields;
        fields.add("Location", *location);
        http::respond_with_status_now(sink, 308, fields);
    }
    return true;
}

int RedirectToHttps::refuse_before_body(const http::Request&) {
    return 0;
}

}  // namespace askr::worker
