#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace askr::http {

/// True for the fields only the protocol writes, which a sink never copies from a
/// response's field list: the ones that describe one connection rather than the message
/// (RFC 9110 section 7.6.1; RFC 9113 section 8.2.2 forbids them in HTTP/2: Connection,
/// Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade) and Content-Length, which
/// the protocol derives from the body it frames. Any case.
bool is_protocol_owned(std::string_view name);

/// True for a token character (RFC 9110 section 5.6.2): what field names and methods are
/// made of.
inline bool is_tchar(unsigned char c) {
    if (c >= '0' && c <= '9') return true;
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
    switch (c) {
        case '!':
        case '#':
        case '$':
        case '%':
        case '&':
        case '\'':
        case '*':
        case '+':
        case '-':
        case '.':
        case '^':
        case '_':
        case '`':
        case '|':
        case '~':
            return true;
        default:
            return false;
    }
}

/// True when `name` is a valid field name: a non-empty token (RFC 9110 section 5.1).
bool is_field_name(std::string_view name);

/// True for a valid Host or :authority value (RFC 9110 section 7.2, RFC 3986 section
/// 3.2.2): a reg-name (letters, digits, '-', '.', '_') or an IPv4 address, or an IPv6
/// address in brackets, then optionally ':' and a port of at most 65535. No userinfo. Apps
/// build URLs from it, so nothing else is let through.
bool is_valid_host(std::string_view host);

/// Header fields as (name, value) pairs, in the order they were added. In a response,
/// names are as the application spelled them: HTTP/1 writes them as they are, HTTP/2
/// lower-cases them (RFC 9113 section 8.2.1); a Request keeps its own lower-case. The
/// storage is reused: clear() keeps capacity.
class Fields {
  public:
    /// Appends a field (copied).
    void add(std::string_view name, std::string_view value);
    /// Removes every field named `name` (any case); returns how many.
    std::size_t remove(std::string_view name);
    /// The value of the first field named `name` (any case), "" when absent.
    std::string_view get(std::string_view name) const;
    /// True when a field named `name` (any case) is present.
    bool has(std::string_view name) const;
    /// Number of fields.
    std::size_t size() const { return refs_.size(); }
    /// True when there are none.
    bool empty() const { return refs_.empty(); }
    /// Name of field `i`.
    std::string_view name(std::size_t i) const {
        return {storage_.data() + refs_[i].name_offset, refs_[i].name_length};
    }
    /// Value of field `i`.
    std::string_view value(std::size_t i) const {
        return {storage_.data() + refs_[i].value_offset, refs_[i].value_length};
    }
    /// Removes every field, keeping the buffers.
    void clear();
    /// Exchanges contents (and buffers) with `other`.
    void swap(Fields& other) noexcept;

  private:
    struct Ref {
        std::uint32_t name_offset, name_length, value_offset, value_length;
    };
    std::string storage_;
    std::vector<Ref> refs_;
};

}  // namespace askr::http
