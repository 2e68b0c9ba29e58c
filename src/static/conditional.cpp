#include "static/conditional.hpp"

#include "core/text.hpp"

#include <cinttypes>
#include <cstdio>

#include "static/http_date.hpp"

namespace askr::static_files {

namespace {

constexpr std::uint64_t max_u64 = UINT64_MAX;

bool is_ows(char c) {
    return c == ' ' || c == '\t';
}

/// RFC 9110 §5.6.3: OWS = *( SP / HTAB ).
constexpr auto trim = core::trim_ows;


/// One entity-tag (RFC 9110 §8.8.3): opaque-tag with its quotes, and the weakness flag.
struct EntityTag {
    std::string_view opaque;
    bool weak = false;
};

/// Reads an entity-tag at the start of `text` (consuming it); false on a syntax error.
/// entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE; etagc excludes DQUOTE, so the next
/// DQUOTE closes it.
bool read_entity_tag(std::string_view& text, EntityTag& tag) {
    tag.weak = text.substr(0, 2) == "W/";
    if (tag.weak) text.remove_prefix(2);
    if (text.empty() || text.front() != '"') return false;
    const std::size_t close = text.find('"', 1);
    if (close == std::string_view::npos) return false;
    tag.opaque = text.substr(0, close + 1);
    text.remove_prefix(close + 1);
    return true;
}

/// Parses our own ETag; a malformed one has an empty opaque-tag and never matches.
EntityTag parse_own_etag(std::string_view etag) {
    EntityTag tag;
    etag = trim(etag);
    if (!read_entity_tag(etag, tag) || !etag.empty()) return {};
    return tag;
}

/// RFC 9110 §8.8.3.2: strong comparison needs both tags strong; weak ignores W/.
bool tags_match(const EntityTag& a, const EntityTag& b, bool strong) {
    if (a.opaque.empty() || b.opaque.empty()) return false;
    if (strong && (a.weak || b.weak)) return false;
    return a.opaque == b.opaque;
}

/// Whether `list` (an If-Match / If-None-Match value, RFC 9110 §13.1.1-2) matches `etag`:
/// "*" matches any current representation; otherwise any member of the #entity-tag list.
/// Empty list elements are skipped (§5.6.1); a syntax error ends the list (no match
/// beyond it), which fails safe: If-Match then answers 412, If-None-Match sends the body.
bool list_matches(std::string_view list, const EntityTag& etag, bool strong) {
    list = trim(list);
    if (list == "*") return true;
    while (true) {
        while (!list.empty() && (is_ows(list.front()) || list.front() == ','))
            list.remove_prefix(1);
        if (list.empty()) return false;
        EntityTag tag;
        if (!read_entity_tag(list, tag)) return false;
        if (tags_match(tag, etag, strong)) return true;
        while (!list.empty() && is_ows(list.front())) list.remove_prefix(1);
        if (!list.empty() && list.front() != ',') return false;
    }
}

/// 1*DIGIT, saturating at UINT64_MAX instead of overflowing; false when no digit.
bool read_number(std::string_view& text, std::uint64_t& value) {
    std::size_t i = 0;
    value = 0;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
        const auto digit = static_cast<std::uint64_t>(text[i] - '0');
        value = value > (max_u64 - digit) / 10 ? max_u64 : value * 10 + digit;
    }
    text.remove_prefix(i);
    return i > 0;
}

/// One range-spec of RFC 9110 §14.1.1: an int-range ("first-[last]") or a suffix-range
/// ("-length"). For a suffix, `first` holds the suffix length.
struct RangeSpec {
    bool suffix = false;
    bool has_last = false;
    std::uint64_t first = 0;
    std::uint64_t last = 0;
};

bool parse_range_spec(std::string_view text, RangeSpec& spec) {
    if (!text.empty() && text.front() == '-') {
        text.remove_prefix(1);
        spec.suffix = true;
        return read_number(text, spec.first) && text.empty();
    }
    if (!read_number(text, spec.first) || text.empty() || text.front() != '-') return false;
    text.remove_prefix(1);
    if (text.empty()) return true;
    spec.has_last = true;
    // §14.1.1: an int-range with last < first is invalid.
    return read_number(text, spec.last) && text.empty() && spec.last >= spec.first;
}

/// §13.1.5: If-Range holds either an entity-tag, compared strongly, or an HTTP-date that
/// must equal the Last-Modified date exactly. Anything unparseable is false.
bool if_range_matches(std::string_view if_range, std::string_view etag, std::time_t mtime) {
    if_range = trim(if_range);
    if (if_range.front() == '"' || if_range.substr(0, 2) == "W/") {
        EntityTag tag;
        if (!read_entity_tag(if_range, tag) || !trim(if_range).empty()) return false;
        return tags_match(tag, parse_own_etag(etag), /*strong=*/true);
    }
    const std::optional<std::time_t> date = parse_http_date(if_range);
    return date && *date == mtime;
}

/// Whether `hash` looks like a content hash: ≥ 8 chars of [A-Za-z0-9_] with a digit, and
/// either lower-case hex (webpack, Next.js) or mixed case (Vite/Rollup base64url). Plain
/// words ("datepicker", "es2015plus") fail, so an unversioned file is never made immutable.
bool looks_like_hash(std::string_view hash) {
    if (hash.size() < 8) return false;
    bool digit = false, upper = false, lower = false, non_hex = false;
    for (char c : hash) {
        if (c >= '0' && c <= '9') {
            digit = true;
        } else if (c >= 'a' && c <= 'z') {
            lower = true;
            if (c > 'f') non_hex = true;
        } else if (c >= 'A' && c <= 'Z') {
            upper = true;
        } else if (c == '_') {
            non_hex = true;
        } else {
            return false;
        }
    }
    if (!digit) return false;
    const bool hex = !upper && !non_hex;
    return hex || (upper && lower);
}

}  // namespace

std::string make_etag(std::time_t mtime, std::uint64_t size) {
    const auto seconds = mtime < 0 ? std::uint64_t{0} : static_cast<std::uint64_t>(mtime);
    char buffer[2 * 16 + 4];
    const int length =
        std::snprintf(buffer, sizeof buffer, "\"%" PRIx64 "-%" PRIx64 "\"", seconds, size);
    return std::string(buffer, static_cast<std::size_t>(length));
}

Precondition evaluate_preconditions(bool is_get_or_head, std::string_view if_match,
                                    std::string_view if_none_match,
                                    std::string_view if_modified_since,
                                    std::string_view if_unmodified_since, std::string_view etag,
                                    std::time_t mtime) {
    if_match = trim(if_match);
    if_none_match = trim(if_none_match);
    if_modified_since = trim(if_modified_since);
    if_unmodified_since = trim(if_unmodified_since);
    const EntityTag own = parse_own_etag(etag);

    // §13.2.2 step 1: If-Match, strong comparison (§13.1.1).
    if (!if_match.empty()) {
        if (!list_matches(if_match, own, /*strong=*/true)) return Precondition::precondition_failed;
    } else if (!if_unmodified_since.empty()) {
        // Step 2: If-Unmodified-Since only without If-Match; an invalid date is ignored
        // (§13.1.4). False when the representation changed after the date.
        const std::optional<std::time_t> date = parse_http_date(if_unmodified_since);
        if (date && mtime > *date) return Precondition::precondition_failed;
    }

    // Step 3: If-None-Match, weak comparison (§13.1.2).
    if (!if_none_match.empty()) {
        if (list_matches(if_none_match, own, /*strong=*/false)) {
            return is_get_or_head ? Precondition::not_modified : Precondition::precondition_failed;
        }
    } else if (is_get_or_head && !if_modified_since.empty()) {
        // Step 4: If-Modified-Since only for GET/HEAD without If-None-Match; an invalid
        // date is ignored (§13.1.3). Not modified when mtime is at or before the date.
        const std::optional<std::time_t> date = parse_http_date(if_modified_since);
        if (date && mtime <= *date) return Precondition::not_modified;
    }
    return Precondition::proceed;
}

RangeResult evaluate_range(std::string_view range, std::string_view if_range, std::string_view etag,
                           std::time_t mtime, std::uint64_t size) {
    const RangeResult full{RangeKind::full, {}};
    const RangeResult unsatisfiable{RangeKind::unsatisfiable, {}};

    // ranges-specifier = range-unit "=" range-set (§14.1.1); range units compare
    // case-insensitively (§14.1).
    range = trim(range);
    const std::size_t equals = range.find('=');
    if (equals == std::string_view::npos) return full;
    if (!core::iequals(trim(range.substr(0, equals)), "bytes")) return full;

    // range-set = 1#range-spec, with empty list elements allowed (§5.6.1).
    std::string_view set = range.substr(equals + 1);
    RangeSpec spec;
    int count = 0;
    while (!set.empty()) {
        std::size_t comma = set.find(',');
        if (comma == std::string_view::npos) comma = set.size();
        const std::string_view element = trim(set.substr(0, comma));
        set.remove_prefix(comma == set.size() ? comma : comma + 1);
        if (element.empty()) continue;
        if (++count > 1) return full;  // several ranges: ignored, we send one 200 instead
        if (!parse_range_spec(element, spec)) return full;
    }
    if (count == 0) return full;

    // §13.2.2 step 5 / §13.1.5: a false If-Range means ignore Range.
    if (!trim(if_range).empty() && !if_range_matches(if_range, etag, mtime)) return full;

    // §14.1.1: a range-set is satisfiable when some range starts before the end; an
    // empty representation satisfies nothing, nor does a zero-length suffix.
    if (size == 0) return unsatisfiable;
    if (spec.suffix) {
        if (spec.first == 0) return unsatisfiable;
        const std::uint64_t length = spec.first < size ? spec.first : size;
        return {RangeKind::partial, {size - length, size - 1}};
    }
    if (spec.first >= size) return unsatisfiable;  // includes saturated huge numbers
    const std::uint64_t last = spec.has_last && spec.last < size ? spec.last : size - 1;
    return {RangeKind::partial, {spec.first, last}};
}

std::string_view cache_control_for(std::string_view uri_path) {
    constexpr std::string_view immutable = "public, max-age=31536000, immutable";
    for (std::string_view prefix :
         {std::string_view("/build/assets/"), std::string_view("/_next/static/")}) {
        if (uri_path.substr(0, prefix.size()) == prefix && uri_path.size() > prefix.size()) {
            return immutable;
        }
    }
    const std::size_t slash = uri_path.rfind('/');
    const std::string_view name =
        slash == std::string_view::npos ? uri_path : uri_path.substr(slash + 1);
    const std::size_t dot = name.rfind('.');
    if (dot == std::string_view::npos || dot + 1 == name.size()) return {};
    // Every part of the stem after a '-' or '.' is a candidate, so that webpack's
    // "main.1a2b3c4d.chunk.js" counts as well as "app-4f3a9c1b.js"; the part before the
    // first separator is the asset's name and never counts.
    std::string_view stem = name.substr(0, dot);
    std::size_t separator = stem.find_first_of("-.");
    if (separator == 0) return {};
    while (separator != std::string_view::npos) {
        stem.remove_prefix(separator + 1);
        separator = stem.find_first_of("-.");
        if (looks_like_hash(stem.substr(0, separator))) return immutable;
    }
    return {};
}

}  // namespace askr::static_files
