#include "http/https_redirect.hpp"

#include <gtest/gtest.h>

namespace askr::http {
namespace {

TEST(HttpsRedirect, KeepsHostPathAndQueryAndUsesTheTlsPort) {
    EXPECT_EQ(https_redirect_location("example.org:8080", "/a/b?x=1&y=%20", 8443, "10.0.0.1"),
              "https://example.org:8443/a/b?x=1&y=%20");
    EXPECT_EQ(https_redirect_location("example.org", "/", 443, "10.0.0.1"), "https://example.org/");
}

TEST(HttpsRedirect, Ipv6LiteralsKeepTheirBrackets) {
    EXPECT_EQ(https_redirect_location("[::1]:8080", "/x", 8443, ""), "https://[::1]:8443/x");
    EXPECT_EQ(https_redirect_location("[2001:db8::1]", "/x", 443, ""), "https://[2001:db8::1]/x");
}

TEST(HttpsRedirect, WithoutHostTheLocalAddressIsUsed) {
    EXPECT_EQ(https_redirect_location("", "/x", 8443, "192.0.2.7"), "https://192.0.2.7:8443/x");
    EXPECT_EQ(https_redirect_location("", "/x", 8443, "[::1]"), "https://[::1]:8443/x");
}

TEST(HttpsRedirect, RefusesHostsThatCouldInjectAnything) {
    for (const char* host : {"evil.com/path", "a b", "a\r\nSet-Cookie: x", "host:port", "[::1", "[::1]x", "[zz]",
                             "user@host", ":8080", "", "[]"}) {
        EXPECT_FALSE(https_redirect_location(host, "/", 8443, "")) << host;
    }
}

TEST(HttpsRedirect, AbsoluteFormAndAsteriskTargets) {
    EXPECT_EQ(https_redirect_location("h", "http://h/p?q", 443, ""), "https://h/p?q");
    EXPECT_EQ(https_redirect_location("h", "http://h", 443, ""), "https://h/");
    EXPECT_EQ(https_redirect_location("h", "*", 443, ""), "https://h/");
}

TEST(HttpsRedirect, AcmeChallengePaths) {
    EXPECT_TRUE(is_acme_challenge("/.well-known/acme-challenge/abc-DEF_123"));
    EXPECT_FALSE(is_acme_challenge("/.well-known/acme-challenge"));
    EXPECT_FALSE(is_acme_challenge("/.well-known/security.txt"));
    EXPECT_FALSE(is_acme_challenge("/x/.well-known/acme-challenge/abc"));
}

}  // namespace
}  // namespace askr::http
