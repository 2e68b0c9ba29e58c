// A script's view of its request and its control over the response, as a PHP developer
// uses them: $_GET, $_POST (urlencoded and multipart), $_FILES, $_COOKIE, $_REQUEST,
// php://input, header(), header_remove(), http_response_code(), setcookie(),
// headers_list(), headers_sent(), getallheaders().
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "php_support.hpp"

namespace askr::test::php {
namespace {

using nlohmann::json;

json parse(const Response& r) {
    return json::parse(r.body, nullptr, false);
}

TEST(PhpRequest, QueryStringInGet) {
    TempDir root;
    root.write("index.php", R"(<?php echo json_encode($_GET);)");
    Server server(root.path());
    auto r =
        get(server.url("/index.php?name=J%C3%BCrgen&list[]=a&list[]=b&map[k]=v&empty=&plus=a+b"));
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(parse(r), json({{"name", "Jürgen"},
                              {"list", {"a", "b"}},
                              {"map", {{"k", "v"}}},
                              {"empty", ""},
                              {"plus", "a b"}}))
        << r.body;
}

TEST(PhpRequest, UrlencodedPost) {
    TempDir root;
    root.write(
        "form.php",
        R"(<?php echo json_encode(['method' => $_SERVER['REQUEST_METHOD'], 'post' => $_POST, 'get' => $_GET]);)");
    Server server(root.path());
    auto r = request(server.url("/form.php?from=query"),
                     {.method = "POST",
                      .body = "title=Hello+World&tags%5B%5D=x&tags%5B%5D=y&note=%26%3D%3F",
                      .headers = {"Content-Type: application/x-www-form-urlencoded"}});
    ASSERT_EQ(r.status, 200) << r.body;
    json j = parse(r);
    EXPECT_EQ(j["method"], "POST");
    EXPECT_EQ(j["post"], json({{"title", "Hello World"}, {"tags", {"x", "y"}}, {"note", "&=?"}}));
    EXPECT_EQ(j["get"], json({{"from", "query"}}));
}

// A real multipart upload: fields in $_POST, the file in $_FILES with its name, type,
// size, error and content, and the temporary file gone once the request is over.
TEST(PhpRequest, MultipartUploadAndTempFileRemoved) {
    TempDir root;
    root.write("upload.php", R"(<?php
        $f = $_FILES['f'] ?? null;
        $meta = ['post' => $_POST, 'file' => $f,
                 'is_uploaded' => $f ? is_uploaded_file($f['tmp_name']) : false,
                 'exists_during' => $f ? file_exists($f['tmp_name']) : false];
        echo json_encode($meta), "\n";
        if ($f) readfile($f['tmp_name']);)");
    TempDir files;
    std::string content;
    std::mt19937 random(42);
    for (int i = 0; i < 200 * 1024; ++i)
        content.push_back(static_cast<char>(random() & 0xff));  // binary, NULs too
    const std::string upload = files.write("data.bin", content);
    Server server(root.path());
    auto r = request(
        server.url("/upload.php"),
        {.method = "POST", .multipart = {{"title", "my file"}, {"f", "@" + upload}, {"n", "42"}}});
    ASSERT_EQ(r.status, 200) << r.body;
    const auto newline = r.body.find('\n');
    ASSERT_NE(newline, std::string::npos) << r.body;
    json j = json::parse(r.body.substr(0, newline), nullptr, false);
    ASSERT_TRUE(j.is_object()) << r.body.substr(0, 500);
    EXPECT_EQ(j["post"], json({{"title", "my file"}, {"n", "42"}}));
    const json& f = j["file"];
    ASSERT_TRUE(f.is_object()) << j.dump();
    EXPECT_EQ(f["name"], "data.bin");
    EXPECT_EQ(f["full_path"], "data.bin");
    EXPECT_EQ(f["type"], "application/octet-stream");  // what curl sends for .bin
    EXPECT_EQ(f["size"], content.size());
    EXPECT_EQ(f["error"], 0);  // UPLOAD_ERR_OK
    EXPECT_EQ(j["is_uploaded"], true);
    EXPECT_EQ(j["exists_during"], true);
    EXPECT_TRUE(r.body.substr(newline + 1) == content)
        << "uploaded content differs (got " << r.body.size() - newline - 1 << " bytes)";

    // PHP deletes the upload at request shutdown; allow the server a moment after the
    // response to finish that.
    const std::string tmp = f.value("tmp_name", "");
    ASSERT_FALSE(tmp.empty());
    bool gone = false;
    for (int i = 0; i < 100 && !gone; ++i) {
        gone = !std::filesystem::exists(tmp);
        if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_TRUE(gone) << tmp << " still exists after the request";
}

// An upload over upload_max_filesize is reported in $_FILES (UPLOAD_ERR_INI_SIZE), not
// as a failed request.
TEST(PhpRequest, UploadOverIniLimitIsReportedToScript) {
    TempDir root;
    root.write(
        "upload.php",
        R"(<?php echo json_encode(['error' => $_FILES['f']['error'] ?? null, 'post' => $_POST]);)");
    TempDir files;
    const std::string upload = files.write("big.bin", std::string(300 * 1024, 'x'));
    Server server(root.path(), {"-d", "upload_max_filesize=100K"});
    auto r = request(server.url("/upload.php"),
                     {.method = "POST", .multipart = {{"f", "@" + upload}, {"k", "v"}}});
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(parse(r), json({{"error", 1}, {"post", {{"k", "v"}}}}))
        << r.body;  // UPLOAD_ERR_INI_SIZE
}

// Several Cookie headers reach the script as one $_COOKIE.
TEST(PhpRequest, CookiesFromSeveralHeaders) {
    TempDir root;
    root.write(
        "index.php",
        R"(<?php echo json_encode(['cookie' => $_COOKIE, 'raw' => $_SERVER['HTTP_COOKIE'] ?? null]);)");
    Server server(root.path());
    auto r = request(server.url("/"), {.headers = {"Cookie: a=1; b=two%20words", "Cookie: c=3"}});
    ASSERT_EQ(r.status, 200);
    json j = parse(r);
    EXPECT_EQ(j["cookie"], json({{"a", "1"}, {"b", "two words"}, {"c", "3"}})) << r.body;
    EXPECT_EQ(j["raw"], "a=1; b=two%20words; c=3");
}

// $_REQUEST follows request_order = "GP" (Debian's php.ini): GET then POST, POST wins;
// cookies are not in it.
TEST(PhpRequest, RequestMergesGetAndPost) {
    TempDir root;
    root.write(
        "index.php",
        R"(<?php echo json_encode(['request' => $_REQUEST, 'order' => ini_get('request_order')]);)");
    Server server(root.path());
    auto r =
        request(server.url("/index.php?x=from_get&g=1"),
                {.method = "POST",
                 .body = "x=from_post&p=2",
                 .headers = {"Content-Type: application/x-www-form-urlencoded", "Cookie: c=3"}});
    ASSERT_EQ(r.status, 200);
    json j = parse(r);
    ASSERT_EQ(j["order"], "GP");
    EXPECT_EQ(j["request"], json({{"x", "from_post"}, {"g", "1"}, {"p", "2"}})) << r.body;
}

// A JSON API: the body only through php://input (readable twice), $_POST empty.
TEST(PhpRequest, JsonBodyThroughPhpInput) {
    TempDir root;
    root.write("api.php", R"(<?php
        $raw = file_get_contents('php://input');
        $again = file_get_contents('php://input');
        header('Content-Type: application/json');
        echo json_encode(['data' => json_decode($raw, true), 'length' => strlen($raw),
                          'same_twice' => $raw === $again, 'post' => $_POST,
                          'type' => $_SERVER['CONTENT_TYPE']]);)");
    Server server(root.path());
    const std::string body = R"({"name":"Zoë","list":[1,2,3],"nested":{"ok":true}})";
    auto r =
        request(server.url("/api.php"),
                {.method = "POST", .body = body, .headers = {"Content-Type: application/json"}});
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("content-type"), "application/json");
    json j = parse(r);
    EXPECT_EQ(j["data"], json::parse(body));
    EXPECT_EQ(j["length"], body.size());
    EXPECT_EQ(j["same_twice"], true);
    EXPECT_EQ(j["post"], json::array());
    EXPECT_EQ(j["type"], "application/json");
}

// A header whose name is not a token is refused with a warning, as CR/LF already is.
TEST(PhpResponse, HeadersWithInvalidNamesAreNotSent) {
    TempDir root;
    root.write("index.php", R"(<?php
        set_error_handler(function ($no, $message) { $GLOBALS['warnings'][] = $message; return true; });
        $GLOBALS['warnings'] = [];
        header('X A: spaced');
        header('X-Colon : before');
        header('NoColonAtAll');
        header(': empty');
        header('X-Good: kept');
        header('Content-Type: application/json');
        echo json_encode(['warnings' => $GLOBALS['warnings'], 'list' => headers_list()]);)");
    Server server(root.path());
    auto r = get(server.url("/"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("x-good"), "kept");
    for (const auto& [name, value] : r.header_list) {
        EXPECT_NE(value, "spaced") << name;
        EXPECT_NE(value, "before") << name;
        EXPECT_NE(value, "empty") << name;
        EXPECT_EQ(name.find(' '), std::string::npos) << name;
        EXPECT_NE(name, "nocolonatall");
    }
    json j = parse(r);
    EXPECT_EQ(j["warnings"].size(), 4u) << j.dump();
    EXPECT_EQ(j["list"], json::array({"X-Good: kept", "Content-Type: application/json"}));
}

TEST(PhpResponse, HeadersStatusAndCookies) {
    TempDir root;
    root.write("index.php", R"(<?php
        header('X-Custom: one');
        header('X-Custom: replaced');
        header('X-Multi: a');
        header('X-Multi: b', false);
        header('X-Removed: soon gone');
        header_remove('X-Removed');
        header('Content-Type: application/json; charset=utf-8');
        http_response_code(418);
        setcookie('session', 'v a l', ['path' => '/app', 'httponly' => true, 'samesite' => 'Lax']);
        setcookie('plain', '1');
        echo json_encode(['list' => headers_list(), 'sent' => headers_sent(), 'code' => http_response_code()]);)");
    Server server(root.path());
    auto r = get(server.url("/"));
    EXPECT_EQ(r.status, 418);
    EXPECT_EQ(r.header("x-custom"), "replaced");
    std::vector<std::string> multi;
    std::vector<std::string> cookies;
    for (const auto& [name, value] : r.header_list) {
        if (name == "x-multi") multi.push_back(value);
        if (name == "set-cookie") cookies.push_back(value);
        EXPECT_NE(name, "x-removed");
    }
    EXPECT_EQ(multi, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(cookies, (std::vector<std::string>{
                           "session=v%20a%20l; path=/app; HttpOnly; SameSite=Lax", "plain=1"}));
    EXPECT_EQ(r.header("content-type"), "application/json; charset=utf-8");
    json j = parse(r);
    EXPECT_EQ(j["sent"], false);
    EXPECT_EQ(j["code"], 418);
    std::vector<std::string> list = j.value("list", std::vector<std::string>{});
    auto has = [&](const std::string& h) {
        return std::find(list.begin(), list.end(), h) != list.end();
    };
    EXPECT_TRUE(has("X-Custom: replaced")) << j.dump();
    EXPECT_TRUE(has("X-Multi: a") && has("X-Multi: b")) << j.dump();
    EXPECT_TRUE(has("Content-Type: application/json; charset=utf-8")) << j.dump();
    EXPECT_TRUE(has("Set-Cookie: plain=1")) << j.dump();
    for (const auto& h : list) EXPECT_EQ(h.find("X-Removed"), std::string::npos) << h;
}

// Once output has been flushed to the client, headers_sent() says so (with where), and a
// later header() fails with PHP's warning instead of changing the response.
TEST(PhpResponse, HeadersSentAfterFlush) {
    TempDir root;
    root.write("index.php", R"(<?php
        header('X-Before: yes');
        echo "body;";
        $before = headers_sent();
        ob_flush(); flush();
        $after = headers_sent($file, $line);
        $ok = @header('X-After: no');
        echo json_encode(['before' => $before, 'after' => $after, 'file' => basename($file), 'line' => $line]);)");
    Server server(root.path());
    auto r = get(server.url("/index.php"));
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.header("x-before"), "yes");
    EXPECT_FALSE(r.has_header("x-after"));
    ASSERT_EQ(r.body.rfind("body;", 0), 0u) << r.body;
    json j = json::parse(r.body.substr(5), nullptr, false);
    EXPECT_EQ(j["before"], false);
    EXPECT_EQ(j["after"], true);
    EXPECT_EQ(j["file"], "index.php");
    EXPECT_EQ(j["line"], 5);
}

// A Location header without a status becomes a 302, as in every PHP SAPI.
TEST(PhpResponse, LocationRedirects) {
    TempDir root;
    root.write("index.php", R"(<?php header('Location: /elsewhere?x=1'); echo "moved";)");
    Server server(root.path());
    auto r = get(server.url("/index.php"));
    EXPECT_EQ(r.status, 302);
    EXPECT_EQ(r.header("location"), "/elsewhere?x=1");
}

// getallheaders() and apache_request_headers(): every request header, names in
// Title-Case as php-fpm rebuilds them from HTTP_* variables.
TEST(PhpRequest, GetAllHeaders) {
    TempDir root;
    root.write(
        "index.php",
        R"(<?php echo json_encode(['all' => getallheaders(), 'apache' => apache_request_headers()]);)");
    Server server(root.path());
    auto r = request(server.url("/"),
                     {.method = "POST",
                      .body = "k=v",
                      .headers = {"Content-Type: application/x-www-form-urlencoded",
                                  "X-Foo-Bar: baz", "x-lower-case: small", "ACCEPT-LANGUAGE: de"}});
    ASSERT_EQ(r.status, 200) << r.body;
    json j = parse(r);
    const json& all = j["all"];
    EXPECT_EQ(all["X-Foo-Bar"], "baz") << all.dump();
    EXPECT_EQ(all["X-Lower-Case"], "small") << all.dump();
    EXPECT_EQ(all["Accept-Language"], "de") << all.dump();
    EXPECT_EQ(all["Host"], "127.0.0.1:" + std::to_string(server.port()));
    EXPECT_EQ(all["Content-Type"], "application/x-www-form-urlencoded");
    EXPECT_EQ(all["Content-Length"], "3");
    EXPECT_EQ(all["Accept"], "*/*");  // libcurl's default
    EXPECT_EQ(j["apache"], all);
}

}  // namespace
}  // namespace askr::test::php
