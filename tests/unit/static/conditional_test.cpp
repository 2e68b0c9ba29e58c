#include "static/conditional.hpp"

#include <gtest/gtest.h>

namespace askr::static_files {
namespace {

constexpr std::time_t mtime = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT
constexpr std::string_view at_mtime = "Sun, 06 Nov 1994 08:49:37 GMT";
constexpr std::string_view before_mtime = "Sun, 06 Nov 1994 08:49:36 GMT";
constexpr std::string_view after_mtime = "Sun, 06 Nov 1994 08:49:38 GMT";
constexpr std::string_view etag = "\"2ebc98a1-1f4\"";

TEST(Etag, IsNginxStyle) {
    EXPECT_EQ(make_etag(mtime, 500), etag);
    EXPECT_EQ(make_etag(0, 0), "\"0-0\"");
    EXPECT_EQ(make_etag(-5, UINT64_MAX), "\"0-ffffffffffffffff\"");
}

/// Shorthand: GET with the given headers against (etag, mtime).
Precondition get(std::string_view if_match, std::string_view if_none_match,
                 std::string_view if_modified_since, std::string_view if_unmodified_since) {
    return evaluate_preconditions(true, if_match, if_none_match, if_modified_since,
                                  if_unmodified_since, etag, mtime);
}

Precondition post(std::string_view if_match, std::string_view if_none_match,
                  std::string_view if_modified_since, std::string_view if_unmodified_since) {
    return evaluate_preconditions(false, if_match, if_none_match, if_modified_since,
                                  if_unmodified_since, etag, mtime);
}

using P = Precondition;

TEST(Precondition, NoHeadersProceed) {
    EXPECT_EQ(get("", "", "", ""), P::proceed);
    EXPECT_EQ(post("", "", "", ""), P::proceed);
    EXPECT_EQ(get(" ", "\t", "  ", " "), P::proceed);  // blank counts as absent
}

TEST(Precondition, IfMatch) {
    EXPECT_EQ(get(etag, "", "", ""), P::proceed);
    EXPECT_EQ(get("*", "", "", ""), P::proceed);
    EXPECT_EQ(get(" * ", "", "", ""), P::proceed);
    EXPECT_EQ(get("\"other\", \"2ebc98a1-1f4\"", "", "", ""), P::proceed);
    EXPECT_EQ(get(",\t\"other\" ,, \"2ebc98a1-1f4\" ,", "", "", ""), P::proceed);
    EXPECT_EQ(post(etag, "", "", ""), P::proceed);
    EXPECT_EQ(get("\"other\"", "", "", ""), P::precondition_failed);
    EXPECT_EQ(post("\"other\"", "", "", ""), P::precondition_failed);
    // Strong comparison: a weak tag never matches (RFC 9110 §13.1.1).
    EXPECT_EQ(get("W/\"2ebc98a1-1f4\"", "", "", ""), P::precondition_failed);
    // Malformed lists fail safe.
    EXPECT_EQ(get("2ebc98a1-1f4", "", "", ""), P::precondition_failed);
    EXPECT_EQ(get("\"unterminated", "", "", ""), P::precondition_failed);
    EXPECT_EQ(get("\"a\" junk, \"2ebc98a1-1f4\"", "", "", ""), P::precondition_failed);
    EXPECT_EQ(get("*, \"2ebc98a1-1f4\"", "", "", ""), P::precondition_failed);
}

TEST(Precondition, IfMatchTakesPrecedenceOverIfUnmodifiedSince) {
    // Step 2 only runs without If-Match: a matching If-Match hides a failing date.
    EXPECT_EQ(get(etag, "", "", before_mtime), P::proceed);
}

TEST(Precondition, IfUnmodifiedSince) {
    EXPECT_EQ(get("", "", "", at_mtime), P::proceed);
    EXPECT_EQ(get("", "", "", after_mtime), P::proceed);
    EXPECT_EQ(get("", "", "", before_mtime), P::precondition_failed);
    EXPECT_EQ(post("", "", "", before_mtime), P::precondition_failed);
    EXPECT_EQ(get("", "", "", "not a date"), P::proceed);  // invalid: ignored
}

TEST(Precondition, IfNoneMatch) {
    EXPECT_EQ(get("", etag, "", ""), P::not_modified);
    EXPECT_EQ(get("", "*", "", ""), P::not_modified);
    EXPECT_EQ(get("", "W/\"2ebc98a1-1f4\"", "", ""), P::not_modified);  // weak comparison
    EXPECT_EQ(get("", "\"a\", W/\"b\",\"2ebc98a1-1f4\"", "", ""), P::not_modified);
    EXPECT_EQ(get("", "\"other\"", "", ""), P::proceed);
    EXPECT_EQ(get("", "\"2EBC98A1-1F4\"", "", ""), P::proceed);  // opaque tags are exact
    EXPECT_EQ(get("", "garbage", "", ""), P::proceed);
    // Other methods get 412 instead of 304.
    EXPECT_EQ(post("", etag, "", ""), P::precondition_failed);
    EXPECT_EQ(post("", "*", "", ""), P::precondition_failed);
    EXPECT_EQ(post("", "\"other\"", "", ""), P::proceed);
}

TEST(Precondition, IfMatchFailureComesBeforeIfNoneMatch) {
    EXPECT_EQ(get("\"other\"", etag, "", ""), P::precondition_failed);
    EXPECT_EQ(get(etag, etag, "", ""), P::not_modified);
    EXPECT_EQ(get("", etag, "", before_mtime), P::precondition_failed);
}

TEST(Precondition, IfModifiedSince) {
    EXPECT_EQ(get("", "", at_mtime, ""), P::not_modified);
    EXPECT_EQ(get("", "", after_mtime, ""), P::not_modified);
    EXPECT_EQ(get("", "", before_mtime, ""), P::proceed);
    EXPECT_EQ(get("", "", "Sunday, 06-Nov-94 08:49:37 GMT", ""), P::not_modified);
    EXPECT_EQ(get("", "", "Sun Nov  6 08:49:37 1994", ""), P::not_modified);
    EXPECT_EQ(get("", "", "  Sun, 06 Nov 1994 08:49:37 GMT  ", ""), P::not_modified);
    EXPECT_EQ(get("", "", "yesterday", ""), P::proceed);  // invalid: ignored
    // Only for GET/HEAD...
    EXPECT_EQ(post("", "", at_mtime, ""), P::proceed);
    // ...and only without If-None-Match, which decides alone (RFC 9110 §13.1.3).
    EXPECT_EQ(get("", "\"other\"", at_mtime, ""), P::proceed);
    EXPECT_EQ(get("", etag, before_mtime, ""), P::not_modified);
}

/// Shorthand: Range against a 1000-byte representation with (etag, mtime).
RangeResult range(std::string_view value, std::string_view if_range = "",
                  std::uint64_t size = 1000) {
    return evaluate_range(value, if_range, etag, mtime, size);
}

void expect_partial(const RangeResult& result, std::uint64_t first, std::uint64_t last) {
    EXPECT_EQ(result.kind, RangeKind::partial);
    EXPECT_EQ(result.range.first, first);
    EXPECT_EQ(result.range.last, last);
}

TEST(Range, AbsentMeansFull) {
    EXPECT_EQ(range("").kind, RangeKind::full);
    EXPECT_EQ(range("  ").kind, RangeKind::full);
}

TEST(Range, SingleRanges) {
    expect_partial(range("bytes=0-99"), 0, 99);
    expect_partial(range("bytes=100-"), 100, 999);
    expect_partial(range("bytes=-500"), 500, 999);
    expect_partial(range("bytes=0-0"), 0, 0);
    expect_partial(range("bytes=999-999"), 999, 999);
    expect_partial(range("bytes=0-999"), 0, 999);
    expect_partial(range("bytes=500-5000"), 500, 999);  // last clamped to size - 1
    expect_partial(range("bytes=-5000"), 0, 999);       // suffix longer than the file
    expect_partial(range("bytes=-1", "", 1), 0, 0);
}

TEST(Range, WhitespaceAndCase) {
    expect_partial(range("  bytes=0-99\t"), 0, 99);
    expect_partial(range("BYTES=0-99"), 0, 99);
    expect_partial(range("Bytes=0-99"), 0, 99);
    expect_partial(range("bytes= 0-99 "), 0, 99);
    expect_partial(range("bytes=0-99,"), 0, 99);  // empty list elements are allowed
    expect_partial(range("bytes=, ,0-99 , "), 0, 99);
    expect_partial(range("bytes =0-99"), 0, 99);
}

TEST(Range, IgnoredAsFull) {
    for (std::string_view value : {
             "bytes=0-99,200-299",  // several ranges
             "bytes=0-1, -1",
             "items=0-10",  // other unit
             "bytes",       // no '='
             "bytes=",      // empty set
             "bytes=,",
             "bytes=-",  // neither first nor suffix
             "bytes=abc",
             "bytes=1-a",
             "bytes=a-1",
             "bytes=1",
             "bytes=10-5",    // last < first is invalid
             "bytes=0 - 99",  // no whitespace inside a range-spec
             "bytes=--5",
             "bytes=-5-",
             "bytes=+5-9",
             "bytes=0x10-20",
             "=0-99",
             "bytes=0-99\r\n",
         }) {
        EXPECT_EQ(range(value).kind, RangeKind::full) << value;
    }
}

TEST(Range, Unsatisfiable) {
    for (std::string_view value :
         {"bytes=1000-", "bytes=1000-2000", "bytes=5000-5001", "bytes=-0", "bytes=-000"}) {
        EXPECT_EQ(range(value).kind, RangeKind::unsatisfiable) << value;
    }
    // An empty representation satisfies no range at all.
    for (std::string_view value : {"bytes=0-", "bytes=0-0", "bytes=-1"}) {
        EXPECT_EQ(range(value, "", 0).kind, RangeKind::unsatisfiable) << value;
    }
    EXPECT_EQ(range("", "", 0).kind, RangeKind::full);
}

TEST(Range, HugeNumbersNeverOverflow) {
    EXPECT_EQ(range("bytes=99999999999999999999999-").kind, RangeKind::unsatisfiable);
    EXPECT_EQ(range("bytes=18446744073709551615-").kind, RangeKind::unsatisfiable);
    EXPECT_EQ(range("bytes=18446744073709551616-18446744073709551617").kind,
              RangeKind::unsatisfiable);
    expect_partial(range("bytes=0-99999999999999999999999"), 0, 999);
    expect_partial(range("bytes=-99999999999999999999999"), 0, 999);
    expect_partial(range("bytes=0-18446744073709551615", "", UINT64_MAX), 0, UINT64_MAX - 1);
    expect_partial(range("bytes=-18446744073709551615", "", UINT64_MAX), 0, UINT64_MAX - 1);
    // last saturates too, so "first > last" cannot be faked by wrap-around.
    EXPECT_EQ(range("bytes=99999999999999999999999-1").kind, RangeKind::full);
}

TEST(Range, IfRange) {
    expect_partial(range("bytes=0-99", etag), 0, 99);
    expect_partial(range("bytes=0-99", " \"2ebc98a1-1f4\" "), 0, 99);
    expect_partial(range("bytes=0-99", at_mtime), 0, 99);
    expect_partial(range("bytes=0-99", "Sunday, 06-Nov-94 08:49:37 GMT"), 0, 99);
    // Any mismatch sends the whole representation.
    for (std::string_view if_range : std::initializer_list<std::string_view>{
             "\"other\"", "W/\"2ebc98a1-1f4\"", "\"2ebc98a1-1f4\" x", "\"2ebc98a1-1f4",
             before_mtime, after_mtime, "garbage", "\"2ebc98a1-1f4\", \"x\""}) {
        EXPECT_EQ(range("bytes=0-99", if_range).kind, RangeKind::full) << if_range;
    }
    // A false If-Range wins over an unsatisfiable range: Range is ignored altogether.
    EXPECT_EQ(range("bytes=5000-", "\"other\"").kind, RangeKind::full);
    EXPECT_EQ(range("bytes=5000-", etag).kind, RangeKind::unsatisfiable);
    // If-Range never compares against a weak ETag of ours.
    EXPECT_EQ(evaluate_range("bytes=0-1", "W/\"a\"", "W/\"a\"", mtime, 10).kind, RangeKind::full);
    EXPECT_EQ(evaluate_range("bytes=0-1", "\"a\"", "W/\"a\"", mtime, 10).kind, RangeKind::full);
}

TEST(CacheControl, HashedAssetsAreImmutable) {
    constexpr std::string_view immutable = "public, max-age=31536000, immutable";
    for (std::string_view path : {
             "/build/assets/app.js",  // Laravel Vite output directory
             "/build/assets/anything/at/all.css",
             "/_next/static/chunks/main.js",  // Next.js
             "/js/app-4f3a9c1b.js",           // name-hash, hex
             "/css/main.1a2b3c4d5e.css",      // name.hash, hex (webpack)
             "/assets/index-Bq3xK9aZ.js",     // base64url, mixed case (Rollup/Vite)
             "/assets/index-C3cNgPZ_.js",
             "/x/vendor.0123456789abcdef0123.chunk.js",
             "app-4f3a9c1b.js",
             "/static/js/main.1a2b3c4d.chunk.js",
             "/a/lib-4f3a9c1b-min.js",
         }) {
        EXPECT_EQ(cache_control_for(path), immutable) << path;
    }
}

TEST(CacheControl, EverythingElseRevalidates) {
    for (std::string_view path : {
             "/",
             "",
             "/index.html",
             "/favicon.ico",
             "/js/app.js",
             "/build/manifest.json",
             "/build/assets/",
             "/build/assetsx/app.js",
             "/_next/data/x.json",
             "/js/bootstrap-datepicker.js",  // a word, not a hash
             "/js/polyfill-es2015plus.js",   // letters past 'f' and no upper case
             "/js/MyComponent-Button.js",    // no digit
             "/js/app-4f3a9c1.js",           // 7 chars: too short
             "/js/app-4f3a9c1b",             // no extension
             "/js/app-4f3a9c1b.",            // empty extension
             "/-4f3a9c1b.js",                // nothing before the hash
             "/js/jquery-3.7.1.min.js",
             "/js/app-4f3a9c1b!.js",
             "/4f3a9c1b/app.js",  // a hash directory does not count
             "/js/4f3a9c1b.js",   // the hash must follow a name
             "/js/4f3a9c1b-app.js",
         }) {
        EXPECT_EQ(cache_control_for(path), "") << path;
    }
}

}  // namespace
}  // namespace askr::static_files
