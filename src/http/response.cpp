#include "http/response.hpp"

#include "http/status.hpp"

namespace askr::http {

BodyFraming decide_framing(const Request& request, const ResponseHead& head,
                           std::size_t first_bytes, bool last) {
    // 1xx, 204 and 304 never have a body nor (1xx, 204) a Content-Length (RFC 9110
    // section 8.6); a 304's length would describe the selected representation, which
    // Askr does not repeat.
    if (status_has_no_body(head.status)) return {false, std::nullopt};
    // HEAD: the length a GET would have, when the handler knows it (section 9.3.2).
    if (request.method == "HEAD") return {false, head.content_length};
    if (head.content_length) return {true, head.content_length};
    if (last) return {true, first_bytes};
    return {true, std::nullopt};
}

}  // namespace askr::http
