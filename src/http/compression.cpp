#include "http/compression.hpp"

#include "core/text.hpp"
#include "http/status.hpp"

namespace askr::http {

namespace {

// "Text/HTML; charset=utf-8" -> "text/html" compared without case.
std::string_view media_type(std::string_view content_type) {
    const auto semicolon = content_type.find(';');
    return core::trim_ows(content_type.substr(0, semicolon));
}

bool type_matches(std::string_view type, std::string_view pattern) {
    if (pattern.empty()) return false;
    if (pattern.front() == '+') {  // a structured syntax suffix: application/ld+json
        return type.size() > pattern.size() &&
               core::iequals(type.substr(type.size() - pattern.size()), pattern) &&
               type.find('/') < type.size() - pattern.size();
    }
    if (pattern.ends_with("/*")) {
        const auto prefix = pattern.substr(0, pattern.size() - 1);  // "text/"
        return type.size() > prefix.size() && core::iequals(type.substr(0, prefix.size()), prefix);
    }
    return core::iequals(type, pattern);
}

// True when a comma-separated field value lists `token` (any case).
bool lists_token(std::string_view value, std::string_view token) {
    while (!value.empty()) {
        const auto comma = value.find(',');
        if (core::iequals(core::trim_ows(value.substr(0, comma)), token)) return true;
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
    }
    return false;
}

// Cache-Control: no-transform asks intermediaries not to change the content (RFC 9111
// section 5.2.2.6); Apache's mod_deflate honours it from the application as well, and so
// does Askr: it is the way for a script to keep one response uncompressed.
bool forbids_transform(const Fields& fields) {
    for (std::size_t i = 0; i < fields.size(); ++i) {
        if (core::iequals(fields.name(i), "cache-control") &&
            lists_token(fields.value(i), "no-transform"))
            return true;
    }
    return false;
}

}  // namespace

int CompressionSettings::level(Coding coding) const {
    switch (coding) {
        case Coding::gzip:
            return gzip_level;
        case Coding::br:
            return br_level;
        case Coding::zstd:
            return zstd_level;
        case Coding::identity:
            break;
    }
    return 0;
}

bool compressible_type(std::string_view content_type, const std::vector<std::string>& types) {
    const auto type = media_type(content_type);
    if (type.empty()) return false;
    for (const auto& pattern : types) {
        if (type_matches(type, pattern)) return true;
    }
    return false;
}

Coding negotiate_coding(const Request& request, CodingSet offered) {
    std::size_t lines = 0;
    std::size_t last = 0;
    for (std::size_t i = 0; i < request.header_count(); ++i) {
        if (request.header_name(i) == "accept-encoding") {
            ++lines;
            last = i;
        }
    }
    if (lines <= 1) {
        return negotiate_coding(lines ? request.header_value(last) : std::string_view{}, lines == 1,
                                offered);
    }
    std::string combined;  // rare: several field lines are one list
    for (std::size_t i = 0; i < request.header_count(); ++i) {
        if (request.header_name(i) != "accept-encoding") continue;
        if (!combined.empty()) combined += ',';
        combined += request.header_value(i);
    }
    return negotiate_coding(combined, true, offered);
}

void add_vary_accept_encoding(Fields& fields) {
    std::size_t vary_lines = 0;
    std::string_view existing;
    for (std::size_t i = 0; i < fields.size(); ++i) {
        if (!core::iequals(fields.name(i), "vary")) continue;
        const auto value = fields.value(i);
        if (lists_token(value, "accept-encoding") || lists_token(value, "*")) return;
        ++vary_lines;
        existing = value;
    }
    if (vary_lines == 1 && !core::trim_ows(existing).empty()) {
        std::string merged(core::trim_ows(existing));
        merged += ", Accept-Encoding";
        fields.remove("vary");
        fields.add("Vary", merged);
        return;
    }
    fields.add("Vary", "Accept-Encoding");  // several lines combine (RFC 9110 section 5.3)
}

void weaken_etag(Fields& fields) {
    const auto etag = fields.get("etag");
    if (etag.empty() || etag.starts_with("W/")) return;
    std::string weak = "W/";
    weak += etag;
    fields.remove("etag");
    fields.add("ETag", weak);
}

std::unique_ptr<Encoder> EncoderPool::take(Coding coding) {
    auto& spares = spares_[static_cast<int>(coding)];
    while (!spares.empty()) {
        auto encoder = std::move(spares.back());
        spares.pop_back();
        if (encoder->reset()) return encoder;
    }
    return make_encoder(coding, settings_.level(coding));
}

void EncoderPool::give_back(std::unique_ptr<Encoder> encoder) {
    if (!encoder) return;
    auto& spares = spares_[static_cast<int>(encoder->coding())];
    if (spares.size() < spares_per_coding) spares.push_back(std::move(encoder));
}

CompressFilter::CompressFilter(ResponseSink& next, const Request& request,
                               const CompressionSettings& settings, EncoderPool& pool)
    : next_(next), request_(request), settings_(settings), pool_(pool) {}

CompressFilter::~CompressFilter() {
    pool_.give_back(std::move(encoder_));
}

boost::asio::awaitable<bool> CompressFilter::interim(int status, const Fields& fields) {
    co_return co_await next_.interim(status, fields);
}

bool CompressFilter::eligible(const ResponseHead& head, std::size_t first_bytes, bool last) const {
    // A HEAD answer describes the identity content, as nginx's gzip filter leaves it.
    if (request_.method == "HEAD") return false;
    if (status_has_no_body(head.status) || head.status == 206) return false;
    const std::uint64_t known = head.content_length ? *head.content_length
                                : last              ? first_bytes
                                                    : settings_.min_size;
    if (known < settings_.min_size || known == 0) return false;
    const auto& f = head.fields;
    if (f.has("content-encoding") || f.has("content-range")) return false;
    if (!compressible_type(f.get("content-type"), settings_.types)) return false;
    return !forbids_transform(f);
}

boost::asio::awaitable<bool> CompressFilter::send(const ResponseHead* head, std::string_view body,
                                                  bool last) {
    if (head) {
        if (!eligible(*head, body.size(), last)) co_return co_await next_.send(head, body, last);
        head_ = *head;
        add_vary_accept_encoding(head_.fields);
        const Coding coding = negotiate_coding(request_, settings_.codings);
        if (coding != Coding::identity) encoder_ = pool_.take(coding);
        if (!encoder_) co_return co_await next_.send(&head_, body, last);
        head_.fields.add("Content-Encoding", coding_name(coding));
        head_.fields.remove("accept-ranges");  // no range of the encoded bytes is served
        weaken_etag(head_.fields);
        head_.content_length.reset();
        head = &head_;
    }
    if (!encoder_) co_return co_await next_.send(head, body, last);
    if (failed_) co_return false;
    output_.clear();
    if (!encoder_->encode(body, last ? EncodeFlush::finish : EncodeFlush::sync, output_)) {
        // Nothing decodable can follow: end the response short, so the client sees it fail.
        failed_ = true;
        co_return false;
    }
    const bool delivered = co_await next_.send(head, output_, last);
    if (output_.capacity() > 256 * 1024) std::string().swap(output_);  // bounded when idle
    co_return delivered;
}

boost::asio::awaitable<bool> CompressFilter::send_file(const ResponseHead* head, FileBody file) {
    co_return co_await next_.send_file(head, file);
}

bool CompressFilter::send_now(const ResponseHead& head, std::string_view body) {
    return next_.send_now(head, body);
}

}  // namespace askr::http
