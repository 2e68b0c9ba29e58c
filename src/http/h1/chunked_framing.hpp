#pragma once
#include <cstddef>
#include <cstdint>

namespace askr::http::h1 {

/// Checks the framing of a chunked body byte by byte (RFC 9112 section 7.1): hex size,
/// optional extensions, CRLF after the size line AND after the data, trailer lines,
/// final CRLF. Debian's http-parser is built lenient (any two bytes pass as the CRLF
/// after chunk data), which is how requests get smuggled past a stricter front proxy;
/// this runs over the same bytes first and refuses what a strict parser would.
class ChunkedFraming {
public:
    enum class Result { more, done, invalid };
    /// Checks `length` bytes; sets `used` to how many belong to the body (all, unless done).
    Result feed(const char* data, std::size_t length, std::size_t& used);
    /// Starts over for a new body.
    void reset() { *this = ChunkedFraming{}; }

private:
    enum class State { size_start, size, extension, size_lf, data, data_cr, data_lf, trailer_start, trailer,
                       trailer_lf, final_lf, done };
    State state_ = State::size_start;
    std::uint64_t remaining_ = 0;
    bool last_chunk_ = false;
};

}  // namespace askr::http::h1
