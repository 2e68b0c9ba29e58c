// cache::RedisBackend against a real redis-server (started here on a free loopback port,
// no persistence): what each operation answers, including the cases the PHP tests do not
// reach easily (an overflowing counter, a prefix with glob characters, Redis gone).
#include "cache/redis_backend.hpp"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "cache/redis_connection.hpp"

namespace askr::cache {
namespace {

std::uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    ::close(fd);
    return ntohs(address.sin_port);
}

config::RedisUrl url_of(std::uint16_t port) {
    return config::parse_redis_url("redis://127.0.0.1:" + std::to_string(port));
}

// redis-server for one test, stopped at its end.
class RedisBackendTest : public ::testing::Test {
  protected:
    void SetUp() override {
        port_ = free_port();
        const std::string port = std::to_string(port_);
        pid_ = ::fork();
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            ::execlp("redis-server", "redis-server", "--save", "", "--appendonly", "no", "--bind",
                     "127.0.0.1", "--port", port.c_str(), "--dir", "/tmp", "--logfile", "/dev/null",
                     "--loglevel", "warning", static_cast<char*>(nullptr));
            ::_exit(127);
        }
        ASSERT_GT(pid_, 0);
        RedisConnection probe(url_of(port_), std::chrono::milliseconds(200));
        std::string error;
        for (int attempt = 0; attempt < 250 && !probe.connect(error); ++attempt)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        ASSERT_TRUE(probe.ping()) << "redis-server did not start: " << error;
    }
    void TearDown() override {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    RedisBackend backend(const std::string& prefix = "u:") {
        return RedisBackend(url_of(port_), prefix, std::chrono::milliseconds(500), 1024);
    }
    // A raw command on a connection of the test's own.
    std::string raw(std::initializer_list<std::string_view> command) {
        RedisConnection connection(url_of(port_), std::chrono::milliseconds(500));
        const RedisReply reply = connection.command(command);
        if (!reply) return "(no reply)";
        if (reply->type == REDIS_REPLY_INTEGER) return std::to_string(reply->integer);
        if (reply->type == REDIS_REPLY_NIL) return "(nil)";
        return std::string(reply->str, reply->len);
    }

    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
};

TEST_F(RedisBackendTest, SetGetAddAndRemove) {
    RedisBackend cache = backend();
    ValueType type{};
    std::string out;
    EXPECT_FALSE(cache.get(Space::value, "k", type, out));
    EXPECT_EQ(cache.set(Space::value, "k", ValueType::string, "v", 0, false), Status::ok);
    ASSERT_TRUE(cache.get(Space::value, "k", type, out));
    EXPECT_EQ(type, ValueType::string);
    EXPECT_EQ(out, "v");
    EXPECT_EQ(cache.set(Space::value, "k", ValueType::string, "w", 0, true), Status::exists);
    const std::int64_t seven = 7;
    EXPECT_EQ(
        cache.set(Space::value, "n", ValueType::integer,
                  std::string_view(reinterpret_cast<const char*>(&seven), sizeof seven), 0, false),
        Status::ok);
    ASSERT_TRUE(cache.get(Space::value, "n", type, out));
    EXPECT_EQ(type, ValueType::integer);
    ASSERT_EQ(out.size(), sizeof seven);
    std::int64_t back = 0;
    std::memcpy(&back, out.data(), sizeof back);
    EXPECT_EQ(back, 7);
    EXPECT_EQ(raw({"GET", "u:n"}), "7");
    EXPECT_TRUE(cache.remove(Space::value, "k"));
    EXPECT_FALSE(cache.remove(Space::value, "k"));
}

TEST_F(RedisBackendTest, LocksLiveApartAndOnlyTheirOwnerReleasesThem) {
    RedisBackend cache = backend();
    EXPECT_EQ(cache.set(Space::lock, "job", ValueType::string, "a", 60000, true), Status::ok);
    EXPECT_EQ(cache.set(Space::lock, "job", ValueType::string, "b", 60000, true), Status::exists);
    EXPECT_EQ(cache.set(Space::value, "job", ValueType::string, "value", 0, true), Status::ok)
        << "a value of the lock's name is another key";
    EXPECT_FALSE(cache.remove_if_equal(Space::lock, "job", "b"));
    EXPECT_TRUE(cache.remove_if_equal(Space::lock, "job", "a"));
    EXPECT_FALSE(cache.remove_if_equal(Space::lock, "job", "a"));
    ValueType type{};
    std::string out;
    ASSERT_TRUE(cache.get(Space::value, "job", type, out));
    EXPECT_EQ(out, "value");
}

TEST_F(RedisBackendTest, IncrementCountsGivesANewCounterItsWindowAndRefusesWhatItCannotCount) {
    RedisBackend cache = backend();
    std::int64_t result = 0;
    EXPECT_EQ(cache.increment("c", 5, 100000, result), Status::ok);
    EXPECT_EQ(result, 5);
    const long ttl = std::stol(raw({"PTTL", "u:c"}));
    EXPECT_GT(ttl, 0);
    EXPECT_LE(ttl, 100000);
    EXPECT_EQ(cache.increment("c", -2, 0, result), Status::ok);
    EXPECT_EQ(result, 3);
    EXPECT_GT(std::stol(raw({"PTTL", "u:c"})), 0) << "an existing counter keeps its expiry";
    EXPECT_EQ(cache.increment("forever", 1, 0, result), Status::ok);
    EXPECT_EQ(raw({"PTTL", "u:forever"}), "-1");

    EXPECT_EQ(cache.set(Space::value, "text", ValueType::string, "abc", 0, false), Status::ok);
    EXPECT_EQ(cache.increment("text", 1, 0, result), Status::not_integer);
    raw({"SET", "u:big", "9223372036854775807"});
    EXPECT_EQ(cache.increment("big", 1, 0, result), Status::overflow);
    raw({"RPUSH", "u:list", "x"});
    EXPECT_EQ(cache.increment("list", 1, 0, result), Status::not_integer);
    // The script is sent whole when the server has forgotten it.
    raw({"SCRIPT", "FLUSH"});
    EXPECT_EQ(cache.increment("c", 1, 0, result), Status::ok);
    EXPECT_EQ(result, 4);
}

TEST_F(RedisBackendTest, FlushTakesOnlyKeysUnderThePrefixEvenWithGlobCharacters) {
    RedisBackend cache = backend("a*[b]:");
    EXPECT_EQ(cache.set(Space::value, "k", ValueType::string, "v", 0, false), Status::ok);
    EXPECT_EQ(cache.set(Space::lock, "l", ValueType::string, "me", 60000, true), Status::ok);
    for (int i = 0; i < 2500; ++i)  // more than one SCAN page
        cache.set(Space::value, "many" + std::to_string(i), ValueType::null, "", 0, false);
    raw({"SET", "aX[b]:k", "other"});
    raw({"SET", "ab:k", "other"});
    EXPECT_EQ(raw({"DBSIZE"}), "2504");
    EXPECT_TRUE(cache.flush());
    EXPECT_EQ(raw({"DBSIZE"}), "2");
    EXPECT_EQ(raw({"GET", "aX[b]:k"}), "other");
}

TEST(RedisBackendDown, IsAMissAndThenAnImmediateRefusal) {
    RedisBackend cache(url_of(free_port()), "u:", std::chrono::milliseconds(500), 1024);
    ValueType type{};
    std::string out;
    EXPECT_FALSE(cache.get(Space::value, "k", type, out));
    EXPECT_EQ(cache.set(Space::value, "k", ValueType::string, "v", 0, false), Status::unavailable);
    std::int64_t result = 0;
    EXPECT_EQ(cache.increment("c", 1, 0, result), Status::unavailable);
    EXPECT_FALSE(cache.remove_if_equal(Space::lock, "l", "me"));
    EXPECT_FALSE(cache.flush());
    const Info info = cache.info();
    for (const auto& [name, value] : info) {
        if (name == "connected") {
            EXPECT_FALSE(std::get<bool>(value));
        }
        if (name == "errors") {
            EXPECT_GE(std::get<std::int64_t>(value), 6);
        }
    }
}

}  // namespace
}  // namespace askr::cache
