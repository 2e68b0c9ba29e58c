// The Debian package (make deb, scripts/make-deb.sh): built from this build's binary,
// inspected with dpkg-deb, checked by lintian, and its binary run from the extracted
// tree. Nothing is installed on the machine.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <sstream>
#include <string>

#include "harness.hpp"

namespace askr::test {
namespace {

namespace fs = std::filesystem;

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

TEST(Package, DebCarriesTheServerItsUnitAndConfigAndIsLintianClean) {
    TempDir out;
    const std::string deb = command_output(std::string(ASKR_SOURCE_DIR) + "/scripts/make-deb.sh " +
                                           ASKR_BINARY + " " + out.path() + " 2>&1");
    const std::string path = deb.substr(0, deb.find('\n'));
    ASSERT_TRUE(std::regex_match(path, std::regex(".*/askr_\\d+\\.\\d+\\.\\d+_[a-z0-9]+\\.deb")))
        << deb;
    ASSERT_TRUE(fs::exists(path)) << deb;

    const std::string depends = command_output("dpkg-deb -f " + path + " Depends");
    for (const char* library : {"libphp8.2-embed", "php8.2-opcache", "libssl3", "libnghttp2-14",
                                "libc6", "libzstd1"})
        EXPECT_TRUE(contains(depends, library)) << library << " missing from: " << depends;

    const std::string files = command_output("dpkg-deb -c " + path);
    for (const char* file :
         {"./usr/bin/askr", "./lib/systemd/system/askr.service", "./etc/askr/askr.toml",
          "./etc/logrotate.d/askr", "./usr/share/man/man1/askr.1.gz",
          "./usr/share/doc/askr/copyright", "./usr/share/doc/askr/configuration.md",
          "./usr/share/askr/laravel/worker.php", "./usr/share/askr/laravel/queue.php",
          "./usr/share/askr/php/src/Cache/SimpleCache.php",
          "./usr/share/askr/examples/hello/public/index.php"})
        EXPECT_TRUE(contains(files, std::string(file) + "\n")) << file << " not in the package";
    EXPECT_FALSE(contains(files, "examples/laravel-app/storage/")) << "a writable folder shipped";

    TempDir control;
    command_output("dpkg-deb -e " + path + " " + control.path() + "/DEBIAN");
    EXPECT_EQ(slurp(control.path() + "/DEBIAN/conffiles"), "/etc/askr/askr.toml\n/etc/logrotate.d/askr\n");
    // The maintainer scripts never enable or start the service (comments and messages
    // to the user aside).
    for (const char* script : {"postinst", "prerm", "postrm"}) {
        std::istringstream lines(slurp(control.path() + "/DEBIAN/" + script));
        for (std::string line; std::getline(lines, line);) {
            const auto code = line.find_first_not_of(" \t");
            if (code == std::string::npos || line[code] == '#' || contains(line, "echo ")) continue;
            EXPECT_FALSE(contains(line, "enable")) << script << ": " << line;
            EXPECT_FALSE(std::regex_search(line, std::regex("\\b(start|restart)\\b")))
                << script << ": " << line;
        }
    }

    if (!command_output("command -v lintian").empty()) {
        const std::string report =
            command_output("lintian --fail-on error,warning " + path + " 2>&1; echo status=$?");
        EXPECT_TRUE(contains(report, "status=0")) << report;
    }

    // The packaged binary runs, and its configuration passes config-check once its root
    // exists.
    TempDir tree;
    command_output("dpkg-deb -x " + path + " " + tree.path());
    const std::string version = command_output(tree.path() + "/usr/bin/askr version");
    EXPECT_TRUE(contains(version, "askr ")) << version;
    TempDir site;
    std::string config = slurp(tree.path() + "/etc/askr/askr.toml");
    config = std::regex_replace(config, std::regex("/var/www/html"), site.path());
    tree.write("check.toml", config);
    const std::string check =
        command_output(tree.path() + "/usr/bin/askr config-check " + tree.path() + "/check.toml 2>&1");
    EXPECT_TRUE(contains(check, ": ok (")) << check;
}

}  // namespace
}  // namespace askr::test
