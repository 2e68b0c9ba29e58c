#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/unique_fd.hpp"
#include "http/fields.hpp"

namespace askr::http {

/// Where a connection came from and arrived at, as the CGI variables need it. A trusted
/// proxy's forwarding headers may speak for the client in a request's copy
/// (http/forwarded.hpp); the connection's own values are then kept in `peer`.
struct Endpoints {
    std::string remote_addr;
    std::uint16_t remote_port = 0;
    std::string local_addr;
    std::uint16_t local_port = 0;
    bool tls = false;
    bool unix_socket = false;  ///< accepted on a unix socket: the peer has no address

    /// The connection's own values of the fields a proxy's headers may change.
    struct Peer {
        std::string remote_addr;
        std::uint16_t remote_port = 0;
        std::uint16_t local_port = 0;
        bool tls = false;
    };
    bool forwarded = false;  ///< the fields above come from a proxy's headers; see `peer`
    Peer peer{};
};

/// A complete request, the same for every protocol: the HTTP/1 and HTTP/2 layers produce
/// it, the PHP, static-file and admin handlers consume it. Header names are stored
/// lower-case (HTTP/2 requires it, HTTP/1 names are case-insensitive). The object is
/// reused across the requests of a connection so that its buffers are allocated once.
class Request {
  public:
    /// Drops the previous request's content, keeping buffer capacity.
    void clear();

    /// Appends a header; `name` must already be lower-case.
    void add_header(std::string_view name, std::string_view value) { headers_.add(name, value); }
    /// Replaces every header named `name` (lower-case) by one with `value`.
    void replace_header(std::string_view name, std::string_view value) {
        headers_.remove(name);
        headers_.add(name, value);
    }
    /// Number of headers, in arrival order.
    std::size_t header_count() const { return headers_.size(); }
    /// Name (lower-case) of header `i`.
    std::string_view header_name(std::size_t i) const { return headers_.name(i); }
    /// Value of header `i`.
    std::string_view header_value(std::size_t i) const { return headers_.value(i); }
    /// First value of the header named `lower_name`, or "" when absent.
    std::string_view header(std::string_view lower_name) const;

    std::string method;              ///< "GET", "POST", ...
    std::string target;              ///< request-target as sent: path and query, still encoded
    std::string_view path() const;   ///< target up to '?'
    std::string_view query() const;  ///< target after '?', "" when none
    int version_major = 1;
    int version_minor = 1;
    std::string_view protocol() const;  ///< "HTTP/1.1", "HTTP/1.0", "HTTP/2.0"
    bool keep_alive = true;             ///< the connection may carry another request
    /// The request may be handed, unanswered, to another worker with its connection
    /// (set by the protocol: clear-text HTTP/1.1 with the whole request in its buffer).
    bool movable = false;
    /// The forwarding headers have been applied to this request (http/forwarded.hpp).
    bool forwarding_applied = false;

    /// Appends body bytes: kept in memory up to `memory_limit`, then the whole body moves
    /// to an unlinked temporary file, so that a large upload costs disk, not memory. False
    /// when the temporary file cannot be written.
    bool append_body(const char* data, std::size_t length, std::size_t memory_limit = 1 << 20);
    /// Copies up to `length` body bytes from `offset` into `out`; returns how many.
    std::size_t read_body(std::uint64_t offset, char* out, std::size_t length) const;
    /// Total body length.
    std::uint64_t body_length() const { return body_length_; }
    /// True when the body lives in a temporary file.
    bool body_spooled() const { return static_cast<bool>(body_file_); }

    std::string body;       ///< the body while it is small (empty once spooled to a file)
    Endpoints endpoints;    ///< addresses of the connection
    double start_time = 0;  ///< arrival time, seconds since the epoch

  private:
    Fields headers_;
    core::UniqueFd body_file_;
    std::uint64_t body_length_ = 0;
};

/// Cuts a fragment ('#' and what follows) off a request-target: it is the client's, not
/// part of the resource (RFC 3986 section 3.5), and a client should not send it.
inline void drop_fragment(std::string& target) {
    if (const auto hash = target.find('#'); hash != std::string::npos) target.resize(hash);
}

}  // namespace askr::http
