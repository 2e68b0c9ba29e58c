#pragma once
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

namespace askr::static_files {

/// Strong ETag the way nginx makes one: "\"<mtime hex>-<size hex>\"" (RFC 9110 §8.8.3).
std::string make_etag(std::time_t mtime, std::uint64_t size);

/// Outcome of the conditional request headers.
enum class Precondition {
    proceed,              ///< go on (and then look at Range)
    not_modified,         ///< 304 Not Modified
    precondition_failed,  ///< 412 Precondition Failed
};

/// Evaluates If-Match, If-Unmodified-Since, If-None-Match and If-Modified-Since in the
/// order of RFC 9110 §13.2.2 against a representation with `etag` and `mtime`. An empty
/// header value means the header is absent; malformed dates are ignored (§13.1.3, §13.1.4).
Precondition evaluate_preconditions(bool is_get_or_head, std::string_view if_match,
                                    std::string_view if_none_match,
                                    std::string_view if_modified_since,
                                    std::string_view if_unmodified_since, std::string_view etag,
                                    std::time_t mtime);

/// An inclusive byte range within a representation.
struct ByteRange {
    std::uint64_t first = 0;  ///< offset of the first byte
    std::uint64_t last = 0;   ///< offset of the last byte (inclusive)
};

/// How to answer a request that may carry Range.
enum class RangeKind {
    full,           ///< 200 with the whole representation (no Range, or Range ignored)
    partial,        ///< 206 with `range`
    unsatisfiable,  ///< 416 with Content-Range: bytes */size
};

/// The decision of evaluate_range; `range` is meaningful only for RangeKind::partial.
struct RangeResult {
    RangeKind kind = RangeKind::full;  ///< what to send
    ByteRange range;                   ///< the bytes to send when partial
};

/// Evaluates a Range header (RFC 9110 §14.2) and its If-Range (§13.1.5) for a
/// representation of `size` bytes. Only one "bytes" range is honoured; several ranges,
/// other units and syntax errors give full (a server MAY ignore Range). Range applies to
/// GET only: callers pass an empty `range` for other methods. Empty value = header absent.
RangeResult evaluate_range(std::string_view range, std::string_view if_range, std::string_view etag,
                           std::time_t mtime, std::uint64_t size);

/// Cache-Control for a static file at `uri_path`: "public, max-age=31536000, immutable"
/// when the URL is content-hashed (so it never changes), "" otherwise (revalidate by ETag).
/// Hashed means: under "/build/assets/" (Laravel Vite) or "/_next/static/" (Next.js), or a
/// file name "<name>-<hash>.<ext>" / "<name>.<hash>[.more].<ext>" where hash, any part of the
/// name after a '-' or '.', is ≥ 8 chars of [A-Za-z0-9_] with a digit, and is either all
/// lower-case hex or mixes upper and lower case.
std::string_view cache_control_for(std::string_view uri_path);

}  // namespace askr::static_files
