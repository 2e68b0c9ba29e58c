// [cache] redis: the URL forms docs/cache.md describes, and a message for each mistake that
// says what is wrong and how to write it.
#include <gtest/gtest.h>

#include <fstream>

#include "config/loader.hpp"
#include "config/redis_url.hpp"

namespace askr::config {
namespace {

TEST(RedisUrl, TcpForms) {
    RedisUrl url = parse_redis_url("redis://127.0.0.1:6380/2");
    EXPECT_EQ(url.host, "127.0.0.1");
    EXPECT_EQ(url.port, 6380);
    EXPECT_EQ(url.db, 2u);
    EXPECT_TRUE(url.password.empty());
    EXPECT_FALSE(url.is_unix());
    EXPECT_EQ(url.describe(), "127.0.0.1:6380 db 2");

    url = parse_redis_url("redis://cache.internal");
    EXPECT_EQ(url.host, "cache.internal");
    EXPECT_EQ(url.port, 6379);
    EXPECT_EQ(url.db, 0u);

    url = parse_redis_url("redis://:s3cret@10.0.0.5/");
    EXPECT_EQ(url.host, "10.0.0.5");
    EXPECT_EQ(url.password, "s3cret");
    EXPECT_TRUE(url.user.empty());
    EXPECT_EQ(url.describe().find("s3cret"), std::string::npos) << "the password never shows";

    url = parse_redis_url("redis://app:p%40ss%3Aw%2Fd@[::1]:7000/15");
    EXPECT_EQ(url.user, "app");
    EXPECT_EQ(url.password, "p@ss:w/d");
    EXPECT_EQ(url.host, "::1");
    EXPECT_EQ(url.port, 7000);
    EXPECT_EQ(url.db, 15u);
    EXPECT_EQ(url.describe(), "[::1]:7000 db 15");

    // A password with '@' in it, unescaped: the last '@' ends it.
    url = parse_redis_url("redis://:a@b@host");
    EXPECT_EQ(url.password, "a@b");
    EXPECT_EQ(url.host, "host");

    url = parse_redis_url("redis://justapassword@host:1");
    EXPECT_EQ(url.password, "justapassword");
    EXPECT_EQ(url.port, 1);
}

TEST(RedisUrl, UnixForms) {
    RedisUrl url = parse_redis_url("unix:/run/redis/redis-server.sock");
    EXPECT_TRUE(url.is_unix());
    EXPECT_EQ(url.unix_path, "/run/redis/redis-server.sock");
    EXPECT_EQ(url.db, 0u);
    EXPECT_EQ(url.describe(), "unix:/run/redis/redis-server.sock db 0");

    url = parse_redis_url("unix:/tmp/r.sock?db=3&password=x%26y&user=app");
    EXPECT_EQ(url.unix_path, "/tmp/r.sock");
    EXPECT_EQ(url.db, 3u);
    EXPECT_EQ(url.password, "x&y");
    EXPECT_EQ(url.user, "app");

    url = parse_redis_url("unix:///tmp/r.sock?password=p");
    EXPECT_EQ(url.unix_path, "/tmp/r.sock");
    EXPECT_EQ(url.password, "p");
}

std::string error_of(const std::string& text) {
    try {
        parse_redis_url(text);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "no error";
}

TEST(RedisUrl, MistakesSayWhatIsWrongAndHowToWriteIt) {
    const std::pair<const char*, const char*> cases[] = {
        {"127.0.0.1:6379", "starts with neither redis:// nor unix:"},
        {"redis://", "the host is missing"},
        {"redis://:pw@", "the host is missing"},
        {"redis://host:", "the port is empty"},
        {"redis://host:99999", "the port \"99999\" is not a number from 1 to 65535"},
        {"redis://host:0", "is not a number from 1 to 65535"},
        {"redis://host:63x9", "the port \"63x9\""},
        {"redis://host/x", "the database \"x\" is not a number"},
        {"redis://host/1?timeout=3", "redis:// takes no ?settings"},
        {"redis://[::1:6379", "missing its ]"},
        {"redis://[::1]6379", "expected :PORT after the ]"},
        {"redis://:p%4@host", "% not followed by two hex digits"},
        {"rediss://host", "TLS to Redis (rediss://) is not supported"},
        {"unix:run/redis.sock", "the socket path must be absolute"},
        {"unix:", "the socket path must be absolute"},
        {"unix:/r.sock?db=one", "the database \"one\" is not a number"},
        {"unix:/r.sock?timeout=1", "unknown setting \"timeout\" after ?"},
        {"unix:/r.sock?db", "\"db\" after ? is not NAME=VALUE"},
    };
    for (const auto& [text, problem] : cases) {
        const std::string error = error_of(text);
        EXPECT_NE(error.find(problem), std::string::npos) << text << " -> " << error;
        EXPECT_NE(error.find("expected redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]"),
                  std::string::npos)
            << text << " -> " << error;
        EXPECT_NE(error.find("unix:/PATH[?db=N&password=SECRET]"), std::string::npos) << error;
    }
}

// Checked when the configuration is read: the file's line, the key and the reason.
TEST(RedisUrl, CheckedWhenTheConfigIsRead) {
    char pattern[] = "/tmp/askr-redis-url-test-XXXXXX";
    const std::string dir = ::mkdtemp(pattern);
    const std::string file = dir + "/askr.toml";
    std::ofstream(file) << "[server]\nroot = \"" << dir << "\"\n[cache]\nredis = \"redis://h:x\"\n";
    std::string message;
    try {
        Sources sources;
        sources.config_file = file;
        load(sources);
    } catch (const ConfigErrors& e) {
        for (const auto& m : e.messages()) message += m;
    }
    std::remove(file.c_str());
    ::rmdir(dir.c_str());
    EXPECT_NE(message.find("askr.toml:4"), std::string::npos) << message;
    EXPECT_NE(message.find("[cache] redis"), std::string::npos) << message;
    EXPECT_NE(message.find("the port \"x\""), std::string::npos) << message;

    Sources sources;
    sources.environment = {{"ASKR_SERVER_ROOT", "/"},
                           {"ASKR_CACHE_REDIS", "unix:/run/r.sock?db=2"},
                           {"ASKR_CACHE_PREFIX", "shop:"}};
    const Config config = load(sources);
    EXPECT_EQ(config.options.cache_redis, "unix:/run/r.sock?db=2");
    EXPECT_EQ(config.options.cache_prefix, "shop:");
    EXPECT_EQ(config.options.cache_redis_timeout_ms, 250u);
}

}  // namespace
}  // namespace askr::config
