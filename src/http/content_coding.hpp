#pragma once
#include <cstdint>
#include <string_view>

// Content codings (RFC 9110 section 8.4.1) and their negotiation with Accept-Encoding.
namespace askr::http {

/// A content coding Askr can produce.
enum class Coding : std::uint8_t { identity, gzip, br, zstd };

/// Codings as a set (bit 1 << Coding).
using CodingSet = std::uint8_t;

/// The set holding only `coding`.
constexpr CodingSet coding_bit(Coding coding) {
    return static_cast<CodingSet>(1u << static_cast<unsigned>(coding));
}

/// Every coding Askr can produce besides identity.
constexpr CodingSet all_codings =
    coding_bit(Coding::gzip) | coding_bit(Coding::br) | coding_bit(Coding::zstd);

/// The coding's name as Content-Encoding spells it ("gzip", "br", "zstd"; "identity").
std::string_view coding_name(Coding coding);

/// The file name suffix of a precompressed sibling (".gz", ".br", ".zst"; "" for identity).
std::string_view coding_suffix(Coding coding);

/// The coding to answer with, for a request whose Accept-Encoding is `accept_encoding`
/// (`present` false when the request has none), among `offered`: the acceptable coding
/// with the highest weight (RFC 9110 section 12.5.3), ties going to zstd, then br, then
/// gzip, then identity. "*" weighs every coding the field does not name; q=0 refuses;
/// "x-gzip" is gzip (section 8.4.1.3); malformed elements are ignored. No field, or
/// nothing acceptable, is identity (section 12.5.3: send the content without a coding).
Coding negotiate_coding(std::string_view accept_encoding, bool present, CodingSet offered);

}  // namespace askr::http
