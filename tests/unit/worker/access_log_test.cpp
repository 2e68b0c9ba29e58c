#include "worker/access_log.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

namespace askr::worker {
namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

struct TempFile {
    std::string path = std::filesystem::temp_directory_path() /
                       ("askr-access-" + std::to_string(::getpid()) + ".log");
    ~TempFile() { std::filesystem::remove(path); }
};

http::Request sample_request() {
    http::Request r;
    r.method = "GET";
    r.target = "/a b\"?x=\x01";
    r.endpoints.remote_addr = "192.0.2.7";
    r.add_header("user-agent", "agent \"x\" \\ \xff");
    return r;
}

TEST(AccessLog, CombinedEscapesWhatAClientSent) {
    TempFile file;
    {
        AccessLog log(file.path, AccessLogFormat::combined);
        log.record(sample_request(), {200, 12, 345, "php"});
    }
    const std::string text = slurp(file.path);
    const std::regex line(
        R"(192\.0\.2\.7 - - \[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "GET /a b\\x22\?x=\\x01 HTTP/1\.1" 200 12 "-" "agent \\x22x\\x22 \\x5C \\xFF"\n)");
    EXPECT_TRUE(std::regex_match(text, line)) << text;
}

TEST(AccessLog, JsonLinesAreValidJson) {
    TempFile file;
    {
        AccessLog log(file.path, AccessLogFormat::json);
        log.record(sample_request(), {404, 0, 7, "other"});
    }
    const std::string text = slurp(file.path);
    EXPECT_NE(text.find(R"("uri":"/a b\"?x=\u0001")"), std::string::npos) << text;
    EXPECT_NE(text.find(R"("user_agent":"agent \"x\" \\ \u00ff")"), std::string::npos) << text;
    EXPECT_NE(
        text.find(R"("status":404,"body_bytes":0,"duration_us":7,"kind":"other","referer":"")"),
        std::string::npos)
        << text;
    EXPECT_EQ(text.back(), '\n');
}

TEST(AccessLog, BuffersUntilFlushAndReopens) {
    TempFile file;
    AccessLog log(file.path, AccessLogFormat::combined);
    log.record(sample_request(), {200, 1, 1, "php"});
    EXPECT_EQ(slurp(file.path), "");  // buffered
    log.flush();
    EXPECT_NE(slurp(file.path), "");
    const std::string rotated = file.path + ".1";
    std::filesystem::rename(file.path, rotated);
    log.record(sample_request(), {201, 1, 1, "php"});
    EXPECT_TRUE(log.reopen());  // flushes to the old file first
    log.record(sample_request(), {202, 1, 1, "php"});
    log.flush();
    EXPECT_NE(slurp(rotated).find("\" 201 "), std::string::npos);
    EXPECT_NE(slurp(file.path).find("\" 202 "), std::string::npos);
    EXPECT_EQ(slurp(file.path).find("\" 201 "), std::string::npos);
    std::filesystem::remove(rotated);
}

}  // namespace
}  // namespace askr::worker
