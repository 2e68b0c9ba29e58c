#include "http/proxy_protocol.hpp"

#include <gtest/gtest.h>

#include <string>

namespace askr::http {
namespace {

using Status = ProxyHeader::Status;

const std::string signature("\r\n\r\n\0\r\nQUIT\n", 12);

// A version 2 header: signature, version/command, family, and `payload` with its length.
std::string v2(unsigned char version_command, unsigned char family, const std::string& payload) {
    std::string out = signature;
    out += static_cast<char>(version_command);
    out += static_cast<char>(family);
    out += static_cast<char>(payload.size() >> 8);
    out += static_cast<char>(payload.size() & 0xff);
    return out + payload;
}

std::string bytes(std::initializer_list<int> values) {
    std::string out;
    for (int v : values) out += static_cast<char>(v);
    return out;
}

// 203.0.113.7:4242 -> 192.0.2.1:443
const std::string v4_payload = bytes({203, 0, 113, 7, 192, 0, 2, 1, 0x10, 0x92, 0x01, 0xbb});
// [2001:db8::1]:4242 -> [2001:db8::2]:8443
const std::string v6_payload =
    bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,    1,    0x20, 0x01,
           0x0d, 0xb8, 0,    0,    0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0x10, 0x92, 0x20, 0xfb});

// Parses `header` followed by an HTTP request (which must not be taken), after checking
// that every shorter prefix of the header asks for more: a connection may receive it a
// byte at a time.
ProxyHeader parse_whole(const std::string& header) {
    for (std::size_t n = 0; n < header.size(); ++n) {
        const auto partial = parse_proxy_header(std::string_view(header).substr(0, n));
        EXPECT_EQ(partial.status, Status::need_more) << "prefix of " << n << " bytes";
    }
    const std::string stream = header + "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    const auto result = parse_proxy_header(stream);
    if (result.status == Status::complete) {
        EXPECT_EQ(result.length, header.size());
    }
    return result;
}

const char* error_of(const std::string& input) {
    const auto result = parse_proxy_header(input);
    EXPECT_EQ(result.status, Status::error) << input;
    return result.error ? result.error : "";
}

TEST(ProxyProtocol, Version1Tcp4) {
    const auto result = parse_whole("PROXY TCP4 203.0.113.7 192.0.2.1 4242 443\r\n");
    ASSERT_EQ(result.status, Status::complete);
    ASSERT_TRUE(result.addresses);
    EXPECT_EQ(result.addresses->source.text(), "203.0.113.7");
    EXPECT_EQ(result.addresses->source_port, 4242);
    EXPECT_EQ(result.addresses->destination.text(), "192.0.2.1");
    EXPECT_EQ(result.addresses->destination_port, 443);
}

TEST(ProxyProtocol, Version1Tcp6AndPortExtremes) {
    const auto result = parse_whole("PROXY TCP6 2001:db8::1 ::1 0 65535\r\n");
    ASSERT_EQ(result.status, Status::complete);
    ASSERT_TRUE(result.addresses);
    EXPECT_EQ(result.addresses->source.text(), "2001:db8::1");
    EXPECT_EQ(result.addresses->source_port, 0);
    EXPECT_EQ(result.addresses->destination.text(), "::1");
    EXPECT_EQ(result.addresses->destination_port, 65535);
}

TEST(ProxyProtocol, Version1LongestLineIs107Bytes) {
    // The specification's worst case: TCP6 with the longest addresses is 104 bytes.
    const std::string longest =
        "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
        "65535 65535\r\n";
    EXPECT_EQ(longest.size(), 104u);
    EXPECT_EQ(parse_whole(longest).status, Status::complete);
    // UNKNOWN may carry anything up to 107 bytes, CRLF included.
    const std::string unknown = "PROXY UNKNOWN " + std::string(107 - 16, 'x') + "\r\n";
    ASSERT_EQ(unknown.size(), 107u);
    const auto result = parse_whole(unknown);
    EXPECT_EQ(result.status, Status::complete);
    EXPECT_FALSE(result.addresses);
    EXPECT_STREQ(error_of("PROXY UNKNOWN " + std::string(107 - 15, 'x') + "\r\n"),
                 "version 1: no CRLF within 107 bytes");
    EXPECT_STREQ(error_of("PROXY TCP4 " + std::string(200, '1')),
                 "version 1: no CRLF within 107 bytes");
}

TEST(ProxyProtocol, Version1UnknownKeepsTheSocketsAddresses) {
    const auto bare = parse_whole("PROXY UNKNOWN\r\n");
    ASSERT_EQ(bare.status, Status::complete);
    EXPECT_FALSE(bare.addresses);
    const auto with_rest = parse_whole("PROXY UNKNOWN ffff:f...f:ffff 1.2.3.4 1 2\r\n");
    ASSERT_EQ(with_rest.status, Status::complete);
    EXPECT_FALSE(with_rest.addresses);
}

TEST(ProxyProtocol, Version1Malformed) {
    const std::string expected_fields =
        "version 1: expected PROXY TCP4|TCP6 SOURCE DESTINATION SPORT DPORT, single spaces";
    EXPECT_EQ(error_of("PROXY TCP4  203.0.113.7 192.0.2.1 4242 443\r\n"), expected_fields);
    EXPECT_EQ(error_of("PROXY TCP4 203.0.113.7 192.0.2.1 4242\r\n"), expected_fields);
    EXPECT_EQ(error_of("PROXY TCP4 203.0.113.7 192.0.2.1\r\n"), expected_fields);
    EXPECT_STREQ(error_of("PROXY TCP4 203.0.113.7 192.0.2.1 4242 443 \r\n"),
                 "version 1: a port is not a number from 0 to 65535");
    EXPECT_STREQ(error_of("PROXY TCP4 203.0.113.7 192.0.2.1 4242 443 80\r\n"),
                 "version 1: a port is not a number from 0 to 65535");
    EXPECT_STREQ(error_of("PROXY TCP5 203.0.113.7 192.0.2.1 4242 443\r\n"),
                 "version 1: the protocol is not TCP4, TCP6 or UNKNOWN");
    EXPECT_STREQ(error_of("PROXY tcp4 203.0.113.7 192.0.2.1 4242 443\r\n"),
                 "version 1: the protocol is not TCP4, TCP6 or UNKNOWN");
    EXPECT_STREQ(error_of("PROXY UNKNOWNX\r\n"),
                 "version 1: the protocol is not TCP4, TCP6 or UNKNOWN");
    EXPECT_STREQ(error_of("PROXY \r\n"), "version 1: the protocol is not TCP4, TCP6 or UNKNOWN");
    // Line ends: LF alone, CR alone inside the line.
    EXPECT_STREQ(error_of("PROXY TCP4 203.0.113.7 192.0.2.1 4242 443\n"),
                 "version 1: the line does not end in CRLF");
    EXPECT_STREQ(error_of("PROXY UNKNOWN\r\r\n"), "version 1: a CR inside the line");
    EXPECT_STREQ(error_of("PROXY\r\n"), "no PROXY protocol header");
}

TEST(ProxyProtocol, Version1BadAddresses) {
    const char* v4 = "version 1: an address is not an IPv4 literal";
    const char* v6 = "version 1: an address is not an IPv6 literal";
    EXPECT_STREQ(error_of("PROXY TCP4 2001:db8::1 192.0.2.1 1 2\r\n"), v4);  // family mismatch
    EXPECT_STREQ(error_of("PROXY TCP6 203.0.113.7 2001:db8::2 1 2\r\n"), v6);
    EXPECT_STREQ(error_of("PROXY TCP4 203.0.113.256 192.0.2.1 1 2\r\n"), v4);
    EXPECT_STREQ(error_of("PROXY TCP4 203.0.113 192.0.2.1 1 2\r\n"), v4);
    EXPECT_STREQ(error_of("PROXY TCP4 localhost 192.0.2.1 1 2\r\n"), v4);
    EXPECT_STREQ(error_of("PROXY TCP6 [2001:db8::1] ::1 1 2\r\n"), v6);
    EXPECT_STREQ(error_of("PROXY TCP6 2001:db8:::1 ::1 1 2\r\n"), v6);
    EXPECT_STREQ(error_of("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n"), v6);
}

TEST(ProxyProtocol, Version1BadPorts) {
    const char* port = "version 1: a port is not a number from 0 to 65535";
    for (const char* bad : {"65536", "99999", "-1", "+80", "080", "00", "8o", "0x50", "123456"}) {
        EXPECT_STREQ(error_of(std::string("PROXY TCP4 203.0.113.7 192.0.2.1 ") + bad + " 443\r\n"),
                     port)
            << bad;
        EXPECT_STREQ(error_of(std::string("PROXY TCP4 203.0.113.7 192.0.2.1 443 ") + bad + "\r\n"),
                     port)
            << bad;
    }
}

TEST(ProxyProtocol, NotAHeaderIsRefusedAtItsFirstDifferentByte) {
    EXPECT_STREQ(error_of("GET / HTTP/1.1\r\n\r\n"), "no PROXY protocol header");
    EXPECT_STREQ(error_of("G"), "no PROXY protocol header");
    EXPECT_STREQ(error_of("PRI * HTTP/2.0\r\n"), "no PROXY protocol header");
    EXPECT_STREQ(error_of("\x16\x03\x01"), "no PROXY protocol header");  // a TLS ClientHello
    EXPECT_STREQ(error_of("PROXY-TCP4"), "no PROXY protocol header");
    EXPECT_STREQ(error_of("\r\n\r\nX"), "no PROXY protocol header");  // not the v2 signature
    EXPECT_EQ(parse_proxy_header("PROX").status, Status::need_more);
    EXPECT_EQ(parse_proxy_header("").status, Status::need_more);
    EXPECT_EQ(parse_proxy_header(signature.substr(0, 7)).status, Status::need_more);
}

TEST(ProxyProtocol, Version2ProxyTcp4) {
    const auto result = parse_whole(v2(0x21, 0x11, v4_payload));
    ASSERT_EQ(result.status, Status::complete);
    ASSERT_TRUE(result.addresses);
    EXPECT_EQ(result.addresses->source.text(), "203.0.113.7");
    EXPECT_EQ(result.addresses->source_port, 4242);
    EXPECT_EQ(result.addresses->destination.text(), "192.0.2.1");
    EXPECT_EQ(result.addresses->destination_port, 443);
}

TEST(ProxyProtocol, Version2ProxyTcp6) {
    const auto result = parse_whole(v2(0x21, 0x21, v6_payload));
    ASSERT_EQ(result.status, Status::complete);
    ASSERT_TRUE(result.addresses);
    EXPECT_EQ(result.addresses->source.text(), "2001:db8::1");
    EXPECT_EQ(result.addresses->source_port, 4242);
    EXPECT_EQ(result.addresses->destination.text(), "2001:db8::2");
    EXPECT_EQ(result.addresses->destination_port, 8443);
}

TEST(ProxyProtocol, Version2SkipsTlvs) {
    // PP2_TYPE_ALPN "h2", PP2_TYPE_AUTHORITY "example.com", an empty PP2_TYPE_NOOP.
    const std::string tlvs =
        bytes({0x01, 0, 2}) + "h2" + bytes({0x02, 0, 11}) + "example.com" + bytes({0x04, 0, 0});
    const auto result = parse_whole(v2(0x21, 0x11, v4_payload + tlvs));
    ASSERT_EQ(result.status, Status::complete);
    ASSERT_TRUE(result.addresses);
    EXPECT_EQ(result.addresses->source.text(), "203.0.113.7");
    EXPECT_EQ(result.length, 16 + v4_payload.size() + tlvs.size());
}

TEST(ProxyProtocol, Version2LocalKeepsTheSocketsAddresses) {
    for (unsigned char family : {0x00, 0x11, 0x21, 0x31}) {
        const std::string payload = family == 0x11 ? v4_payload : family == 0x21 ? v6_payload : "";
        const auto result = parse_whole(v2(0x20, family, payload));
        ASSERT_EQ(result.status, Status::complete);
        EXPECT_FALSE(result.addresses) << int(family);
    }
    // LOCAL's payload is discarded unread, whatever it holds.
    const auto junk = parse_whole(v2(0x20, 0x11, "junk"));
    ASSERT_EQ(junk.status, Status::complete);
    EXPECT_FALSE(junk.addresses);
}

TEST(ProxyProtocol, Version2UnspecAndUnixKeepTheSocketsAddresses) {
    auto result = parse_whole(v2(0x21, 0x00, ""));
    ASSERT_EQ(result.status, Status::complete);
    EXPECT_FALSE(result.addresses);
    result = parse_whole(v2(0x21, 0x31, std::string(216, '\0')));
    ASSERT_EQ(result.status, Status::complete);
    EXPECT_FALSE(result.addresses);
}

TEST(ProxyProtocol, Version2Malformed) {
    EXPECT_STREQ(error_of(v2(0x11, 0x11, v4_payload)), "version 2: the version nibble is not 2");
    EXPECT_STREQ(error_of(v2(0x31, 0x11, v4_payload)), "version 2: the version nibble is not 2");
    EXPECT_STREQ(error_of(v2(0x22, 0x11, v4_payload)),
                 "version 2: the command is neither LOCAL nor PROXY");
    EXPECT_STREQ(error_of(v2(0x2f, 0x11, v4_payload)),
                 "version 2: the command is neither LOCAL nor PROXY");
    EXPECT_STREQ(error_of(v2(0x21, 0x12, v4_payload)),
                 "version 2: a UDP address on a TCP connection");
    EXPECT_STREQ(error_of(v2(0x21, 0x22, v6_payload)),
                 "version 2: a UDP address on a TCP connection");
    for (unsigned char family : {0x10, 0x13, 0x20, 0x30, 0x41, 0x01, 0xff})
        EXPECT_STREQ(error_of(v2(0x21, family, v6_payload)),
                     "version 2: an unknown address family or transport")
            << int(family);
    // An address block shorter than the family's addresses.
    EXPECT_STREQ(error_of(v2(0x21, 0x11, v4_payload.substr(0, 11))),
                 "version 2: the payload is shorter than its addresses");
    EXPECT_STREQ(error_of(v2(0x21, 0x21, v4_payload)),
                 "version 2: the payload is shorter than its addresses");
    EXPECT_STREQ(error_of(v2(0x21, 0x31, std::string(215, '\0'))),
                 "version 2: the payload is shorter than its addresses");
    // TLVs cut short: a type alone, a length past the end.
    EXPECT_STREQ(error_of(v2(0x21, 0x11, v4_payload + bytes({0x01}))),
                 "version 2: a TLV runs past the header");
    EXPECT_STREQ(error_of(v2(0x21, 0x11, v4_payload + bytes({0x01, 0, 3}) + "h2")),
                 "version 2: a TLV runs past the header");
}

TEST(ProxyProtocol, Version2LengthIsBounded) {
    const std::string tlv_padding =
        bytes({0x04, 0x07, 0xf1}) + std::string(0x7f1, '\0');  // NOOP TLV
    const std::string largest = v4_payload + tlv_padding;
    ASSERT_EQ(largest.size(), proxy_v2_max_payload);
    EXPECT_EQ(parse_proxy_header(v2(0x21, 0x11, largest)).status, Status::complete);
    // Refused from its fixed part, before the payload arrives.
    std::string too_long = v2(0x21, 0x11, largest + "x");
    too_long.resize(proxy_v2_fixed_length);
    EXPECT_STREQ(error_of(too_long), "version 2: longer than 2048 bytes of addresses and TLVs");
    std::string longest_declared = v2(0x21, 0x11, "");
    longest_declared[14] = longest_declared[15] = '\xff';
    EXPECT_STREQ(error_of(longest_declared),
                 "version 2: longer than 2048 bytes of addresses and TLVs");
}

TEST(ProxyProtocol, Version2TruncatedWaitsForMore) {
    const std::string header = v2(0x21, 0x11, v4_payload);
    EXPECT_EQ(parse_proxy_header(header.substr(0, 15)).status, Status::need_more);
    EXPECT_EQ(parse_proxy_header(header.substr(0, header.size() - 1)).status, Status::need_more);
    // A bad byte in the signature is refused where it is.
    std::string bad = header;
    bad[11] = 'X';
    EXPECT_STREQ(error_of(bad.substr(0, 12)), "no PROXY protocol header");
}

}  // namespace
}  // namespace askr::http
