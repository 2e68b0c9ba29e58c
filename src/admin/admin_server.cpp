#include "admin/admin_server.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "admin/export.hpp"
#include "core/listen_socket.hpp"
#include "http/request.hpp"
#include "http/status.hpp"

namespace askr::admin {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t max_clients = 32;
constexpr auto client_deadline = std::chrono::seconds(10);
constexpr std::size_t read_chunk = 8192;

// Host names a browser uses for this machine. Without a token, a request must name one of
// them: a page on another site that rebinds its own name to 127.0.0.1 (DNS rebinding) then
// sends its own Host and is refused.
bool loopback_host(std::string_view host) {
    if (host.starts_with('[')) {
        const auto close = host.find(']');
        return close != std::string_view::npos && host.substr(1, close - 1) == "::1";
    }
    host =
        host.substr(0, host.rfind(':') == std::string_view::npos ? host.size() : host.rfind(':'));
    return host == "localhost" || host.starts_with("127.");
}

}  // namespace

struct AdminServer::Reply {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::string extra_fields;
};

namespace {

using Reply = AdminServer::Reply;
using nlohmann::json;

Reply json_reply(int status, const nlohmann::json& body) {
    return {status, "application/json", body.dump(2) + "\n", {}};
}

Reply error_reply(int status, std::string_view message) {
    return json_reply(status, {{"error", message}});
}

}  // namespace

struct AdminServer::Client {
    core::UniqueFd fd;
    Clock::time_point deadline;
    http::Request request;
    http::h1::Parser parser;
    std::string out;
    std::size_t sent = 0;
    bool responding = false;
    bool waiting_reload = false;  ///< POST /api/reload?wait=1: answered when the reload ends

    Client(int socket, const http::h1::Limits& limits)
        : fd(socket), deadline(Clock::now() + client_deadline), parser(limits) {
        parser.start(request);
    }
};

AdminServer::AdminServer(const config::ServeOptions& options, const shm::Scoreboard& scoreboard,
                         const shm::Metrics& metrics, Supervisor& supervisor,
                         const shm::CacheTable* cache, const shm::BroadcastRing* broadcast)
    : options_(options),
      scoreboard_(scoreboard),
      metrics_(metrics),
      supervisor_(supervisor),
      cache_(cache),
      broadcast_(broadcast) {
    limits_.max_target_bytes = 2048;
    limits_.max_header_bytes = 16 * 1024;
    limits_.max_header_count = 50;
    limits_.max_body_bytes = 4096;
}

AdminServer::~AdminServer() = default;

void AdminServer::open() {
    if (!options_.admin_listen) return;  // [admin] listen = "off"
    const auto& address = *options_.admin_listen;
    core::ListenSocket socket;
    try {
        socket = core::open_listen_socket(address.host, address.port);
    } catch (const std::exception& e) {
        throw std::runtime_error(std::string("--admin-listen: ") + e.what() +
                                 "; choose another HOST:PORT, or --admin-listen off");
    }
    listener_ = std::move(socket.fd);
    const bool v6 = address.host.find(':') != std::string::npos;
    spdlog::info("admin listening at http://{}{}{}:{} (dashboard, /api, /metrics{})", v6 ? "[" : "",
                 address.host, v6 ? "]" : "", socket.port,
                 options_.admin_token.empty() ? "" : "; token required");
}

void AdminServer::close_in_child() {
    listener_.reset();
    clients_.clear();
}

void AdminServer::add_poll_fds(std::vector<pollfd>& fds) const {
    if (listener_ && clients_.size() < max_clients) fds.push_back({listener_.get(), POLLIN, 0});
    for (const auto& c : clients_) {
        fds.push_back({c->fd.get(), static_cast<short>(c->responding ? POLLOUT : POLLIN), 0});
    }
}

void AdminServer::on_poll(std::span<const pollfd> fds) {
    for (const pollfd& p : fds) {
        if (!p.revents) continue;
        if (p.fd == listener_.get()) {
            accept_clients();
            continue;
        }
        auto it = std::find_if(clients_.begin(), clients_.end(),
                               [&p](const auto& c) { return c->fd.get() == p.fd; });
        if (it == clients_.end()) continue;
        Client& client = **it;
        if (client.responding) {
            write_to(client);
        } else {
            read_from(client);
        }
    }
    const auto now = Clock::now();
    std::erase_if(clients_, [now](const auto& c) { return !c->fd || c->deadline < now; });
}

void AdminServer::accept_clients() {
    while (clients_.size() < max_clients) {
        const int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;  // EAGAIN, or out of descriptors: poll() tells again
        clients_.push_back(std::make_unique<Client>(fd, limits_));
    }
}

void AdminServer::read_from(Client& client) {
    char buffer[read_chunk];
    const ssize_t n = ::recv(client.fd.get(), buffer, sizeof buffer, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
        client.fd.reset();
        return;
    }
    auto result = client.parser.feed(buffer, static_cast<std::size_t>(n));
    if (result.status == http::h1::Parser::Status::expect_continue) {
        client.parser.continue_after_expect();  // bodies here are tiny: take it as it comes
        const std::size_t rest = static_cast<std::size_t>(n) - result.consumed;
        result = client.parser.feed(buffer + result.consumed, rest);
    }
    if (result.status == http::h1::Parser::Status::error) {
        const int status = client.parser.error_status();
        client.out = "HTTP/1.1 " + std::to_string(status) + " " +
                     std::string(http::reason_phrase(status)) +
                     "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        client.responding = true;
        write_to(client);
        return;
    }
    if (result.status == http::h1::Parser::Status::complete) {
        answer(client);
        if (!client.waiting_reload) write_to(client);
    }
}

void AdminServer::write_to(Client& client) {
    client.responding = true;
    while (client.sent < client.out.size()) {
        const ssize_t n = ::send(client.fd.get(), client.out.data() + client.sent,
                                 client.out.size() - client.sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;  // POLLOUT brings us back
        if (n <= 0) break;
        client.sent += static_cast<std::size_t>(n);
    }
    // Done (or the client left): Connection: close. Half-close first, so that the
    // response is not cut by a reset when the client sent more than was read.
    ::shutdown(client.fd.get(), SHUT_WR);
    client.fd.reset();
}

void AdminServer::answer(Client& client) {
    const http::Request& request = client.request;
    const std::string_view path = request.path();
    const bool head = request.method == "HEAD";
    const bool read_only = request.method == "GET" || head;
    Reply reply;
    const std::string& token = options_.admin_token;
    const std::string_view authorization = request.header("authorization");
    constexpr std::string_view bearer = "Bearer ";
    const bool authorized =
        token.empty() ||
        (authorization.starts_with(bearer) &&
         authorization.size() - bearer.size() == token.size() &&
         CRYPTO_memcmp(authorization.data() + bearer.size(), token.data(), token.size()) == 0);
    const bool public_page = path == "/" || path == "/favicon.ico";
    // Load balancers and orchestrators probe these with whatever Host they use and no
    // token; they say only whether the server is up and serving.
    const bool probe = path == "/health" || path == "/ready";
    if (probe) {
        if (!read_only) {
            reply = error_reply(405, "use GET");
            reply.extra_fields = "Allow: GET, HEAD\r\n";
        } else if (path == "/health") {
            reply = json_reply(200, health_json(supervisor_.supervisor_status()));
        } else {
            bool ready = false;
            auto body = ready_json(supervisor_.supervisor_status(), scoreboard_, ready);
            reply = json_reply(ready ? 200 : 503, body);
        }
    } else if (token.empty() && !loopback_host(request.header("host"))) {
        reply = error_reply(421,
                            "without --admin-token, the admin listener answers only to 127.0.0.1, "
                            "[::1] or localhost");
    } else if (!authorized && !public_page) {
        reply = error_reply(401, "missing or wrong admin token (Authorization: Bearer TOKEN)");
        reply.extra_fields = "WWW-Authenticate: Bearer realm=\"askr admin\"\r\n";
    } else if (path == "/") {
        if (!read_only) {
            reply = error_reply(405, "use GET");
            reply.extra_fields = "Allow: GET, HEAD\r\n";
        } else {
            // The page holds no data: it fetches /api/* with the token the user types in.
            reply = {200, "text/html; charset=utf-8", dashboard_html,
                     "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; "
                     "style-src 'unsafe-inline'; connect-src 'self'; img-src data:; "
                     "frame-ancestors 'none'\r\n"
                     "X-Frame-Options: DENY\r\n"};
        }
    } else if (path == "/api/status" || path == "/api/metrics" || path == "/metrics") {
        if (!read_only) {
            reply = error_reply(405, "use GET");
            reply.extra_fields = "Allow: GET, HEAD\r\n";
        } else {
            const SupervisorStatus status = supervisor_.supervisor_status();
            if (path == "/api/status") {
                reply = json_reply(200, status_json(status, scoreboard_));
            } else if (!metrics_.valid()) {
                reply = error_reply(
                    500,
                    "the metrics region's header is damaged (a stray write); restart the server");
            } else {
                shm::MetricsSnapshot snapshot = metrics_.snapshot();
                if (cache_) snapshot.cache = cache_->info();
                snapshot.cache_backend =
                    !options_.cache_redis.empty() ? "redis" : (cache_ ? "shm" : "");
                if (broadcast_) snapshot.broadcast = broadcast_->info();
                if (path == "/api/metrics") {
                    reply = json_reply(200, metrics_json(snapshot, status, scoreboard_));
                } else {
                    reply = {200,
                             "text/plain; version=0.0.4; charset=utf-8",
                             prometheus_text(snapshot, status, scoreboard_),
                             {}};
                }
            }
        }
    } else if (path == "/api/reload") {
        // A browser sends Origin with every cross-site POST: a page elsewhere cannot make
        // the dashboard's user reload the server (CSRF), token or not.
        const std::string_view origin = request.header("origin");
        if (request.method != "POST") {
            reply = error_reply(405, "use POST");
            reply.extra_fields = "Allow: POST\r\n";
        } else if (!origin.empty() && origin != "http://" + std::string(request.header("host"))) {
            reply = error_reply(403, "cross-origin request refused");
        } else {
            supervisor_.request_reload();
            const auto status = supervisor_.supervisor_status();
            if (request.query() == "wait=1" && status.reloading) {
                // Answered by reload_ended(): a deploy script learns whether it took.
                client.waiting_reload = true;
                client.deadline = Clock::now() + options_.boot_timeout + options_.canary_seconds +
                                  std::chrono::seconds(30);
                return;
            }
            reply = json_reply(202, {{"reload", "started"}, {"generation", status.generation}});
        }
    } else {
        reply = error_reply(
            404, "no such endpoint; see /api/status, /api/metrics, /metrics, /health, /ready, POST "
            "/api/reload");
    }
    respond(client, reply, head);
    spdlog::debug("admin: {} {} {}", request.method, request.target, reply.status);
}

void AdminServer::reload_ended(const SupervisorStatus& status) {
    for (auto& c : clients_) {
        if (!c->waiting_reload || !c->fd) continue;
        c->waiting_reload = false;
        const bool failed = status.stopping || status.last_reload_failed;
        json body = {{"reload", failed ? "failed" : "succeeded"},
                     {"generation", status.generation}};
        if (status.stopping) {
            body["error"] = "the server is stopping";
        } else if (failed) {
            body["error"] = status.last_reload_error;
        }
        respond(*c, json_reply(failed ? 409 : 200, body), false);
        write_to(*c);
    }
}

void AdminServer::respond(Client& client, const Reply& reply, bool head) {
    std::string& out = client.out;
    out = "HTTP/1.1 " + std::to_string(reply.status) + " " +
          std::string(http::reason_phrase(reply.status)) + "\r\n";
    out +=
        "Server: Askr\r\nContent-Type: " + reply.content_type +
        "\r\nContent-Length: " + std::to_string(reply.body.size()) +
        "\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n";
    out += reply.extra_fields;
    out += "\r\n";
    if (!head) out += reply.body;
}

}  // namespace askr::admin
