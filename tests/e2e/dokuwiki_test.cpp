// A real application no one here wrote: DokuWiki from Debian's `dokuwiki` package
// (scripts/install-deps.sh), served from /usr/share/dokuwiki with its front controller
// doku.php. Its data and plugins are symlinks into /var/lib/dokuwiki and /etc/dokuwiki,
// so this also covers following symlinks out of the root. nginx + php-fpm serving the
// same installation is the reference: the pages must come out the same.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "harness.hpp"
#include "php_support.hpp"

namespace askr::test::php {
namespace {

constexpr const char* docroot = "/usr/share/dokuwiki";
constexpr const char* data_dir = "/var/lib/dokuwiki/data";

// DokuWiki's data belongs to www-data (php-fpm's user). Askr runs here as root and
// creates root-owned cache files there, which php-fpm then could not update; this gives
// them back (bench/lib/anchors.sh dokuwiki-fix-perms), before and after the test.
void give_data_back_to_www_data() {
    run_command(std::string("bash '") + ASKR_SOURCE_DIR +
                "/bench/lib/anchors.sh' dokuwiki-fix-perms 2>/dev/null");
}

struct DataOwnership {
    DataOwnership() { give_data_back_to_www_data(); }
    ~DataOwnership() { give_data_back_to_www_data(); }
};

std::string title_of(const std::string& html) {
    std::smatch m;
    return std::regex_search(html, m, std::regex("<title>([^<]*)</title>")) ? m[1].str()
                                                                            : std::string();
}

// What legitimately differs between two servers rendering the same page: the port in
// absolute URLs (canonical link) and the time stamp DokuWiki puts on its task runner
// image (a cache buster, the request's time).
std::string normalised(std::string html, std::uint16_t port) {
    html = std::regex_replace(html, std::regex(":" + std::to_string(port) + "/"), ":PORT/");
    return std::regex_replace(html, std::regex("(taskrunner\\.php\\?id=[^\"&]*&amp;)[0-9]+"),
                              "$1TIME");
}

TEST(DokuWiki, RendersPagesLikeNginxPhpFpm) {
    if (!std::filesystem::exists(std::string(docroot) + "/doku.php")) {
        GTEST_SKIP() << "Debian's dokuwiki package is not installed (scripts/install-deps.sh)";
    }
    ASSERT_TRUE(std::filesystem::exists(std::string(data_dir) + "/pages/wiki/syntax.txt"));
    DataOwnership ownership;

    // The reference first: php-fpm runs as www-data and must find the data its own.
    NginxFpm reference(docroot, "doku.php");
    ASSERT_TRUE(reference.ok());
    auto ref_page = request(reference.anchor_url("/doku.php?id=wiki:syntax"));
    auto ref_missing = request(reference.anchor_url("/doku.php?id=playground:no_such_page_e2e"));
    auto ref_start = request(reference.anchor_url("/"));
    auto ref_logo = request(reference.anchor_url("/lib/tpl/dokuwiki/images/logo.png"));
    auto ref_css = request(reference.anchor_url("/lib/exe/css.php?t=dokuwiki"));
    ASSERT_EQ(ref_page.status, 200) << ref_page.body.substr(0, 2000) << reference.php_errors();
    reference.stop();

    // As in production: PHP runs as www-data, the owner of DokuWiki's data.
    Server server(docroot, {"--index", "doku.php", "--user", "www-data"});
    auto page = get(server.url("/doku.php?id=wiki:syntax"));

    // What a user sees: the page, its title, its content.
    EXPECT_EQ(page.status, 200) << page.body.substr(0, 2000);
    EXPECT_EQ(title_of(page.body), "wiki:syntax [Debian DokuWiki]");
    EXPECT_EQ(title_of(page.body), title_of(ref_page.body));
    for (const char* marker :
         {"<!-- wikipage start -->", "id=\"formatting_syntax\"", "Formatting Syntax",
          "</a> supports some simple markup language", "<!-- wikipage stop -->"}) {
        EXPECT_NE(page.body.find(marker), std::string::npos) << marker;
        EXPECT_NE(ref_page.body.find(marker), std::string::npos) << marker << " (nginx+fpm)";
    }
    // No installer or permission notice instead of the page.
    EXPECT_EQ(page.body.find("install.php"), std::string::npos);
    EXPECT_EQ(page.body.find("class=\"error\""), std::string::npos);
    EXPECT_EQ(page.header("content-type"), ref_page.header("content-type"));
    // The whole document, byte for byte, but for the port and a time stamp.
    EXPECT_EQ(normalised(page.body, server.port()),
              normalised(ref_page.body, reference.anchor_port()))
        << "DokuWiki's page differs between Askr and nginx+php-fpm";

    // A page that does not exist: DokuWiki answers 404 with its "does not exist" page.
    auto missing = get(server.url("/doku.php?id=playground:no_such_page_e2e"));
    EXPECT_EQ(missing.status, ref_missing.status);
    EXPECT_EQ(title_of(missing.body), title_of(ref_missing.body));

    // The root reaches doku.php as the directory index.
    auto start = get(server.url("/"));
    EXPECT_EQ(start.status, ref_start.status);
    EXPECT_EQ(title_of(start.body), title_of(ref_start.body));

    // A static file through the lib/tpl symlink into /var/lib/dokuwiki.
    auto logo = get(server.url("/lib/tpl/dokuwiki/images/logo.png"));
    EXPECT_EQ(logo.status, 200);
    EXPECT_EQ(logo.status, ref_logo.status);
    EXPECT_EQ(logo.header("content-type"), "image/png");
    EXPECT_TRUE(logo.body == ref_logo.body) << "logo.png differs";

    // DokuWiki's CSS dispatcher (a PHP script under lib/exe) answers with CSS.
    auto css = get(server.url("/lib/exe/css.php?t=dokuwiki"));
    EXPECT_EQ(css.status, 200);
    EXPECT_EQ(css.status, ref_css.status);
    EXPECT_EQ(css.header("content-type"), ref_css.header("content-type"));
    EXPECT_GT(css.body.size(), 1000u);
}

}  // namespace
}  // namespace askr::test::php
