#include "http/forwarded.hpp"

#include <gtest/gtest.h>

namespace askr::http {
namespace {

core::AddressRanges ranges(std::initializer_list<const char*> texts) {
    core::AddressRanges out;
    for (const char* text : texts) {
        std::string error;
        out.add(*core::parse_address_range(text, error));
    }
    return out;
}

// A request from `peer` (port 40000) to 127.0.0.1:8080 over plain HTTP.
Request request_from(const char* peer, std::initializer_list<std::pair<const char*, const char*>> headers) {
    Request request;
    request.endpoints.remote_addr = peer;
    request.endpoints.remote_port = 40000;
    request.endpoints.local_addr = "127.0.0.1";
    request.endpoints.local_port = 8080;
    request.add_header("host", "internal:8080");
    for (const auto& [name, value] : headers) request.add_header(name, value);
    return request;
}

std::vector<ForwardedElement> elements(std::string_view value) {
    std::vector<ForwardedElement> out;
    EXPECT_TRUE(parse_forwarded(value, out)) << value;
    return out;
}

TEST(Forwarded, ParsesElementsPairsAndQuotedStrings) {
    auto e = elements("for=192.0.2.60;proto=http;by=203.0.113.43");
    ASSERT_EQ(e.size(), 1u);
    EXPECT_EQ(e[0].for_node, "192.0.2.60");
    EXPECT_EQ(e[0].proto, "http");
    e = elements(R"(For="[2001:db8:cafe::17]:4711", for=unknown ;HOST="example.com:8443"; Proto=HTTPS,,)");
    ASSERT_EQ(e.size(), 2u);
    EXPECT_EQ(e[0].for_node, "[2001:db8:cafe::17]:4711");
    EXPECT_EQ(e[1].for_node, "unknown");
    EXPECT_EQ(e[1].host, "example.com:8443");
    EXPECT_EQ(e[1].proto, "HTTPS");
    e = elements(R"(for="a,b;c=d";ext="x\"y")");  // separators inside quotes are text
    ASSERT_EQ(e.size(), 1u);
    EXPECT_EQ(e[0].for_node, "a,b;c=d");
}

TEST(Forwarded, RefusesBadSyntax) {
    std::vector<ForwardedElement> out;
    for (const char* bad : {"for", "for=", "=x", "for=1.2.3.4;for=5.6.7.8", "for=\"1.2.3.4", "for=[::1]",
                            "for=1.2.3.4:80", "for=a b", "for=\"a\x01\"", "for=a;;proto=http x", "for=\"x\\"}) {
        EXPECT_FALSE(parse_forwarded(bad, out)) << bad;
    }
}

TEST(Forwarded, FedOneByteAtATimeNeverReadsPastTheValue) {
    const std::string value = R"(for="[2001:db8::1]:80";proto=https, for=192.0.2.1)";
    for (std::size_t n = 0; n <= value.size(); ++n) {
        std::vector<ForwardedElement> out;
        const std::string prefix = value.substr(0, n);  // its own buffer: ASan sees overreads
        parse_forwarded(prefix, out);
        for (const auto& e : out) {
            EXPECT_LE(e.for_node.data() + e.for_node.size(), prefix.data() + prefix.size());
        }
    }
}

TEST(Forwarded, Nodes) {
    auto node = parse_node("[2001:db8:cafe::17]:4711");
    ASSERT_TRUE(node);
    EXPECT_EQ(node->address.text(), "2001:db8:cafe::17");
    EXPECT_EQ(node->port, 4711);
    node = parse_node("192.0.2.43:47011");
    ASSERT_TRUE(node);
    EXPECT_EQ(node->port, 47011);
    node = parse_node("192.0.2.43:_hidden");
    ASSERT_TRUE(node);
    EXPECT_FALSE(node->port);
    node = parse_node("2001:db8::1");  // X-Forwarded-For's bare form
    ASSERT_TRUE(node);
    EXPECT_FALSE(node->port);
    for (const char* bad : {"unknown", "_hidden", "[192.0.2.1]", "[::1", "[::1]x", "[::1]:0", "[::1]:65536",
                            "1.2.3.4:", "1.2.3.4:8a", "example.com", "", "1.2.3.4 5"}) {
        EXPECT_FALSE(parse_node(bad)) << bad;
    }
}

TEST(Forwarded, UntrustedPeerChangesNothing) {
    auto request = request_from("192.0.2.9", {{"x-forwarded-for", "203.0.113.1"},
                                              {"x-forwarded-proto", "https"},
                                              {"forwarded", "for=203.0.113.2;host=evil"}});
    apply_forwarded(request, ranges({"10.0.0.0/8"}));
    EXPECT_EQ(request.endpoints.remote_addr, "192.0.2.9");
    EXPECT_FALSE(request.endpoints.tls);
    EXPECT_EQ(request.endpoints.local_port, 8080);
    EXPECT_EQ(request.header("host"), "internal:8080");
    EXPECT_EQ(request.header("x-forwarded-for"), "203.0.113.1");  // still an ordinary header
}

TEST(Forwarded, XForwardedFromATrustedPeer) {
    auto request = request_from("10.0.0.5", {{"x-forwarded-for", "198.51.100.7, 203.0.113.1, 10.0.0.9"},
                                             {"x-forwarded-proto", "HTTPS"},
                                             {"x-forwarded-host", "shop.example"},
                                             {"x-forwarded-port", "8443"}});
    apply_forwarded(request, ranges({"10.0.0.0/8"}));
    // The right-most untrusted entry: 198.51.100.7 could be anything the client wrote.
    EXPECT_EQ(request.endpoints.remote_addr, "203.0.113.1");
    EXPECT_EQ(request.endpoints.remote_port, 40000);
    EXPECT_TRUE(request.endpoints.tls);
    EXPECT_EQ(request.endpoints.local_port, 8443);
    EXPECT_EQ(request.header("host"), "shop.example");
}

TEST(Forwarded, ListsAcrossLinesAreWalkedFromTheRight) {
    auto request = request_from("127.0.0.1", {{"x-forwarded-for", "203.0.113.1"}, {"x-forwarded-for", "10.1.1.1"}});
    apply_forwarded(request, ranges({"127.0.0.1", "10.0.0.0/8"}));
    EXPECT_EQ(request.endpoints.remote_addr, "203.0.113.1");
    auto all_trusted = request_from("127.0.0.1", {{"x-forwarded-for", "10.2.2.2, 10.1.1.1"}});
    apply_forwarded(all_trusted, ranges({"127.0.0.1", "10.0.0.0/8"}));
    EXPECT_EQ(all_trusted.endpoints.remote_addr, "10.2.2.2");  // the left-most, as far as it goes
}

TEST(Forwarded, InvalidValuesAreNeverTrusted) {
    auto request = request_from("127.0.0.1", {{"x-forwarded-for", "203.0.113.1, bogus, 10.1.1.1"},
                                              {"x-forwarded-proto", "gopher"},
                                              {"x-forwarded-host", "evil.com/x"},
                                              {"x-forwarded-port", "99999"}});
    apply_forwarded(request, ranges({"127.0.0.1", "10.0.0.0/8"}));
    EXPECT_EQ(request.endpoints.remote_addr, "10.1.1.1");  // the walk stops at "bogus"
    EXPECT_FALSE(request.endpoints.tls);
    EXPECT_EQ(request.endpoints.local_port, 8080);
    EXPECT_EQ(request.header("host"), "internal:8080");

    auto lists = request_from("127.0.0.1", {{"x-forwarded-proto", "https, http"},
                                            {"x-forwarded-host", "a.example"},
                                            {"x-forwarded-host", "b.example"}});
    apply_forwarded(lists, ranges({"127.0.0.1"}));
    EXPECT_FALSE(lists.endpoints.tls);
    EXPECT_EQ(lists.header("host"), "internal:8080");
    EXPECT_FALSE(lists.endpoints.forwarded);
}

TEST(Forwarded, ForwardedWinsOverXForwarded) {
    auto request = request_from("::1", {{"x-forwarded-for", "198.51.100.1"},
                                        {"x-forwarded-proto", "http"},
                                        {"forwarded", R"(for="[2001:db8::7]:5555";proto=https;host="app.example")"}});
    apply_forwarded(request, ranges({"::1"}));
    EXPECT_EQ(request.endpoints.remote_addr, "2001:db8::7");
    EXPECT_EQ(request.endpoints.remote_port, 5555);
    EXPECT_TRUE(request.endpoints.tls);
    EXPECT_EQ(request.endpoints.local_port, 443);  // the scheme's default: no port was said
    EXPECT_EQ(request.header("host"), "app.example");
}

TEST(Forwarded, ProtoAndHostComeFromTheClientsHop) {
    // The outer proxy saw the client over HTTPS; the inner one, trusted, saw the outer one.
    auto request = request_from("127.0.0.1", {{"forwarded", R"(for=203.0.113.5;proto=https;host="a.example:8443")"},
                                              {"forwarded", "for=10.0.0.2;proto=http;host=inner"}});
    apply_forwarded(request, ranges({"127.0.0.1", "10.0.0.0/8"}));
    EXPECT_EQ(request.endpoints.remote_addr, "203.0.113.5");
    EXPECT_TRUE(request.endpoints.tls);
    EXPECT_EQ(request.header("host"), "a.example:8443");
    EXPECT_EQ(request.endpoints.local_port, 8443);
}

TEST(Forwarded, ObfuscatedAndMalformedForwardedTrustNothingFurther) {
    auto hidden = request_from("127.0.0.1", {{"forwarded", "for=_hidden;proto=https, for=10.0.0.2"}});
    apply_forwarded(hidden, ranges({"127.0.0.1", "10.0.0.0/8"}));
    EXPECT_EQ(hidden.endpoints.remote_addr, "10.0.0.2");  // as far as addresses go
    EXPECT_TRUE(hidden.endpoints.tls);  // written by 10.0.0.2, which is trusted

    // A Forwarded that does not parse is not replaced by X-Forwarded-For.
    auto broken = request_from("127.0.0.1", {{"forwarded", "for=1.2.3.4;for=5.6.7.8"},
                                             {"x-forwarded-for", "198.51.100.1"}});
    apply_forwarded(broken, ranges({"127.0.0.1"}));
    EXPECT_EQ(broken.endpoints.remote_addr, "127.0.0.1");
    EXPECT_FALSE(broken.endpoints.forwarded);
}

TEST(Forwarded, EachRequestOfAConnectionStartsFromThePeer) {
    const auto trusted = ranges({"127.0.0.1"});
    auto request = request_from("127.0.0.1", {{"x-forwarded-for", "203.0.113.1"}, {"x-forwarded-proto", "https"}});
    apply_forwarded(request, trusted);
    apply_forwarded(request, trusted);  // handle_now() then handle(): once
    EXPECT_EQ(request.endpoints.remote_addr, "203.0.113.1");
    EXPECT_EQ(request.endpoints.peer.remote_addr, "127.0.0.1");
    // The next request on the same connection (the Request object is reused) says nothing.
    const auto endpoints = request.endpoints;
    request.clear();
    request.endpoints = endpoints;
    request.add_header("host", "internal:8080");
    apply_forwarded(request, trusted);
    EXPECT_EQ(request.endpoints.remote_addr, "127.0.0.1");
    EXPECT_EQ(request.endpoints.remote_port, 40000);
    EXPECT_FALSE(request.endpoints.tls);
    EXPECT_EQ(request.endpoints.local_port, 8080);
}

TEST(Forwarded, NoTrustedProxiesMeansNoChange) {
    auto request = request_from("127.0.0.1", {{"x-forwarded-for", "203.0.113.1"}});
    apply_forwarded(request, {});
    EXPECT_EQ(request.endpoints.remote_addr, "127.0.0.1");
}

}  // namespace
}  // namespace askr::http
