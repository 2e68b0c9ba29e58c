#include "http/router.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "http/percent.hpp"

namespace askr::http {
namespace {

namespace fs = std::filesystem;
using Kind = Route::Kind;

/// A real document root on disk, built once for the suite:
///
///   root/  index.php script.php FILE.PHP x.phtml config.inc legacy.PHP5 style.css .env
///          .git/config  .well-known/acme-challenge/{token,.hidden}  docs/index.html
///          sub/{index.php,app.php}  empty/  dir.php/file.txt  "my dir"/  pipe (FIFO)
///          link_in -> style.css  link_out -> ../outside/secret.txt
///          out_dir -> ../outside  out.php -> ../outside/evil.php
///   bare/  plain.txt  (a root without any front controller)
///   outside/ secret.txt evil.php index.html
class RouterTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        char pattern[] = "/tmp/askr-router-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        char real[PATH_MAX];
        ASSERT_NE(::realpath(pattern, real), nullptr);  // /tmp may itself be a symlink
        base_ = real;
        root_ = base_ + "/root";
        bare_ = base_ + "/bare";
        const std::string outside = base_ + "/outside";
        for (const std::string& dir :
             {root_, bare_, outside, root_ + "/.git", root_ + "/.well-known/acme-challenge",
              root_ + "/docs", root_ + "/sub", root_ + "/empty", root_ + "/dir.php",
              root_ + "/my dir"}) {
            fs::create_directories(dir);
        }
        for (const char* file :
             {"/index.php", "/script.php", "/FILE.PHP", "/x.phtml", "/config.inc", "/legacy.PHP5",
              "/style.css", "/.env", "/.git/config", "/.well-known/acme-challenge/token",
              "/.well-known/acme-challenge/.hidden", "/docs/index.html", "/sub/index.php",
              "/sub/app.php", "/dir.php/file.txt"}) {
            write(root_ + file);
        }
        write(bare_ + "/plain.txt");
        write(outside + "/secret.txt");
        write(outside + "/evil.php");
        write(outside + "/index.html");
        ASSERT_EQ(::mkfifo((root_ + "/pipe").c_str(), 0600), 0);
        fs::create_symlink("style.css", root_ + "/link_in");
        fs::create_symlink("../outside/secret.txt", root_ + "/link_out");
        fs::create_symlink("../outside", root_ + "/out_dir");
        fs::create_symlink("../outside/evil.php", root_ + "/out.php");
    }

    static void TearDownTestSuite() {
        std::error_code ignored;
        fs::remove_all(base_, ignored);
    }

    static void write(const std::string& path) { std::ofstream(path) << "x"; }

    static RouterConfig config(SymlinkPolicy symlinks = SymlinkPolicy::follow) {
        RouterConfig c;
        c.root = root_;
        c.symlinks = symlinks;
        return c;
    }

    static Route get(std::string_view path, std::string_view query = "") {
        return resolve(config(), path, query);
    }

    static void expect_php(const Route& route, const std::string& script_name,
                           const std::string& path_info) {
        EXPECT_EQ(route.kind, Kind::php);
        EXPECT_EQ(route.script_name, script_name);
        EXPECT_EQ(route.path_info, path_info);
        EXPECT_EQ(route.file, root_ + script_name);
    }

    static void expect_static(const Route& route, const std::string& file) {
        EXPECT_EQ(route.kind, Kind::static_file);
        EXPECT_EQ(route.file, root_ + file);
    }

    static void expect_front_controller(const Route& route) { expect_php(route, "/index.php", ""); }

    static inline std::string base_, root_, bare_;
};

TEST(PercentDecode, DecodesEscapesOfEitherCase) {
    std::string out;
    ASSERT_TRUE(percent_decode("/a%20b%2Fc%2fd%7e+", out));
    EXPECT_EQ(out, "/a b/c/d~+");
    ASSERT_TRUE(percent_decode("", out));
    EXPECT_EQ(out, "");
    ASSERT_TRUE(percent_decode("%00", out));
    EXPECT_EQ(out, std::string(1, '\0'));
}

TEST(PercentDecode, RejectsMalformedEscapes) {
    std::string out;
    for (std::string_view bad : {"%", "%4", "/%zz", "%g0", "%0g", "abc%", "abc%a"}) {
        EXPECT_FALSE(percent_decode(bad, out)) << bad;
    }
}

TEST(PercentDecode, EncodeKeepsPathCharacters) {
    std::string out;
    percent_encode_path("/a b/\\x/ü/~:@!$&'()*+,;=", out);
    EXPECT_EQ(out, "/a%20b/%5Cx/%C3%BC/~:@!$&'()*+,;=");
}

TEST_F(RouterTest, BadRequests) {
    for (std::string_view bad : {"", "style.css", "*", "/%zz", "/%4", "/%", "/foo%00.php", "/%00",
                                 "/a\r\nSet-Cookie:x", "/a b", "/a\x7f"}) {
        EXPECT_EQ(get(bad).kind, Kind::bad_request) << bad;
    }
    EXPECT_EQ(get("/docs", "a=1\r\nX: y").kind, Kind::bad_request);
}

TEST_F(RouterTest, TraversalAboveRootIsForbidden) {
    for (std::string_view path :
         {"/../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/a/..%2f..%2fetc/passwd", "/%2E%2E/",
          "/..", "/docs/../../etc/passwd", "/%2e%2e%2fetc%2fpasswd", "/./../style.css",
          "//..//..//etc/passwd"}) {
        EXPECT_EQ(get(path).kind, Kind::forbidden) << path;
    }
}

TEST_F(RouterTest, DotSegmentsAndSlashesAreNormalised) {
    expect_static(get("/docs/../style.css"), "/style.css");
    expect_static(get("/./style.css"), "/style.css");
    expect_static(get("//style.css"), "/style.css");
    expect_static(get("/docs%2f..%2fstyle.css"), "/style.css");
    expect_static(get("/%73tyle.css"), "/style.css");
    expect_static(get("/docs/.//"), "/docs/index.html");   // "." keeps the directory form
    expect_static(get("/docs/x/.."), "/docs/index.html");  // so does a trailing ".."
    expect_php(get("/docs/.."), "/index.php", "");
}

TEST_F(RouterTest, DotFilesAreHidden) {
    for (std::string_view path :
         {"/.env", "/.git/config", "/.git/", "/.git", "/.htaccess", "/...", "/docs/.env", "/%2eenv",
          "/%2Egit/config", "/sub/.env/x", "/.well-known/acme-challenge/.hidden",
          "/docs/.well-known/x", "/script.php/.secret"}) {
        EXPECT_EQ(get(path).kind, Kind::not_found) << path;
    }
}

TEST_F(RouterTest, WellKnownIsServedOnlyAsFirstSegment) {
    expect_static(get("/.well-known/acme-challenge/token"), "/.well-known/acme-challenge/token");
    const Route redirect = get("/.well-known");
    EXPECT_EQ(redirect.kind, Kind::redirect);
    EXPECT_EQ(redirect.location, "/.well-known/");
}

TEST_F(RouterTest, PhpScriptsRun) {
    expect_php(get("/script.php"), "/script.php", "");
    expect_php(get("/FILE.PHP"), "/FILE.PHP", "");
    expect_php(get("/sub/app.php"), "/sub/app.php", "");
    expect_php(get("/index.php"), "/index.php", "");
}

TEST_F(RouterTest, PhpSourcesAreNeverServed) {
    EXPECT_EQ(get("/x.phtml").kind, Kind::not_found);
    EXPECT_EQ(get("/config.inc").kind, Kind::not_found);
    EXPECT_EQ(get("/legacy.PHP5").kind, Kind::not_found);
}

TEST_F(RouterTest, StaticFiles) {
    expect_static(get("/style.css"), "/style.css");
    expect_static(get("/dir.php/file.txt"), "/dir.php/file.txt");  // a directory named *.php
}

TEST_F(RouterTest, PathInfoSplitsAtTheFirstScript) {
    expect_php(get("/script.php/extra/path"), "/script.php", "/extra/path");
    expect_php(get("/sub/app.php/x/"), "/sub/app.php", "/x/");
    expect_php(get("/script.php/"), "/script.php", "/");
    expect_php(get("/script.php/a.php/b"), "/script.php", "/a.php/b");
    expect_php(get("/FILE.PHP/x"), "/FILE.PHP", "/x");
    expect_php(get("/script.php/a%20b//c"), "/script.php", "/a b/c");
    expect_php(get("/sub/../script.php/x"), "/script.php", "/x");
    // Not a file: no split, and what is left falls back to the front controller.
    expect_front_controller(get("/missing.php/x"));
    expect_front_controller(get("/x.phtml/x"));
}

TEST_F(RouterTest, DirectoryWithoutSlashRedirects) {
    Route route = get("/docs");
    EXPECT_EQ(route.kind, Kind::redirect);
    EXPECT_EQ(route.location, "/docs/");

    route = get("/docs", "a=1&b=%20");
    EXPECT_EQ(route.kind, Kind::redirect);
    EXPECT_EQ(route.location, "/docs/?a=1&b=%20");

    route = get("/my%20dir");  // the raw path keeps its encoding
    EXPECT_EQ(route.kind, Kind::redirect);
    EXPECT_EQ(route.location, "/my%20dir/");

    route = get("/sub/../docs");
    EXPECT_EQ(route.kind, Kind::redirect);
    EXPECT_EQ(route.location, "/sub/../docs/");

    // "//docs/" would be a network-path reference to host "docs": rebuilt instead.
    route = get("//docs", "q");
    EXPECT_EQ(route.kind, Kind::redirect);
    EXPECT_EQ(route.location, "/docs/?q");
    route = get("//my%20dir");
    EXPECT_EQ(route.location, "/my%20dir/");
}

TEST_F(RouterTest, DirectoryIndex) {
    expect_php(get("/"), "/index.php", "");
    expect_php(get("/sub/"), "/sub/index.php", "");
    expect_static(get("/docs/"), "/docs/index.html");
    expect_front_controller(get("/empty/"));  // no index: try_files' last candidate
    expect_front_controller(get("/my%20dir/"));
}

TEST_F(RouterTest, FrontControllerFallback) {
    expect_front_controller(get("/nope"));
    expect_front_controller(get("/nope/deeper/"));
    expect_front_controller(get("/missing.php"));
    expect_front_controller(get("/style.css/"));  // a file is not a directory
    expect_front_controller(get("/pipe"));        // neither file nor directory
}

TEST_F(RouterTest, NoFrontControllerIsNotFound) {
    RouterConfig c = config();
    c.root = bare_;
    EXPECT_EQ(resolve(c, "/nope", "").kind, Kind::not_found);
    EXPECT_EQ(resolve(c, "/", "").kind, Kind::not_found);
    const Route plain = resolve(c, "/plain.txt", "");
    EXPECT_EQ(plain.kind, Kind::static_file);
    EXPECT_EQ(plain.file, bare_ + "/plain.txt");
}

TEST_F(RouterTest, CustomIndexName) {
    RouterConfig c = config();
    c.index = "app.php";
    const Route sub = resolve(c, "/sub/", "");
    EXPECT_EQ(sub.kind, Kind::php);
    EXPECT_EQ(sub.script_name, "/sub/app.php");
    // The root has no app.php: nothing to fall back to.
    EXPECT_EQ(resolve(c, "/nope", "").kind, Kind::not_found);
    c.index = "style.css";  // a non-PHP index is served as a file
    const Route front = resolve(c, "/nope", "");
    EXPECT_EQ(front.kind, Kind::static_file);
    EXPECT_EQ(front.file, root_ + "/style.css");
}

TEST_F(RouterTest, RootWithTrailingSlashIsAccepted) {
    RouterConfig c = config();
    c.root = root_ + "/";
    const Route route = resolve(c, "/style.css", "");
    EXPECT_EQ(route.kind, Kind::static_file);
    EXPECT_EQ(route.file, root_ + "/style.css");
}

TEST_F(RouterTest, SymlinksFollowedByDefault) {
    expect_static(get("/link_out"), "/link_out");
    expect_static(get("/link_in"), "/link_in");
    expect_static(get("/out_dir/"), "/out_dir/index.html");
    expect_php(get("/out.php"), "/out.php", "");
}

TEST_F(RouterTest, InsideRootRefusesSymlinksLeavingTheRoot) {
    const RouterConfig c = config(SymlinkPolicy::inside_root);
    EXPECT_EQ(resolve(c, "/link_out", "").kind, Kind::forbidden);
    EXPECT_EQ(resolve(c, "/out_dir/", "").kind, Kind::forbidden);
    EXPECT_EQ(resolve(c, "/out_dir/secret.txt", "").kind, Kind::forbidden);
    EXPECT_EQ(resolve(c, "/out.php", "").kind, Kind::forbidden);
    EXPECT_EQ(resolve(c, "/out.php/info", "").kind, Kind::forbidden);
    // Links that stay inside, and ordinary files, are fine.
    const Route inside = resolve(c, "/link_in", "");
    EXPECT_EQ(inside.kind, Kind::static_file);
    EXPECT_EQ(inside.file, root_ + "/link_in");
    EXPECT_EQ(resolve(c, "/script.php/x", "").kind, Kind::php);
    EXPECT_EQ(resolve(c, "/nope", "").kind, Kind::php);
    EXPECT_EQ(resolve(c, "/docs/", "").kind, Kind::static_file);
}

TEST_F(RouterTest, InsideRootChecksThePrefixAtASegmentBoundary) {
    // A sibling "root-evil" shares the root's string prefix but is outside it.
    const std::string evil = base_ + "/root-evil";
    fs::create_directories(evil);
    write(evil + "/x.txt");
    fs::create_symlink(evil + "/x.txt", root_ + "/prefix_link");
    const RouterConfig c = config(SymlinkPolicy::inside_root);
    EXPECT_EQ(resolve(c, "/prefix_link", "").kind, Kind::forbidden);
    fs::remove(root_ + "/prefix_link");
}

TEST_F(RouterTest, UnreadableDirectoryIsForbidden) {
    if (::geteuid() == 0) GTEST_SKIP() << "root bypasses permission checks";
    const std::string locked = root_ + "/locked";
    fs::create_directories(locked);
    write(locked + "/file.txt");
    ::chmod(locked.c_str(), 0);
    EXPECT_EQ(get("/locked/file.txt").kind, Kind::forbidden);
    ::chmod(locked.c_str(), 0700);
    fs::remove_all(locked);
}

}  // namespace
}  // namespace askr::http
