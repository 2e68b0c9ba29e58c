#include "http/h1/parser.hpp"

#include <http_parser.h>

#include "core/text.hpp"
#include "http/fields.hpp"
#include "http/h1/chunked_framing.hpp"

#include <cctype>

#include <string>

namespace askr::http::h1 {

namespace {

// What one request's parse builds up; reset as a whole when the next request starts.
struct Message {
    bool in_value = false;
    std::size_t header_bytes = 0;
    bool headers_done = false;
    bool message_done = false;
    bool expect_continue = false;
    bool checking_chunks = false;  // body is chunked: ChunkedFraming sees the bytes first
    bool chunk_pause = false;      // paused after the headers to start checking
    bool skip_lf = false;          // http_parser re-reads the head's last LF after a pause
    ChunkedFraming framing;
    // The scan of the request line (Parser::feed): whether it is well-formed so far,
    // method SP target SP HTTP-version, so that an unknown method in a good line is told
    // from a line that is no request line at all (501 vs 400, RFC 9110 section 9.1).
    enum class Line : std::uint8_t { method, target, version, good, malformed } line = Line::method;
    std::uint8_t line_part_length = 0;  // bytes of the current part so far, capped
    std::size_t line_bytes = 0;         // bytes of the line scanned so far
    // http-parser refused the method before the line was whole: the verdict (501 or
    // 400) waits for the scan to reach the line's end.
    bool method_refused = false;
    // The scan of the head for obs-fold (Parser::feed): where it stands.
    bool head_begun = false;  // past the empty lines a request may follow (RFC 9112 section 2.2)
    bool head_scanned = false;
    bool after_lf = false;
    int error_status = 0;
    const char* error_reason = nullptr;
};

}  // namespace

struct Parser::State : Message {
    http_parser parser;
    Limits limits;
    Request* request = nullptr;
    std::string field;  // current header name (lower-case), may arrive in pieces
    std::string value;  // current header value (both keep their capacity across requests)

    // -1, not 1: from on_headers_complete, http_parser reads 1 as "no body" (http_parser.h).
    int fail(int status, const char* reason) {
        error_status = status;
        error_reason = reason;
        return -1;
    }
};

namespace {

using State = Parser::State;

State& state_of(http_parser* p) {
    return *static_cast<State*>(p->data);
}

int store_header(State& s) {
    if (s.field.empty()) return 0;
    if (s.request->header_count() >= s.limits.max_header_count) {
        return s.fail(431, "too many header fields");
    }
    for (unsigned char c : s.value) {
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return s.fail(400, "control character in a header value");
    }
    s.request->add_header(s.field, core::trim_ows(s.value));
    s.field.clear();
    s.value.clear();
    s.in_value = false;
    return 0;
}

int on_url(http_parser* p, const char* at, std::size_t length) {
    State& s = state_of(p);
    if (s.request->target.size() + length > s.limits.max_target_bytes) {
        return s.fail(414, "request-target too long");
    }
    s.request->target.append(at, length);
    return 0;
}

int on_header_field(http_parser* p, const char* at, std::size_t length) {
    State& s = state_of(p);
    if (s.in_value && store_header(s) != 0) return -1;
    s.header_bytes += length;
    if (s.header_bytes > s.limits.max_header_bytes) return s.fail(431, "header fields too large");
    // RFC 9110 section 6.5.1: trailer fields must not be merged into the header section.
    // None is known to be safe there (Cookie, Authorization, Content-Type would change
    // auth and body parsing), so they are counted against the limit and dropped.
    if (s.headers_done) return 0;
    for (std::size_t i = 0; i < length; ++i) {
        const auto c = static_cast<unsigned char>(at[i]);
        if (!is_tchar(c)) return s.fail(400, "invalid character in a header name");
        s.field += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    return 0;
}

int on_header_value(http_parser* p, const char* at, std::size_t length) {
    State& s = state_of(p);
    s.in_value = true;
    s.header_bytes += length;
    if (s.header_bytes > s.limits.max_header_bytes) return s.fail(431, "header fields too large");
    if (s.headers_done) return 0;  // a trailer field: dropped (on_header_field)
    s.value.append(at, length);
    return 0;
}

int on_headers_complete(http_parser* p) {
    State& s = state_of(p);
    if (store_header(s) != 0) return -1;
    Request& r = *s.request;
    r.method = http_method_str(static_cast<http_method>(p->method));
    r.version_major = p->http_major;
    r.version_minor = p->http_minor;
    r.keep_alive = http_should_keep_alive(p) != 0 && p->upgrade == 0;
    s.headers_done = true;

    if (r.version_major != 1) return s.fail(505, "unsupported HTTP version");
    if (r.target.empty()) return s.fail(400, "empty request-target");
    // CONNECT asks for a tunnel (RFC 9110 section 9.3.6): a proxy's job, not an origin's.
    if (r.method == "CONNECT") return s.fail(501, "CONNECT is not supported: Askr is not a proxy");
    // asterisk-form (RFC 9112 section 3.2.4) is for OPTIONS only; the chain answers it.
    const bool asterisk_form = r.target == "*" && r.method == "OPTIONS";
    // absolute-form (RFC 9112 section 3.2.2): the server is the origin, so the path (and
    // query) is kept, and the target's authority stands in for Host.
    std::string authority;
    if (r.target.front() != '/' && !asterisk_form) {
        std::string_view t = r.target;
        const auto scheme_end = t.find("://");
        if (scheme_end == std::string_view::npos) return s.fail(400, "invalid request-target");
        const auto scheme = t.substr(0, scheme_end);
        if (!core::iequals(scheme, "http") && !core::iequals(scheme, "https"))
            return s.fail(400, "absolute-form request-target with a scheme other than http(s)");
        t.remove_prefix(scheme_end + 3);
        const auto authority_end = t.find_first_of("/?#");
        authority.assign(t.substr(0, authority_end));
        // RFC 9110 section 4.2.4: userinfo in an http(s) URI is treated as an error.
        if (!is_valid_host(authority))
            return s.fail(400, "invalid authority in an absolute-form request-target");
        std::string rest(authority_end == std::string_view::npos ? std::string_view{}
                                                                 : t.substr(authority_end));
        if (rest.empty() || rest.front() != '/') rest.insert(0, 1, '/');
        r.target = std::move(rest);
    }
    drop_fragment(r.target);
    for (unsigned char c : r.target) {
        if (c <= 0x20 || c == 0x7f) return s.fail(400, "invalid character in the request-target");
    }

    std::size_t hosts = 0;
    std::string_view host;
    std::size_t content_lengths = 0;
    std::string_view transfer_encoding;
    for (std::size_t i = 0; i < r.header_count(); ++i) {
        auto name = r.header_name(i);
        if (name == "host") {
            ++hosts;
            host = r.header_value(i);
        } else if (name == "content-length") {
            ++content_lengths;
        } else if (name == "transfer-encoding") {
            if (!transfer_encoding.empty()) return s.fail(501, "repeated Transfer-Encoding");
            transfer_encoding = r.header_value(i);
        }
    }
    // RFC 9112 section 3.2: a client MUST send Host in HTTP/1.1, exactly once.
    if (hosts > 1) return s.fail(400, "more than one Host header");
    if (hosts == 0 && r.version_minor >= 1) return s.fail(400, "missing Host header");
    if (authority.empty() && hosts == 1 && !is_valid_host(host)) {
        return s.fail(400, "invalid Host header");
    }
    // RFC 9112 section 6.1 and 6.3: Transfer-Encoding with Content-Length is a smuggling
    // attempt; a transfer coding other than chunked cannot be decoded here.
    if (!transfer_encoding.empty()) {
        if (content_lengths > 0)
            return s.fail(400, "Content-Length together with Transfer-Encoding");
        if (!core::iequals(transfer_encoding, "chunked"))
            return s.fail(501, "unsupported Transfer-Encoding");
        if (r.version_minor == 0) return s.fail(400, "Transfer-Encoding in an HTTP/1.0 request");
    }
    if (content_lengths > 1) return s.fail(400, "repeated Content-Length");
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > s.limits.max_body_bytes) {
        return s.fail(413, "body larger than the maximum body size");
    }
    // Last: it moves the header storage the views above point into.
    if (!authority.empty()) r.replace_header("host", authority);  // the received Host is ignored
    if (core::iequals(r.header("expect"), "100-continue") && r.version_minor >= 1 &&
        ((p->flags & F_CHUNKED) || ((p->flags & F_CONTENTLENGTH) && p->content_length > 0))) {
        s.expect_continue = true;
        http_parser_pause(p, 1);
    }
    if (p->flags & F_CHUNKED) {
        s.checking_chunks = true;
        s.skip_lf = true;
        s.framing.reset();
        if (!s.expect_continue) {
            s.chunk_pause = true;
            http_parser_pause(p, 1);
        }
    }
    return 0;
}

int on_body(http_parser* p, const char* at, std::size_t length) {
    State& s = state_of(p);
    if (s.request->body_length() + length > s.limits.max_body_bytes) {
        return s.fail(413, "body larger than the maximum body size");
    }
    if (!s.request->append_body(at, length))
        return s.fail(500, "cannot spool the request body to disk");
    return 0;
}

int on_message_complete(http_parser* p) {
    State& s = state_of(p);
    s.message_done = true;
    http_parser_pause(p, 1);  // one request at a time; the rest waits in the buffer
    return 0;
}

const http_parser_settings settings = [] {
    http_parser_settings st;
    http_parser_settings_init(&st);
    st.on_url = on_url;
    st.on_header_field = on_header_field;
    st.on_header_value = on_header_value;
    st.on_headers_complete = on_headers_complete;
    st.on_body = on_body;
    st.on_message_complete = on_message_complete;
    return st;
}();

}  // namespace

Parser::Parser(const Limits& limits) : state_(std::make_unique<State>()) {
    state_->limits = limits;
}

Parser::~Parser() = default;

void Parser::start(Request& request) {
    State& s = *state_;
    http_parser_init(&s.parser, HTTP_REQUEST);
    s.parser.data = &s;
    s.request = &request;
    request.clear();
    s.field.clear();
    s.value.clear();
    static_cast<Message&>(s) = Message{};
}

namespace {

// RFC 9112 section 5.2: a field line continued on the next (obs-fold, the next line starting
// with SP or HTAB) may be unfolded by a server, which http_parser does. A server facing the
// internet refuses it instead (400): intermediaries that do not unfold would read another
// request than Askr does ("Transfer-Encoding:\r\n chunked"). Scanned up to the head's end.
bool has_obs_fold(State& s, const char* data, std::size_t length) {
    for (std::size_t i = 0; i < length && !s.head_scanned; ++i) {
        const char c = data[i];
        if (!s.head_begun) {
            if (c == '\r' || c == '\n') continue;
            s.head_begun = true;
        }
        if (s.after_lf) {
            if (c == ' ' || c == '\t') return true;
            if (c == '\r' || c == '\n') s.head_scanned = true;  // the empty line ends the head
        }
        s.after_lf = c == '\n';
    }
    return false;
}

// Follows the request line as its bytes arrive, past the empty lines a request may follow
// (RFC 9112 section 2.2): a method token, SP, a target of visible characters, SP, and
// "HTTP/" DIGIT "." DIGIT before the line's end. A token longer than any method is not
// taken for one. Binary, TLS on the plain port or "GARBAGE\r\n" end up malformed.
void scan_request_line(State& s, const char* data, std::size_t length) {
    using Line = Message::Line;
    constexpr std::uint8_t longest_method = 32;
    static constexpr std::string_view version = "HTTP/d.d";
    for (std::size_t i = 0; i < length && s.line != Line::good && s.line != Line::malformed; ++i) {
        const auto c = static_cast<unsigned char>(data[i]);
        if (++s.line_bytes > s.limits.max_target_bytes + 64) {
            s.line = Line::malformed;  // longer than any request line let through
            break;
        }
        switch (s.line) {
            case Line::method:
                if (s.line_part_length == 0 && (c == '\r' || c == '\n')) continue;
                if (c == ' ' && s.line_part_length > 0) {
                    s.line = Line::target;
                    s.line_part_length = 0;
                } else if (!is_tchar(c) || ++s.line_part_length > longest_method) {
                    s.line = Line::malformed;
                }
                break;
            case Line::target:
                if (c == ' ' && s.line_part_length > 0) {
                    s.line = Line::version;
                    s.line_part_length = 0;
                } else if (c <= 0x20 || c == 0x7f) {
                    s.line = Line::malformed;
                } else {
                    s.line_part_length = 1;
                }
                break;
            case Line::version: {
                if (s.line_part_length == version.size()) {
                    s.line = c == '\r' || c == '\n' ? Line::good : Line::malformed;
                    break;
                }
                const char want = version[s.line_part_length++];
                const bool fits =
                    want == 'd' ? (c >= '0' && c <= '9') : c == static_cast<unsigned char>(want);
                if (!fits) s.line = Line::malformed;
                break;
            }
            default:
                break;
        }
    }
}

}  // namespace

Parser::Result Parser::feed(const char* data, std::size_t length) {
    State& s = *state_;
    if (s.error_status != 0) return {Status::error, 0};
    if (s.message_done) return {Status::complete, 0};
    if (s.line != Message::Line::good && s.line != Message::Line::malformed)
        scan_request_line(s, data, length);
    if (s.method_refused) {
        if (s.line == Message::Line::good) {
            s.fail(501, "unknown request method");
        } else if (s.line == Message::Line::malformed) {
            s.fail(400, "malformed request line");
        } else {
            return {Status::need_more, length};
        }
        return {Status::error, 0};
    }
    if (!s.head_scanned && has_obs_fold(s, data, length)) {
        s.fail(400, "obs-fold: a header field line continued on the next (RFC 9112 section 5.2)");
        return {Status::error, 0};
    }
    std::size_t total = 0;
    for (;;) {
        const char* chunk = data + total;
        const std::size_t available = length - total;
        std::size_t limit = available;
        if (s.checking_chunks && available > 0) {
            const std::size_t skip = s.skip_lf ? 1 : 0;
            s.skip_lf = false;
            std::size_t used = 0;
            if (s.framing.feed(chunk + skip, available - skip, used) ==
                ChunkedFraming::Result::invalid) {
                s.fail(400, "invalid chunked framing (RFC 9112 section 7.1)");
                return {Status::error, total};
            }
            limit = skip + used;  // the parser stops where the framing says the body ends
        }
        const std::size_t consumed = http_parser_execute(&s.parser, &settings, chunk, limit);
        total += consumed;
        const auto err = HTTP_PARSER_ERRNO(&s.parser);
        if (err == HPE_PAUSED) {
            if (s.message_done) return {Status::complete, total};
            if (s.expect_continue) return {Status::expect_continue, total};
            if (s.chunk_pause) {
                s.chunk_pause = false;
                http_parser_pause(&s.parser, 0);
                continue;
            }
        }
        if (s.error_status != 0) return {Status::error, total};
        if (err != HPE_OK && err != HPE_PAUSED) {
            switch (err) {
                case HPE_HEADER_OVERFLOW:
                    s.fail(431, "header section too large");
                    break;
                case HPE_INVALID_TRANSFER_ENCODING:
                    s.fail(501, "unsupported Transfer-Encoding");
                    break;
                case HPE_UNEXPECTED_CONTENT_LENGTH:
                    s.fail(400, "conflicting Content-Length");
                    break;
                case HPE_INVALID_METHOD:
                    // RFC 9110 section 9.1: 501 for a method this server does not know; bytes
                    // that are not a request line at all (binary, TLS on the plain port) get 400.
                    if (s.line == Message::Line::malformed) {
                        s.fail(400, "malformed request line");
                    } else if (s.line == Message::Line::good) {
                        s.fail(501, "unknown request method");
                    } else {
                        s.method_refused = true;  // decided once the line is whole
                        return {Status::need_more, length};
                    }
                    break;
                default:
                    s.fail(400, http_errno_description(err));
                    break;
            }
            return {Status::error, total};
        }
        if (total >= length || consumed == 0) return {Status::need_more, total};
    }
}

void Parser::continue_after_expect() {
    state_->expect_continue = false;
    http_parser_pause(&state_->parser, 0);
}

Parser::Result Parser::finish() {
    State& s = *state_;
    if (s.message_done) return {Status::complete, 0};
    http_parser_execute(&s.parser, &settings, nullptr, 0);
    if (s.message_done) return {Status::complete, 0};
    if (s.error_status == 0) s.fail(400, "connection closed in the middle of a request");
    return {Status::error, 0};
}

int Parser::error_status() const {
    return state_->error_status;
}
const char* Parser::error_reason() const {
    return state_->error_reason ? state_->error_reason : "";
}
bool Parser::headers_complete() const {
    return state_->headers_done;
}

}  // namespace askr::http::h1
