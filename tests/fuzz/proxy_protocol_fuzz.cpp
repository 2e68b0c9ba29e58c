// libFuzzer target for the PROXY protocol header parser (http/proxy_protocol.hpp): the
// bytes a balancer (or anyone) sends first on a PROXY-protocol listener. Built and run by
// tests/fuzz/run.sh SECONDS BUILD_DIR proxy_protocol.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/proxy_protocol.hpp"

using askr::http::ProxyHeader;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const ProxyHeader whole = askr::http::parse_proxy_header(input);
    // What the parser promises whatever the input: a header never longer than the bytes
    // given nor than the longest allowed, an error always with a reason.
    if (whole.status == ProxyHeader::Status::complete &&
        (whole.length == 0 || whole.length > size ||
         whole.length > askr::http::proxy_header_max_length))
        __builtin_trap();
    if (whole.status == ProxyHeader::Status::error && whole.error == nullptr) __builtin_trap();
    if (whole.status == ProxyHeader::Status::need_more &&
        size >= askr::http::proxy_header_max_length)
        __builtin_trap();
    // A connection reads the header in pieces: every prefix must say "need more" up to the
    // header's end, and the same answer once it is there (so nothing past it is consumed).
    const std::size_t end = whole.status == ProxyHeader::Status::complete ? whole.length : size;
    for (std::size_t n = 0; n < end; n += 1 + n / 8) {
        const ProxyHeader partial = askr::http::parse_proxy_header(input.substr(0, n));
        if (partial.status == ProxyHeader::Status::complete) __builtin_trap();
        if (whole.status == ProxyHeader::Status::complete &&
            partial.status != ProxyHeader::Status::need_more)
            __builtin_trap();
    }
    if (whole.status == ProxyHeader::Status::complete) {
        const ProxyHeader exact = askr::http::parse_proxy_header(input.substr(0, whole.length));
        if (exact.status != whole.status || exact.length != whole.length ||
            exact.addresses.has_value() != whole.addresses.has_value())
            __builtin_trap();
    }
    return 0;
}
