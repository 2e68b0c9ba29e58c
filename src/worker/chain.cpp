#include "worker/chain.hpp"

#include "http/https_redirect.hpp"

namespace askr::worker {

namespace asio = boost::asio;

namespace {

// The methods a resource on this server may answer; PHP scripts take any.
constexpr std::string_view server_methods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

}  // namespace

Chain::Chain(const http::RouterConfig& router, PhpHandler& php)
    : router_(router), php_(php), routes_(router) {}

asio::awaitable<http::HandlerResult> Chain::handle(http::Request& request,
                                                   http::ResponseSink& sink) {
    // The asterisk-form (RFC 9112 section 3.2.4) names the server itself, and only OPTIONS
    // may use it (RFC 9110 section 9.3.7): say what it supports, with no body.
    if (request.target == "*") {
        if (request.method == "OPTIONS") {
            http::ResponseHead head;
            head.status = 204;
            head.fields.add("Allow", server_methods);
            co_await sink.send(&head, {}, true);
        } else {
            co_await http::respond_with_status(sink, 400, {}, true);
        }
        co_return http::HandlerResult{};
    }
    if (request.target.empty() || request.target.front() != '/') {
        co_await http::respond_with_status(sink, 400, {}, true);
        co_return http::HandlerResult{};
    }
    auto route = routes_.resolve(request.path(), request.query());
    switch (route->kind) {
        case http::Route::Kind::php:
            co_return co_await php_.serve(request, std::move(route), sink);
        case http::Route::Kind::static_file:
            co_await serve_static(request, sink, route->file);
            break;
        case http::Route::Kind::redirect: {
            http::Fields location;
            location.add("Location", route->location);
            co_await http::respond_with_status(sink, 301, location);
            break;
        }
        case http::Route::Kind::forbidden:
            co_await http::respond_with_status(sink, 403);
            break;
        case http::Route::Kind::bad_request:
            co_await http::respond_with_status(sink, 400, {}, true);
            break;
        case http::Route::Kind::not_found:
            co_await http::respond_with_status(sink, 404);
            break;
    }
    co_return http::HandlerResult{};
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

asio::awaitable<void> Chain::serve_static(const http::Request& request, http::ResponseSink& sink,
                                          const std::string& path) {
    std::unique_ptr<static_files::FileResponse> file;
    if (spare_files_.empty()) {
        file = std::make_unique<static_files::FileResponse>();
    } else {
        file = std::move(spare_files_.back());
        spare_files_.pop_back();
    }
    co_await static_files::serve_file(request, sink, files_, path, *file);
    if (spare_files_.size() < 64) spare_files_.push_back(std::move(file));
}

RedirectToHttps::RedirectToHttps(Chain& files, const http::RouterConfig& router,
                                 std::uint16_t https_port)
    : files_(files), router_(router), https_port_(https_port) {}

// RFC 9110 section 15.4.9: 308 keeps the method and body. ACME HTTP-01 challenges, which
// certbot's webroot mode puts under ROOT/.well-known/acme-challenge/ and the CA fetches
// over plain HTTP, are the only files served here.
asio::awaitable<http::HandlerResult> RedirectToHttps::handle(http::Request& request,
                                                             http::ResponseSink& sink) {
    if (http::is_acme_challenge(request.path())) {
        const auto route = files_.routes().resolve(request.path(), request.query());
        const std::string challenges = router_.root + "/.well-known/acme-challenge/";
        if (route->kind == http::Route::Kind::static_file && route->file.starts_with(challenges)) {
            co_await files_.serve_static(request, sink, route->file);
        } else {
            co_await http::respond_with_status(sink, 404);
        }
        co_return http::HandlerResult{};
    }
    const auto& local = request.endpoints.local_addr;
    const std::string fallback = local.find(':') != std::string::npos ? "[" + local + "]" : local;
    const auto location = http::https_redirect_location(request.header("host"), request.target,
                                                        https_port_, fallback);
    if (!location) {
        co_await http::respond_with_status(sink, 400, {}, true);
    } else {
        http::Fields fields;
        fields.add("Location", *location);
        co_await http::respond_with_status(sink, 308, fields);
    }
    co_return http::HandlerResult{};
}

int RedirectToHttps::refuse_before_body(const http::Request&) {
    return 0;
}

}  // namespace askr::worker
