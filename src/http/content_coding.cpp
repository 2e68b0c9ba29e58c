#include "http/content_coding.hpp"

#include <array>
#include <optional>

#include "core/text.hpp"
#include "http/fields.hpp"

namespace askr::http {

namespace {

// A weight in thousandths: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
// (RFC 9110 section 12.4.2); nullopt when `text` is not one.
std::optional<int> parse_qvalue(std::string_view text) {
    if (text.empty() || text.size() > 5) return std::nullopt;
    if (text[0] != '0' && text[0] != '1') return std::nullopt;
    int value = text[0] == '1' ? 1000 : 0;
    if (text.size() == 1) return value;
    if (text[1] != '.') return std::nullopt;
    int scale = 100;
    for (char c : text.substr(2)) {
        if (c < '0' || c > '9') return std::nullopt;
        if (value == 1000 && c != '0') return std::nullopt;
        value += (c - '0') * scale;
        scale /= 10;
    }
    return value;
}

bool is_token(std::string_view text) {
    if (text.empty()) return false;
    for (char c : text)
        if (!is_tchar(static_cast<unsigned char>(c))) return false;
    return true;
}

// The weights an Accept-Encoding field gives: per coding (index = Coding), and for "*";
// -1 where the field does not say.
struct Weights {
    std::array<int, 4> coding{-1, -1, -1, -1};
    int any = -1;
};

// One element: coding [ OWS ";" OWS "q=" qvalue ]. Parameters other than q are not
// defined for Accept-Encoding: an element carrying one is malformed, hence ignored.
void read_element(std::string_view element, Weights& weights) {
    element = core::trim_ows(element);
    if (element.empty()) return;  // "gzip,,br": empty list elements are allowed (5.6.1)
    std::string_view name = element;
    int weight = 1000;
    const auto semicolon = element.find(';');
    if (semicolon != std::string_view::npos) {
        name = core::trim_ows(element.substr(0, semicolon));
        std::string_view parameter = core::trim_ows(element.substr(semicolon + 1));
        if (parameter.size() < 2 || (parameter[0] != 'q' && parameter[0] != 'Q') ||
            parameter[1] != '=')
            return;
        const auto q = parse_qvalue(parameter.substr(2));
        if (!q) return;
        weight = *q;
    }
    if (!is_token(name)) return;
    int* slot = nullptr;
    if (name == "*") {
        slot = &weights.any;
    } else if (core::iequals(name, "gzip") || core::iequals(name, "x-gzip")) {
        slot = &weights.coding[static_cast<int>(Coding::gzip)];
    } else if (core::iequals(name, "br")) {
        slot = &weights.coding[static_cast<int>(Coding::br)];
    } else if (core::iequals(name, "zstd")) {
        slot = &weights.coding[static_cast<int>(Coding::zstd)];
    } else if (core::iequals(name, "identity")) {
        slot = &weights.coding[static_cast<int>(Coding::identity)];
    } else {
        return;  // a coding Askr does not produce (deflate, compress, ...)
    }
    // Named twice: the first says it; a later repetition cannot undo a refusal.
    if (*slot < 0) *slot = weight;
}

}  // namespace

std::string_view coding_name(Coding coding) {
    switch (coding) {
        case Coding::gzip:
            return "gzip";
        case Coding::br:
            return "br";
        case Coding::zstd:
            return "zstd";
        case Coding::identity:
            break;
    }
    return "identity";
}

std::string_view coding_suffix(Coding coding) {
    switch (coding) {
        case Coding::gzip:
            return ".gz";
        case Coding::br:
            return ".br";
        case Coding::zstd:
            return ".zst";
        case Coding::identity:
            break;
    }
    return "";
}

Coding negotiate_coding(std::string_view accept_encoding, bool present, CodingSet offered) {
    if (!present || (offered & all_codings) == 0) return Coding::identity;
    Weights weights;
    // Bounded work for a hostile field: the header limits bound its length already.
    while (!accept_encoding.empty()) {
        const auto comma = accept_encoding.find(',');
        read_element(accept_encoding.substr(0, comma), weights);
        if (comma == std::string_view::npos) break;
        accept_encoding.remove_prefix(comma + 1);
    }
    // Server preference among equal weights: smaller output first (zstd and br beat gzip
    // on text at comparable CPU cost, docs/compression.md).
    constexpr std::array preference{Coding::zstd, Coding::br, Coding::gzip};
    Coding best = Coding::identity;
    int best_weight = 0;
    for (Coding coding : preference) {
        if ((offered & coding_bit(coding)) == 0) continue;
        int weight = weights.coding[static_cast<int>(coding)];
        if (weight < 0) weight = weights.any < 0 ? 0 : weights.any;
        if (weight > best_weight) {
            best = coding;
            best_weight = weight;
        }
    }
    if (best == Coding::identity) return Coding::identity;
    // identity is acceptable unless refused (section 12.5.3); when the field does not
    // weigh it, any accepted coding is preferred to it.
    int identity = weights.coding[static_cast<int>(Coding::identity)];
    if (identity < 0) identity = weights.any < 0 ? 0 : weights.any;
    return identity > best_weight ? Coding::identity : best;
}

}  // namespace askr::http
