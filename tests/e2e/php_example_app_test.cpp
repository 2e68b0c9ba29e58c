// The bundled example app (examples/hello/public, what `make serve` shows) works as its
// pages promise: the front page shows the request, the form echoes a POST, the upload
// page reports the uploaded file, and the page's stylesheet is served.
#include <gtest/gtest.h>

#include "harness.hpp"
#include "php_support.hpp"

namespace askr::test::php {
namespace {

const std::string app_root = std::string(ASKR_SOURCE_DIR) + "/examples/hello/public";

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

TEST(PhpExampleApp, FrontPageFormAndUpload) {
    Server server(app_root);

    // Front page: method, URI, query, headers, $_SERVER highlights; links to the rest.
    auto front = request(server.url("/?lang=en&q=%3Cb%3E"), {.headers = {"X-Demo: hello-header"}});
    ASSERT_EQ(front.status, 200) << front.body;
    EXPECT_EQ(front.header("content-type"), "text/html; charset=utf-8");
    EXPECT_TRUE(contains(front.body, "<title>Request · Askr hello</title>")) << front.body;
    EXPECT_TRUE(contains(front.body, "<link rel=\"stylesheet\" href=\"/style.css\">"));
    EXPECT_TRUE(contains(front.body, "<th>lang</th><td>en</td>"));
    EXPECT_TRUE(contains(front.body, "<th>q</th><td>&lt;b&gt;</td>"))
        << "query values must be escaped";
    EXPECT_FALSE(contains(front.body, "<b>"));
    EXPECT_TRUE(contains(front.body, "<th>X-Demo</th><td>hello-header</td>"));
    EXPECT_TRUE(contains(front.body, "<th>REQUEST_METHOD</th><td>GET</td>"));
    EXPECT_TRUE(
        contains(front.body, "<th>SERVER_PORT</th><td>" + std::to_string(server.port()) + "</td>"));
    EXPECT_TRUE(contains(front.body, "on askr</footer>"));
    EXPECT_TRUE(contains(front.body, "href=\"/form\"") && contains(front.body, "href=\"/upload\""));

    // The static asset the page uses.
    auto css = get(server.url("/style.css"));
    EXPECT_EQ(css.status, 200);
    EXPECT_EQ(css.header("content-type").rfind("text/css", 0), 0u) << css.header("content-type");
    EXPECT_TRUE(contains(css.body, "--accent"));

    // Form POST: $_POST shown back, escaped.
    auto form = request(server.url("/form"),
                        {.method = "POST",
                         .body = "name=Ada+%26+Bob&message=%3Cscript%3Ex%3C%2Fscript%3E&colors%5B%"
                                 "5D=red&colors%5B%5D=blue",
                         .headers = {"Content-Type: application/x-www-form-urlencoded"}});
    ASSERT_EQ(form.status, 200) << form.body;
    EXPECT_TRUE(contains(form.body, "<h2>You posted ($_POST)</h2>")) << form.body;
    EXPECT_TRUE(contains(form.body, "<th>name</th><td>Ada &amp; Bob</td>")) << form.body;
    EXPECT_TRUE(contains(form.body, "<th>message</th><td>&lt;script&gt;x&lt;/script&gt;</td>"))
        << form.body;
    EXPECT_TRUE(contains(form.body, "<th>colors</th><td>[&quot;red&quot;,&quot;blue&quot;]</td>"))
        << form.body;
    EXPECT_FALSE(contains(form.body, "<script>"));

    // Upload: name, size, type and SHA-256 of the file.
    TempDir files;
    std::string content;
    for (int i = 0; i < 50000; ++i) content += static_cast<char>((i * 7 + 3) % 256);
    const std::string path = files.write("notes.txt", content);
    int status = 0;
    const std::string sha = run_command("sha256sum '" + path + "'", &status).substr(0, 64);
    ASSERT_EQ(status, 0);
    auto upload =
        request(server.url("/upload"), {.method = "POST", .multipart = {{"file", "@" + path}}});
    ASSERT_EQ(upload.status, 200) << upload.body;
    EXPECT_TRUE(contains(upload.body, "<th>name</th><td>notes.txt</td>")) << upload.body;
    EXPECT_TRUE(contains(upload.body, "<th>size</th><td>50000 bytes</td>")) << upload.body;
    EXPECT_TRUE(contains(upload.body, "<th>type</th><td>text/plain</td>")) << upload.body;
    EXPECT_TRUE(contains(upload.body, "<th>sha256</th><td>" + sha + "</td>")) << upload.body;

    // Any other URL reaches the front controller, which answers with its own 404.
    auto missing = get(server.url("/no/such/page"));
    EXPECT_EQ(missing.status, 404);
    EXPECT_TRUE(contains(missing.body, "No page at <code>/no/such/page</code>"));
}

}  // namespace
}  // namespace askr::test::php
