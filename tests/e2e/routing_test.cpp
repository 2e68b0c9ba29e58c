// End-to-end routing of `askr serve`, the way a PHP app expects to be reached:
// static files, .php execution, directory indexes and redirects, the front controller,
// PATH_INFO, --index, and what must never be served: PHP source, dotfiles, anything outside
// the document root (through "..", "%2e%2e", "%2f") and, with --symlinks inside-root, files
// reached through symlinks that leave the root.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "harness.hpp"

namespace askr::test {
namespace {

namespace fs = std::filesystem;

/// A raw response split into status, head and body.
struct Raw {
    int status = 0;
    std::string head;
    std::string body;
};

/// Sends `GET target` byte for byte as given (no client-side normalisation of "..",
/// "%2e" or "%2f", which curl would apply) and reads the answer until the server closes.
Raw raw_get(const Server& server, const std::string& target, const std::string& method = "GET") {
    const std::string response = raw_exchange(
        server.port(),
        method + " " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    Raw raw;
    raw.status = raw_status(response);
    const auto end = response.find("\r\n\r\n");
    raw.head = response.substr(0, end);
    if (end != std::string::npos) raw.body = response.substr(end + 4);
    return raw;
}

bool ends_with(const std::string& text, const std::string& suffix) {
    return text.size() >= suffix.size() &&
           text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// The front controller of these tests: says which script ran and with what.
constexpr const char* kReportScript = R"(<?php
    echo basename(__FILE__), '|', $_SERVER['REQUEST_URI'], '|', $_SERVER['SCRIPT_NAME'], '|',
         $_SERVER['PATH_INFO'] ?? '', '|', $_SERVER['QUERY_STRING'];)";

TEST(Routing, ExistingStaticFileIsServed) {
    TempDir root;
    root.write("index.php", kReportScript);
    root.write("robots.txt", "User-agent: *\n");
    root.write("assets/deep/data.json", R"({"a":1})");
    Server server(root.path());
    auto robots = get(server.url("/robots.txt"));
    EXPECT_EQ(robots.status, 200);
    EXPECT_EQ(robots.body, "User-agent: *\n");
    auto json = get(server.url("/assets/deep/data.json?cache=bust"));
    EXPECT_EQ(json.status, 200);
    EXPECT_EQ(json.body, R"({"a":1})");
}

TEST(Routing, PhpFilesAreExecutedNeverServedAsSource) {
    TempDir root;
    root.write("index.php", kReportScript);
    root.write("info.php", "<?php echo 'executed ', 6 * 7;");
    root.write("sub/tool.php", "<?php echo 'tool ', $_GET['x'] ?? '';");
    root.write("Upper.PHP", "<?php echo 'upper executed';");
    Server server(root.path());
    auto info = get(server.url("/info.php"));
    EXPECT_EQ(info.status, 200);
    EXPECT_EQ(info.body, "executed 42");
    auto tool = get(server.url("/sub/tool.php?x=1"));
    EXPECT_EQ(tool.status, 200);
    EXPECT_EQ(tool.body, "tool 1");
    // Whatever the case of the extension: run it or refuse it, never show it.
    auto upper = get(server.url("/Upper.PHP"));
    EXPECT_EQ(upper.body.find("<?php"), std::string::npos) << upper.body;
    EXPECT_TRUE(upper.status == 200 || upper.status == 403 || upper.status == 404) << upper.status;
    for (const std::string path : {"/info.php", "/index.php", "/sub/tool.php"}) {
        auto response = get(server.url(path));
        EXPECT_EQ(response.body.find("<?php"), std::string::npos) << path << ": " << response.body;
    }
}

TEST(Routing, DirectoryServesIndexPhpThenIndexHtml) {
    TempDir root;
    root.write("index.php", kReportScript);
    root.write("both/index.php", kReportScript);
    root.write("both/index.html", "<p>html of both</p>");
    root.write("html-only/index.html", "<p>html only</p>");
    Server server(root.path());
    auto both = get(server.url("/both/"));
    EXPECT_EQ(both.status, 200);
    EXPECT_EQ(both.body, "index.php|/both/|/both/index.php||");
    auto html = get(server.url("/html-only/"));
    EXPECT_EQ(html.status, 200);
    EXPECT_EQ(html.body, "<p>html only</p>");
    EXPECT_EQ(html.header("content-type").rfind("text/html", 0), 0u) << html.header("content-type");
    auto top = get(server.url("/?page=1"));
    EXPECT_EQ(top.status, 200);
    EXPECT_EQ(top.body, "index.php|/?page=1|/index.php||page=1");
}

TEST(Routing, DirectoryWithoutTrailingSlashRedirects) {
    TempDir root;
    root.write("index.php", kReportScript);
    root.write("docs/index.html", "docs");
    root.write("docs/v1/index.html", "v1");
    Server server(root.path());
    auto plain = get(server.url("/docs"));
    EXPECT_EQ(plain.status, 301);
    const std::string location = plain.header("location");
    EXPECT_TRUE(location == "/docs/" || location == server.url("/docs/")) << location;
    auto with_query = get(server.url("/docs/v1?lang=en&x=%20y"));
    EXPECT_EQ(with_query.status, 301);
    const std::string query_location = with_query.header("location");
    EXPECT_TRUE(ends_with(query_location, "/docs/v1/?lang=en&x=%20y"))
        << "Location must add the slash and keep the query: " << query_location;
    // A redirect that points elsewhere ("//evil.example/") would be an open redirect.
    auto double_slash = raw_get(server, "//docs");
    if (double_slash.status == 301) {
        EXPECT_EQ(double_slash.head.find("Location: //"), std::string::npos) << double_slash.head;
    }
}

TEST(Routing, PercentEncodedNamesAreDecoded) {
    TempDir root;
    root.write("index.php", kReportScript);
    root.write("my file.txt", "with a space");
    root.write("100%.txt", "percent");
    root.write("caf\xc3\xa9.txt", "utf-8 name");
    root.write("my dir/index.html", "dir with a space");
    Server server(root.path());
    EXPECT_EQ(get(server.url("/my%20file.txt")).body, "with a space");
    EXPECT_EQ(get(server.url("/100%25.txt")).body, "percent");
    EXPECT_EQ(get(server.url("/caf%C3%A9.txt")).body, "utf-8 name");
    auto directory = get(server.url("/my%20dir"));
    EXPECT_EQ(directory.status, 301);
    const std::string location = directory.header("location");
    EXPECT_TRUE(ends_with(location, "/my%20dir/")) << location;
    EXPECT_EQ(get(server.url("/my%20dir/")).body, "dir with a space");
    // Broken percent-encoding is a bad request (nginx: 400), not a file name.
    for (const std::string target : {"/%zz", "/a%2", "/%"}) {
        auto response = raw_get(server, target);
        EXPECT_EQ(response.status, 400) << target << "\n" << response.head;
    }
}

TEST(Routing, UnknownPathGoesToTheFrontControllerWithTheOriginalUri) {
    TempDir root;
    root.write("index.php", kReportScript);
    Server server(root.path());
    auto response = get(server.url("/blog/2024/hello-world?utm=x&y=%2F"));
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body,
              "index.php|/blog/2024/hello-world?utm=x&y=%2F|/index.php||utm=x&y=%2F");
    // A missing file with a static-looking name is the app's to answer too (nginx try_files).
    auto missing_asset = get(server.url("/missing.css"));
    EXPECT_EQ(missing_asset.status, 200);
    EXPECT_EQ(missing_asset.body, "index.php|/missing.css|/index.php||");
    // A missing .php script also falls back to the front controller, without PATH_INFO.
    auto missing_script = get(server.url("/nothere.php/x"));
    EXPECT_EQ(missing_script.status, 200);
    EXPECT_EQ(missing_script.body, "index.php|/nothere.php/x|/index.php||");
}

TEST(Routing, IndexOptionChangesDirectoryIndexAndFrontController) {
    TempDir root;
    root.write("doku.php", kReportScript);
    root.write("index.php", "<?php echo 'WRONG: index.php ran';");
    root.write("lib/doku.php", kReportScript);
    root.write("lib/index.php", "<?php echo 'WRONG: lib/index.php ran';");
    root.write("plain/index.html", "plain html");
    Server server(root.path(), {"--index", "doku.php"});
    auto top = get(server.url("/"));
    EXPECT_EQ(top.status, 200);
    EXPECT_EQ(top.body, "doku.php|/|/doku.php||");
    auto lib = get(server.url("/lib/"));
    EXPECT_EQ(lib.status, 200);
    EXPECT_EQ(lib.body, "doku.php|/lib/|/lib/doku.php||");
    auto pretty = get(server.url("/wiki/start?do=edit"));
    EXPECT_EQ(pretty.status, 200);
    EXPECT_EQ(pretty.body, "doku.php|/wiki/start?do=edit|/doku.php||do=edit");
    auto html = get(server.url("/plain/"));  // index.html stays the second choice
    EXPECT_EQ(html.status, 200);
    EXPECT_EQ(html.body, "plain html");
    auto explicit_index = get(server.url("/index.php"));  // still a script of its own
    EXPECT_EQ(explicit_index.body, "WRONG: index.php ran");
}

TEST(Routing, ScriptWithExtraPathGetsPathInfo) {
    TempDir root;
    root.write("index.php", kReportScript);
    root.write("script.php", kReportScript);
    root.write("api/v1.php", kReportScript);
    Server server(root.path());
    auto response = get(server.url("/script.php/extra/path"));
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "script.php|/script.php/extra/path|/script.php|/extra/path|");
    auto nested = get(server.url("/api/v1.php/users/7?fields=name"));
    EXPECT_EQ(nested.status, 200);
    EXPECT_EQ(nested.body,
              "v1.php|/api/v1.php/users/7?fields=name|/api/v1.php|/users/7|fields=name");
    auto encoded = get(server.url("/script.php/a%20b"));
    EXPECT_EQ(encoded.status, 200);
    EXPECT_EQ(encoded.body, "script.php|/script.php/a%20b|/script.php|/a b|")
        << "PATH_INFO is decoded, as in php-fpm";
}

TEST(Routing, WithoutFrontControllerUnknownPathIs404) {
    TempDir root;
    root.write("page.html", "page");
    Server server(root.path());
    EXPECT_EQ(get(server.url("/page.html")).status, 200);
    auto missing = get(server.url("/missing"));
    EXPECT_EQ(missing.status, 404);
    auto top = get(server.url("/"));  // a directory without any index
    EXPECT_TRUE(top.status == 403 || top.status == 404) << top.status;
}

TEST(Routing, DotfilesAreNeverServed) {
    TempDir root;
    root.write("index.php", kReportScript);
    root.write(".env", "DB_PASSWORD=secret-env");
    root.write(".git/config", "[remote] url = secret-git");
    root.write(".git/HEAD", "ref: secret-head");
    root.write(".htaccess", "Deny from all # secret-htaccess");
    root.write("sub/.env", "secret-sub-env");
    root.write(".hidden/page.php", "<?php echo 'secret-php-in-dot-dir';");
    Server server(root.path());
    const std::vector<std::string> targets = {
        "/.env",   "/.git/config",   "/.git/HEAD",    "/.git/",
        "/.git",   "/.htaccess",     "/sub/.env",     "/.hidden/page.php",
        "/%2eenv", "/%2Egit/config", "/sub/%2eenv",   "/x/../.env",
        "/./.env", "/.env?x=1",      "/.git//config", "/index.php/../.env",
    };
    for (const auto& target : targets) {
        auto response = raw_get(server, target);
        EXPECT_TRUE(response.status == 403 || response.status == 404)
            << target << " got " << response.status << "\n"
            << response.head;
        EXPECT_EQ(response.body.find("secret"), std::string::npos)
            << target << ": " << response.body;
    }
}

TEST(Routing, WellKnownStaysReachable) {
    TempDir root;
    root.write("index.php", kReportScript);
    root.write(".well-known/acme-challenge/token123", "token123.thumbprint");
    root.write(".well-known/security.txt", "Contact: mailto:sec@example.org\n");
    Server server(root.path());
    auto token = get(server.url("/.well-known/acme-challenge/token123"));
    EXPECT_EQ(token.status, 200);
    EXPECT_EQ(token.body, "token123.thumbprint");
    auto security = get(server.url("/.well-known/security.txt"));
    EXPECT_EQ(security.status, 200);
    EXPECT_EQ(security.body, "Contact: mailto:sec@example.org\n");
}

TEST(Routing, TraversalNeverLeavesTheRoot) {
    TempDir outer;
    outer.write("secret.txt", "root:x:0:0:outside-the-document-root");
    outer.write("public/index.php", kReportScript);
    outer.write("public/a/b/file.txt", "inside");
    Server server(outer.path() + "/public");
    // Enough ".." to climb from any /tmp/askr-e2e-* root to "/".
    std::string up;
    for (int i = 0; i < 8; ++i) up += "../";
    std::string encoded_up;
    for (int i = 0; i < 8; ++i) encoded_up += "..%2f";
    const std::vector<std::string> targets = {
        "/../etc/passwd",
        "/" + up + "etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/a/..%2f..%2f..%2fetc/passwd",
        "/a/" + encoded_up + "etc/passwd",
        "/..%2f..%2fetc%2fpasswd",
        "/%2e%2e%2f" + encoded_up + "etc%2fpasswd",
        "/%2E%2E/%2E%2E/etc/passwd",
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/a/b/../../../secret.txt",
        "/a/b/%2e%2e/%2e%2e/%2e%2e/secret.txt",
        "/.%2e/secret.txt",
        "/%2e./secret.txt",
        "/..%5csecret.txt",
        "/index.php/../../secret.txt",
        "/..%00/secret.txt",
    };
    for (const auto& target : targets) {
        auto response = raw_get(server, target);
        EXPECT_TRUE(response.status == 400 || response.status == 403 || response.status == 404)
            << target << " got " << response.status << "\n"
            << response.head << "\n"
            << response.body;
        EXPECT_EQ(response.body.find("root:"), std::string::npos)
            << target << ": " << response.body;
        EXPECT_EQ(response.body.find("outside-the-document-root"), std::string::npos) << target;
    }
    // Double encoding is decoded once only: "%2e%2e" is then a name, not a dot segment, and
    // the request may reach the front controller, but never the file.
    auto double_encoded = raw_get(server, "/%252e%252e/secret.txt");
    EXPECT_EQ(double_encoded.body.find("outside-the-document-root"), std::string::npos)
        << double_encoded.body;
    // Dot segments that stay inside the root are fine.
    auto inside = raw_get(server, "/a/b/../b/./file.txt");
    EXPECT_EQ(inside.status, 200);
    EXPECT_EQ(inside.body, "inside");
}

TEST(Routing, PhpIncludeFilesAreNotServedAsSource) {
    TempDir root;
    root.write("index.php", kReportScript);
    root.write("view.phtml", "<?php echo 'x'; // secret-phtml ?>");
    root.write("config.inc", "<?php $password = 'secret-inc';");
    root.write("lib/db.inc.php", "<?php // included only");
    root.write("old.php5", "<?php // secret-php5");
    root.write("source.phps", "<?php // secret-phps");
    root.write("Upper.PHTML", "<?php // secret-upper");
    Server server(root.path());
    for (const std::string target :
         {"/view.phtml", "/config.inc", "/old.php5", "/source.phps", "/Upper.PHTML"}) {
        auto response = get(server.url(target));
        EXPECT_EQ(response.body.find("<?php"), std::string::npos)
            << target << ": " << response.body;
        EXPECT_EQ(response.body.find("secret"), std::string::npos)
            << target << ": " << response.body;
        EXPECT_NE(response.status, 200) << target << " answered 200 with: " << response.body;
    }
}

// The copies an editor or a deployment leaves beside a PHP file hold its source too.
TEST(Routing, BackupAndEditorCopiesOfPhpFilesAreNotServed) {
    TempDir root;
    root.write("index.php", kReportScript);
    const std::vector<std::string> copies = {"index.php.bak", "old.php~",     "a.php.orig",
                                             "b.php.save",    "c.php.swp",    "d.PHP.BAK",
                                             "e.php.old",     "#config.php#", "f.php.dist"};
    for (const auto& name : copies) root.write(name, "<?php // secret-copy " + name);
    root.write("notes.txt~", "a backup of a text file is served");
    Server server(root.path());
    for (const auto& name : copies) {
        const std::string target = "/" + (name.front() == '#' ? "%23config.php%23" : name);
        auto response = get(server.url(target));
        EXPECT_EQ(response.status, 404) << target << ": " << response.body;
        EXPECT_EQ(response.body.find("secret"), std::string::npos) << target;
    }
    EXPECT_EQ(get(server.url("/notes.txt~")).status, 200);
}

/// A document root with links out of it, as Debian's packaged apps have them.
struct SymlinkLayout {
    TempDir outer;
    std::string root;
    SymlinkLayout() {
        outer.write("elsewhere/data.txt", "data from outside");
        outer.write("elsewhere/lib/tool.php", "<?php echo 'tool outside ran';");
        outer.write("public/index.php", kReportScript);
        outer.write("public/real.txt", "real inside");
        root = outer.path() + "/public";
        fs::create_symlink(outer.path() + "/elsewhere/data.txt", root + "/link.txt");
        fs::create_directory_symlink(outer.path() + "/elsewhere/lib", root + "/lib");
        fs::create_symlink(root + "/real.txt", root + "/inner-link.txt");
    }
};

TEST(Routing, SymlinksOutOfTheRootAreFollowedByDefault) {
    SymlinkLayout layout;
    Server server(layout.root);
    auto file = get(server.url("/link.txt"));
    EXPECT_EQ(file.status, 200);
    EXPECT_EQ(file.body, "data from outside");
    auto script = get(server.url("/lib/tool.php"));
    EXPECT_EQ(script.status, 200);
    EXPECT_EQ(script.body, "tool outside ran");
}

TEST(Routing, SymlinksOutOfTheRootAreRefusedWithInsideRoot) {
    SymlinkLayout layout;
    Server server(layout.root, {"--symlinks", "inside-root"});
    for (const std::string target : {"/link.txt", "/lib/tool.php"}) {
        auto response = get(server.url(target));
        EXPECT_TRUE(response.status == 403 || response.status == 404)
            << target << " got " << response.status;
        EXPECT_EQ(response.body.find("outside"), std::string::npos)
            << target << ": " << response.body;
    }
    // Links that stay inside the root, and ordinary files, still work.
    auto inner = get(server.url("/inner-link.txt"));
    EXPECT_EQ(inner.status, 200);
    EXPECT_EQ(inner.body, "real inside");
    auto front = get(server.url("/anything"));
    EXPECT_EQ(front.status, 200);
    EXPECT_EQ(front.body, "index.php|/anything|/index.php||");
}

}  // namespace
}  // namespace askr::test
