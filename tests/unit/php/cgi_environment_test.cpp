// Header translation to $_SERVER: the CGI/1.1 variables a request produces.
#include "php/cgi_environment.hpp"

#include <gtest/gtest.h>

#include <map>

namespace askr::php {
namespace {

std::map<std::string, std::string> variables(const http::Request& r, const ScriptTarget& t) {
    std::map<std::string, std::string> out;
    for_each_cgi_variable(r, t, "Askr/test", [&](std::string_view k, std::string_view v) {
        EXPECT_EQ(out.count(std::string(k)), 0u) << "variable produced twice: " << k;
        out[std::string(k)] = std::string(v);
    });
    return out;
}

http::Request sample() {
    http::Request r;
    r.method = "POST";
    r.target = "/index.php/extra?a=1&b=2";
    r.add_header("host", "example.com:8080");
    r.add_header("content-type", "application/x-www-form-urlencoded");
    r.add_header("content-length", "3");
    r.add_header("x-foo-bar", "baz");
    r.add_header("cookie", "a=1");
    r.add_header("cookie", "b=2");
    r.add_header("accept", "text/html");
    r.add_header("accept", "application/json");
    r.add_header("x_forwarded_for", "6.6.6.6");
    r.add_header("proxy", "http://evil:8080");
    r.add_header("authorization", "Basic dXNlcjpwYXNz");
    r.append_body("a=1", 3);
    r.endpoints = {"10.0.0.1", 54321, "127.0.0.1", 8080, false};
    return r;
}

TEST(CgiEnvironment, ProducesTheCgiContract) {
    auto r = sample();
    ScriptTarget t{"/srv/app/index.php", "/index.php", "/extra", "/srv/app"};
    auto v = variables(r, t);
    EXPECT_EQ(v["REQUEST_METHOD"], "POST");
    EXPECT_EQ(v["REQUEST_URI"], "/index.php/extra?a=1&b=2");
    EXPECT_EQ(v["QUERY_STRING"], "a=1&b=2");
    EXPECT_EQ(v["SCRIPT_NAME"], "/index.php");
    EXPECT_EQ(v["SCRIPT_FILENAME"], "/srv/app/index.php");
    EXPECT_EQ(v["PATH_INFO"], "/extra");
    EXPECT_EQ(v["PATH_TRANSLATED"], "/srv/app/extra");
    EXPECT_EQ(v["PHP_SELF"], "/index.php/extra");
    EXPECT_EQ(v["DOCUMENT_URI"], "/index.php");  // nginx: $document_uri is the script
    EXPECT_EQ(v["DOCUMENT_ROOT"], "/srv/app");
    EXPECT_EQ(v["SERVER_NAME"], "example.com");
    EXPECT_EQ(v["SERVER_PORT"], "8080");
    EXPECT_EQ(v["SERVER_ADDR"], "127.0.0.1");
    EXPECT_EQ(v["REMOTE_ADDR"], "10.0.0.1");
    EXPECT_EQ(v["REMOTE_PORT"], "54321");
    EXPECT_EQ(v["SERVER_PROTOCOL"], "HTTP/1.1");
    EXPECT_EQ(v["SERVER_SOFTWARE"], "Askr/test");
    EXPECT_EQ(v["GATEWAY_INTERFACE"], "CGI/1.1");
    EXPECT_EQ(v["REQUEST_SCHEME"], "http");
    EXPECT_EQ(v.count("HTTPS"), 0u);
    EXPECT_EQ(v["CONTENT_TYPE"], "application/x-www-form-urlencoded");
    EXPECT_EQ(v["CONTENT_LENGTH"], "3");
    EXPECT_EQ(v["AUTH_TYPE"], "Basic");
    EXPECT_EQ(v["HTTP_HOST"], "example.com:8080");
    EXPECT_EQ(v["HTTP_X_FOO_BAR"], "baz");
    EXPECT_EQ(v["HTTP_AUTHORIZATION"], "Basic dXNlcjpwYXNz");
}

TEST(CgiEnvironment, JoinsRepeatedHeadersAndDropsSpoofable) {
    auto v = variables(sample(), ScriptTarget{"/f", "/f", "", "/"});
    EXPECT_EQ(v["HTTP_COOKIE"], "a=1; b=2");
    EXPECT_EQ(v["HTTP_ACCEPT"], "text/html, application/json");
    // A header spelled with '_' would collide with its '-' twin: dropped, as nginx does.
    EXPECT_EQ(v.count("HTTP_X_FORWARDED_FOR"), 0u);
    // httpoxy (CVE-2016-5385): a Proxy header must not become HTTP_PROXY.
    EXPECT_EQ(v.count("HTTP_PROXY"), 0u);
    EXPECT_EQ(v.count("PATH_TRANSLATED"), 0u);  // only with PATH_INFO
    EXPECT_EQ(v["PATH_INFO"], "");
}

TEST(CgiEnvironment, TlsAndMissingHost) {
    http::Request r;
    r.method = "GET";
    r.target = "/";
    r.version_minor = 0;
    r.endpoints = {"::1", 1, "::1", 443, true};
    auto v = variables(r, ScriptTarget{"/f", "/f", "", "/"});
    EXPECT_EQ(v["HTTPS"], "on");
    EXPECT_EQ(v["REQUEST_SCHEME"], "https");
    EXPECT_EQ(v["SERVER_NAME"], "::1");  // no Host (HTTP/1.0): the local address
    EXPECT_EQ(v["SERVER_PROTOCOL"], "HTTP/1.0");
    EXPECT_EQ(v["CONTENT_LENGTH"], "");
}

TEST(CgiEnvironment, ServerNameStripsPortAndKeepsIpv6Brackets) {
    http::Request r;
    r.add_header("host", "[::1]:8443");
    EXPECT_EQ(server_name(r), "[::1]");
    http::Request plain;
    plain.add_header("host", "example.org");
    EXPECT_EQ(server_name(plain), "example.org");
}

TEST(CgiEnvironment, JoinCookies) {
    std::string out;
    join_cookies(sample(), out);
    EXPECT_EQ(out, "a=1; b=2");
}

}  // namespace
}  // namespace askr::php
