// Which files X-Sendfile may name: realpath() under a root, on a path-component boundary,
// on a real directory tree with `..` and symbolic links.
#include "worker/sendfile.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <vector>

namespace askr::worker {
namespace {

namespace fs = std::filesystem;

class SendfileRoots : public ::testing::Test {
  protected:
    SendfileRoots() {
        char pattern[] = "/tmp/askr-sendfile-XXXXXX";
        base = fs::canonical(::mkdtemp(pattern)).string();
        for (const char* dir : {"files/sub", "files-private", "outside"})
            fs::create_directories(base + "/" + dir);
        for (const char* file :
             {"files/a.txt", "files/sub/b.txt", "files-private/c.txt", "outside/d.txt"})
            std::ofstream(base + "/" + file) << "x";
        fs::create_symlink(base + "/outside/d.txt", base + "/files/out-link");
        fs::create_symlink(base + "/files/sub/b.txt", base + "/files/in-link");
        roots = {base + "/files"};
    }
    ~SendfileRoots() override { fs::remove_all(base); }

    std::string base;
    std::vector<std::string> roots;
};

TEST_F(SendfileRoots, FilesUnderARootAreAllowedByTheirRealPath) {
    EXPECT_EQ(resolve_sendfile(roots, base + "/files/a.txt").path, base + "/files/a.txt");
    EXPECT_EQ(resolve_sendfile(roots, base + "/files/sub/../sub/./b.txt").path,
              base + "/files/sub/b.txt");
    EXPECT_EQ(resolve_sendfile(roots, base + "/files/in-link").path, base + "/files/sub/b.txt");
    const std::vector<std::string> all = {"/"};
    EXPECT_EQ(resolve_sendfile(all, base + "/outside/d.txt").path, base + "/outside/d.txt");
}

TEST_F(SendfileRoots, EscapesAndOtherPathsAreRefusedWithAReason) {
    std::string with_nul = base + "/files/a.txt";
    with_nul += '\0';
    with_nul += "x";
    struct Case {
        std::string path, reason;
    } cases[] = {
        {base + "/outside/d.txt", "outside every sendfile root"},
        {base + "/files/../outside/d.txt", "outside every sendfile root"},
        {base + "/files/out-link", "outside every sendfile root"},
        {base + "/files-private/c.txt", "outside every sendfile root"},
        {base + "/files", "outside every sendfile root"},  // the root itself is no file
        {base + "/files/missing", "No such file or directory"},
        {"files/a.txt", "not an absolute path"},
        {"", "not an absolute path"},
        {with_nul, "NUL"},
    };
    for (const auto& c : cases) {
        const auto target = resolve_sendfile(roots, c.path);
        EXPECT_TRUE(target.path.empty()) << c.path;
        EXPECT_NE(target.error.find(c.reason), std::string::npos) << c.path << ": " << target.error;
    }
    EXPECT_TRUE(resolve_sendfile({}, base + "/files/a.txt").path.empty()) << "no root, no file";
}

}  // namespace
}  // namespace askr::worker
