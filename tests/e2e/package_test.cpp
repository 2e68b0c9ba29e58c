// The Debian package (make deb, scripts/make-deb.sh): built from this build's binary,
// inspected with dpkg-deb, checked by lintian, and its binary run from the extracted
// tree. Nothing is installed on the machine.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

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
        // Built with Debian's hardening flags: fortified libc calls, stack protector,
        // relro and immediate binding (lintian's informational hardening-no-* tags).
        const std::string info = command_output("lintian -I " + path + " 2>&1");
        EXPECT_FALSE(contains(info, "hardening-no-")) << info;
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

// The relocatable tarball (make dist) serves PHP with opcache from any directory, with
// the system's PHP hidden: a private mount namespace covers /usr/lib/php and /etc/php
// with empty folders and libphp8.2.so with /dev/null.
TEST(Package, TarballRunsWithTheSystemsPhpHidden) {
    if (::geteuid() != 0 ||
        command_output("unshare --mount --propagation private true 2>&1; echo $?") != "0\n")
        GTEST_SKIP() << "hiding the system's PHP needs a mount namespace (root, CAP_SYS_ADMIN)";
    TempDir out;
    const std::string made = command_output(std::string(ASKR_SOURCE_DIR) + "/scripts/make-dist.sh " +
                                            ASKR_BINARY + " " + out.path() + " 2>&1");
    const std::string tarball = made.substr(0, made.find('\n'));
    ASSERT_TRUE(std::regex_match(tarball, std::regex(".*/askr-\\d+\\.\\d+\\.\\d+-linux-[a-z0-9_]+\\.tar\\.gz")))
        << made;
    TempDir unpacked;
    command_output("tar -C " + unpacked.path() + " -xzf " + tarball);
    const std::string dir = command_output("ls -d " + unpacked.path() + "/askr-*");
    const std::string bundle = dir.substr(0, dir.find('\n'));
    ASSERT_TRUE(fs::exists(bundle + "/bin/askr")) << dir;
    TempDir site;
    site.write("index.php", R"PHP(<?php echo json_encode([
    'opcache' => opcache_get_status()['opcache_enabled'] ?? false,
    'ini' => php_ini_loaded_file(),
    'extension_dir' => ini_get('extension_dir'),
    'mbstring' => extension_loaded('mbstring'),
]);)PHP");
    const std::string log = site.path() + "/server.log";
    const std::string script =
        "mount -t tmpfs none /usr/lib/php && mount -t tmpfs none /etc/php && "
        "mount --bind /dev/null /usr/lib/libphp8.2.so && exec " + bundle +
        "/bin/askr serve --listen 127.0.0.1:0 --admin-listen off --workers 1 --root " +
        site.path() + " >" + log + " 2>&1";
    const pid_t server = ::fork();
    if (server == 0) {
        ::execlp("unshare", "unshare", "--mount", "--propagation", "private", "sh", "-c",
                 script.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    ASSERT_GT(server, 0);
    std::smatch port;
    const std::regex listening(R"(listening on http://127\.0\.0\.1:(\d+))");
    std::string text;
    for (int i = 0; i < 200 && !std::regex_search(text, port, listening); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        text = slurp(log);
    }
    std::string body;
    if (!port.empty()) body = get("http://127.0.0.1:" + port[1].str() + "/").body;
    ::kill(server, SIGTERM);
    int status = 0;
    ::waitpid(server, &status, 0);
    ASSERT_FALSE(port.empty()) << slurp(log);
    EXPECT_TRUE(contains(body, "\"opcache\":true")) << body;
    EXPECT_TRUE(contains(body, "\"mbstring\":true")) << body;
    EXPECT_TRUE(contains(body, "\"ini\":\"" + std::regex_replace(bundle, std::regex("/"), "\\/") +
                                   "\\/etc\\/php\\/php.ini\"")) << body;
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << slurp(log);
}

}  // namespace
}  // namespace askr::test
