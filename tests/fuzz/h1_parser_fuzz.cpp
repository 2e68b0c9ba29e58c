// libFuzzer target for the HTTP/1 request path: the bytes a client sends, through
// Askr's parser (http-parser with Askr's checks and the chunked-framing validator) into
// a Request, the way a connection feeds it: in slices, with pipelined requests,
// "Expect: 100-continue" and an EOF at the end. Built and run by tests/fuzz/run.sh.
#include <cstddef>
#include <cstdint>

#include "http/h1/parser.hpp"
#include "http/request.hpp"

namespace {

// Small limits so that the fuzzer reaches the 413/414/431 paths with short inputs.
askr::http::h1::Limits fuzz_limits() {
    askr::http::h1::Limits limits;
    limits.max_target_bytes = 512;
    limits.max_header_bytes = 2048;
    limits.max_header_count = 16;
    limits.max_body_bytes = 4096;
    return limits;
}

// Checks what the parser promises whatever the input: it never claims more bytes than it
// was given, and an error always comes with a status the server can send.
void check(const askr::http::h1::Parser& parser, const askr::http::h1::Parser::Result& result, std::size_t given) {
    if (result.consumed > given) __builtin_trap();
    if (result.status == askr::http::h1::Parser::Status::error) {
        const int status = parser.error_status();
        if (status < 400 || status > 599 || parser.error_reason() == nullptr) __builtin_trap();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    // The first byte chooses the slice size (1..64 bytes, or everything at once).
    const std::size_t slice = data[0] == 0 ? size : 1 + data[0] % 64;
    const char* input = reinterpret_cast<const char*>(data + 1);
    std::size_t left = size - 1;

    static const askr::http::h1::Limits limits = fuzz_limits();
    askr::http::h1::Parser parser(limits);
    askr::http::Request request;
    parser.start(request);
    int requests = 0;
    while (left > 0 && requests < 64) {
        const std::size_t given = left < slice ? left : slice;
        const auto result = parser.feed(input, given);
        check(parser, result, given);
        input += result.consumed;
        left -= result.consumed;
        switch (result.status) {
            case askr::http::h1::Parser::Status::error: return 0;  // the connection closes
            case askr::http::h1::Parser::Status::expect_continue: parser.continue_after_expect(); break;
            case askr::http::h1::Parser::Status::complete:
                (void)request.body_length();
                ++requests;
                parser.start(request);  // pipelined: the rest belongs to the next request
                break;
            case askr::http::h1::Parser::Status::need_more:
                if (result.consumed == 0 && given == left) return 0;  // nothing more to give
                break;
        }
        if (result.consumed == 0 && result.status == askr::http::h1::Parser::Status::need_more) return 0;
    }
    const auto end = parser.finish();
    check(parser, end, 0);
    return 0;
}
