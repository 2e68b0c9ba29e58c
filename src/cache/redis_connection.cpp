#include "cache/redis_connection.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

namespace askr::cache {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds first_backoff{100};
constexpr std::chrono::milliseconds longest_backoff{1000};

timeval to_timeval(std::chrono::milliseconds ms) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
    return tv;
}

// An idle connection with something to read has been closed or reset by the server (a
// restart, a timeout of its own): it is dropped before a command is sent on it, so that
// the command goes on a fresh connection and nothing is sent twice.
bool closed_by_peer(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) != 0;
}

// Error replies that say the server refuses commands now (a password, a server loading
// its data or out of memory), as opposed to one command's own mistake: they are logged.
bool server_refuses(std::string_view error) {
    constexpr std::string_view codes[] = {"NOAUTH",  "WRONGPASS",  "NOPERM",
                                          "LOADING", "MISCONF",    "READONLY",
                                          "OOM",     "MASTERDOWN", "BUSY "};
    for (const auto code : codes) {
        if (error.substr(0, code.size()) == code) return true;
    }
    return false;
}

}  // namespace

void ReplyDeleter::operator()(redisReply* reply) const {
    freeReplyObject(reply);
}

void ContextDeleter::operator()(redisContext* context) const {
    redisFree(context);
}

RedisConnection::RedisConnection(config::RedisUrl url, std::chrono::milliseconds timeout,
                                 RedisPurpose purpose)
    : url_(std::move(url)), timeout_(timeout), purpose_(purpose), backoff_(first_backoff) {}

RedisConnection::~RedisConnection() = default;

bool RedisConnection::connect(std::string& error) {
    context_.reset();
    const timeval tv = to_timeval(timeout_);
    std::unique_ptr<redisContext, ContextDeleter> context(
        url_.is_unix() ? redisConnectUnixWithTimeout(url_.unix_path.c_str(), tv)
                       : redisConnectWithTimeout(url_.host.c_str(), url_.port, tv));
    if (!context) {
        error = "out of memory";
        return false;
    }
    if (context->err) {
        error = context->errstr;
        return false;
    }
    // hiredis does not open its socket close-on-exec: a program PHP starts must not hold it.
    ::fcntl(context->fd, F_SETFD, FD_CLOEXEC);
    if (redisSetTimeout(context.get(), tv) != REDIS_OK) {
        error = "cannot set the socket timeout";
        return false;
    }
    auto run = [&](std::vector<std::string> arguments, const std::string& what) {
        std::vector<const char*> pointers;
        std::vector<std::size_t> lengths;
        for (const auto& a : arguments) {
            pointers.push_back(a.data());
            lengths.push_back(a.size());
        }
        RedisReply reply(static_cast<redisReply*>(redisCommandArgv(
            context.get(), static_cast<int>(pointers.size()), pointers.data(), lengths.data())));
        if (!reply) {
            error = what + ": " + context->errstr;
            return false;
        }
        if (reply->type == REDIS_REPLY_ERROR) {
            error = what + ": " + std::string(reply->str, reply->len);
            return false;
        }
        return true;
    };
    if (!url_.password.empty()) {
        std::vector<std::string> auth{"AUTH"};
        if (!url_.user.empty()) auth.push_back(url_.user);
        auth.push_back(url_.password);
        if (!run(auth, std::string("AUTH (check the password in ") + purpose_.option + ")"))
            return false;
    }
    if (url_.db != 0 && !run({"SELECT", std::to_string(url_.db)}, "SELECT")) return false;
    context_ = std::move(context);
    owner_ = ::getpid();
    return true;
}

// Whether context_ may carry a command, connecting first when needed and allowed.
bool RedisConnection::usable() {
    if (context_ && (owner_ != ::getpid() || closed_by_peer(context_->fd))) context_.reset();
    if (context_) return true;
    if (Clock::now() < retry_at_) {
        ++errors_;
        return false;
    }
    std::string error;
    if (!connect(error)) {
        failed("cannot connect: " + error);
        return false;
    }
    if (failing_) spdlog::info("{}: Redis {} answers again", purpose_.subsystem, url_.describe());
    failing_ = false;
    backoff_ = first_backoff;
    return true;
}

void RedisConnection::failed(const std::string& what) {
    ++errors_;
    context_.reset();
    failing_ = true;
    retry_at_ = Clock::now() + backoff_;
    std::uint64_t held_back = 0;
    if (log_throttle_.allow(held_back)) {
        spdlog::error(
            "{}: Redis {}: {}; {} (next try in {} ms){}", purpose_.subsystem, url_.describe(), what,
            purpose_.while_down, backoff_.count(),
            held_back ? " (" + std::to_string(held_back) + " more failures not logged)" : "");
    }
    backoff_ = std::min(backoff_ * 2, longest_backoff);
}

bool RedisConnection::ping() {
    const RedisReply reply = command({"PING"});
    return reply && reply->type == REDIS_REPLY_STATUS;
}

RedisReply RedisConnection::command(std::span<const std::string_view> arguments) {
    if (!usable()) return nullptr;
    constexpr std::size_t inline_count = 8;
    const char* pointer_array[inline_count];
    std::size_t length_array[inline_count];
    std::vector<const char*> pointer_vector;
    std::vector<std::size_t> length_vector;
    const char** pointers = pointer_array;
    std::size_t* lengths = length_array;
    if (arguments.size() > inline_count) {
        pointer_vector.resize(arguments.size());
        length_vector.resize(arguments.size());
        pointers = pointer_vector.data();
        lengths = length_vector.data();
    }
    for (std::size_t i = 0; i < arguments.size(); ++i) {
        pointers[i] = arguments[i].data();
        lengths[i] = arguments[i].size();
    }
    RedisReply reply(static_cast<redisReply*>(
        redisCommandArgv(context_.get(), static_cast<int>(arguments.size()), pointers, lengths)));
    if (!reply || context_->err) {
        // A timeout or a broken connection: what was sent may be half-answered, so the
        // connection cannot be reused.
        const std::string reason = context_->err ? context_->errstr : "no reply";
        failed(std::string(arguments.empty() ? "" : arguments[0]) + " failed: " +
               (context_->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)
                    ? "no answer within " + std::to_string(timeout_.count()) + " ms"
                    : reason));
        return nullptr;
    }
    if (reply->type == REDIS_REPLY_ERROR &&
        server_refuses(std::string_view(reply->str, reply->len))) {
        ++errors_;
        std::uint64_t held_back = 0;
        if (log_throttle_.allow(held_back)) {
            spdlog::error(
                "{}: Redis {}: {} refused: {}{}", purpose_.subsystem, url_.describe(),
                arguments.empty() ? "" : arguments[0], std::string_view(reply->str, reply->len),
                held_back ? " (" + std::to_string(held_back) + " more failures not logged)" : "");
        }
    }
    return reply;
}

}  // namespace askr::cache
