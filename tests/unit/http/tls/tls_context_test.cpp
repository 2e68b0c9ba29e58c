#include "http/tls/tls_context.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "http/tls/self_signed.hpp"

namespace askr::http::tls {
namespace {

namespace fs = std::filesystem;

struct TempDir {
    TempDir() {
        char pattern[] = "/tmp/askr-unit-tls-XXXXXX";
        path = ::mkdtemp(pattern);
    }
    ~TempDir() { fs::remove_all(path); }
    std::string path;
};

std::string error_of(const std::string& cert, const std::string& key) {
    try {
        TlsContext context(cert, key);
    } catch (const config::ConfigError& e) {
        return e.what();
    }
    return "";
}

constexpr std::string_view h1_only[] = {"http/1.1"};
constexpr std::string_view h2_then_h1[] = {"h2", "http/1.1"};

TEST(Alpn, WireFormatIsLengthPrefixed) {
    EXPECT_EQ(alpn_wire(h1_only), std::string("\x08http/1.1"));
    EXPECT_EQ(alpn_wire(h2_then_h1), std::string("\x02h2\x08http/1.1"));
}

TEST(Alpn, TheServersPreferenceWins) {
    const std::string client = alpn_wire(h2_then_h1);
    EXPECT_EQ(choose_alpn(h1_only, client), "http/1.1");
    constexpr std::string_view client_order[] = {"http/1.1", "h2"};
    EXPECT_EQ(choose_alpn(h2_then_h1, alpn_wire(client_order)), "h2");
    EXPECT_FALSE(choose_alpn(h1_only, std::string("\x02h2")));
    EXPECT_FALSE(choose_alpn(h1_only, ""));
}

TEST(Alpn, MalformedListsAreRefusedInEverySlice) {
    const std::string good = alpn_wire(h2_then_h1);
    // Every truncation of a valid list either still holds "h2" whole or is malformed:
    // never a read past the end, never a partial name.
    for (std::size_t n = 0; n < good.size(); ++n) {
        auto chosen = choose_alpn(h1_only, std::string_view(good).substr(0, n));
        EXPECT_FALSE(chosen) << n;
    }
    EXPECT_FALSE(choose_alpn(h1_only, std::string("\x00\x08http/1.1", 10)));  // zero-length name
    EXPECT_FALSE(choose_alpn(h1_only, std::string("\x09http/1.1")));          // runs past the end
}

TEST(SelfSigned, NamesCoverLocalhostAndTheListenHosts) {
    EXPECT_EQ(self_signed_names({"127.0.0.1"}), (std::vector<std::string>{"localhost", "127.0.0.1", "::1"}));
    EXPECT_EQ(self_signed_names({"192.0.2.1", "::1"}),
              (std::vector<std::string>{"localhost", "127.0.0.1", "::1", "192.0.2.1"}));
    EXPECT_EQ(self_signed_names({"0.0.0.0"}, "box.example"),
              (std::vector<std::string>{"localhost", "127.0.0.1", "::1", "box.example"}));
    EXPECT_EQ(self_signed_names({"::"}, "bad,name"), (std::vector<std::string>{"localhost", "127.0.0.1", "::1"}));
}

TEST(SelfSigned, GeneratesOnceThenReusesAndTheContextLoadsIt) {
    TempDir tmp;
    const std::string dir = tmp.path + "/tls";
    const auto names = self_signed_names({"127.0.0.1"});
    auto first = ensure_self_signed(dir, names);
    EXPECT_TRUE(first.generated);
    EXPECT_EQ(fs::status(dir).permissions() & fs::perms::all, fs::perms::owner_all);
    EXPECT_EQ(fs::status(first.key_file).permissions() & fs::perms::all,
              fs::perms::owner_read | fs::perms::owner_write);
    auto second = ensure_self_signed(dir, names);
    EXPECT_FALSE(second.generated);
    TlsContext context(second.cert_file, second.key_file);
    EXPECT_NE(context.native_handle(), nullptr);
    EXPECT_NE(context.description().find("localhost 127.0.0.1 ::1"), std::string::npos) << context.description();
    EXPECT_FALSE(context.expires_within_days(30));
    EXPECT_TRUE(context.expires_within_days(100));  // 90 days of validity
    // A listen address the certificate does not cover: made again.
    EXPECT_TRUE(ensure_self_signed(dir, self_signed_names({"192.0.2.1"})).generated);
}

TEST(SelfSigned, RefusesADirectoryThatIsASymlink) {
    TempDir tmp;
    fs::create_directory_symlink("/tmp", tmp.path + "/link");
    EXPECT_THROW(ensure_self_signed(tmp.path + "/link", {"localhost"}), config::ConfigError);
}

TEST(TlsContextErrors, NameTheFileAndTheReason) {
    TempDir tmp;
    auto a = ensure_self_signed(tmp.path + "/a", {"localhost"});
    auto b = ensure_self_signed(tmp.path + "/b", {"localhost"});
    const std::string missing = tmp.path + "/missing.pem";
    std::string e = error_of(missing, a.key_file);
    EXPECT_NE(e.find("--tls-cert " + missing + ": cannot read: No such file"), std::string::npos) << e;
    const std::string junk = tmp.path + "/junk.pem";
    std::ofstream(junk) << "not a certificate\n";
    e = error_of(junk, a.key_file);
    EXPECT_NE(e.find("--tls-cert " + junk + ": not a usable PEM certificate"), std::string::npos) << e;
    e = error_of(a.cert_file, b.key_file);
    EXPECT_NE(e.find("--tls-key " + b.key_file + ": does not match the certificate in " + a.cert_file),
              std::string::npos)
        << e;
    e = error_of(a.cert_file, a.cert_file);  // the certificate given as the key
    EXPECT_NE(e.find("--tls-key " + a.cert_file), std::string::npos) << e;
    e = error_of(a.cert_file, tmp.path);  // a directory
    EXPECT_NE(e.find("--tls-key " + tmp.path + ": not a regular file"), std::string::npos) << e;
}

}  // namespace
}  // namespace askr::http::tls
