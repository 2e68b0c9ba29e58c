#pragma once
// HTTP/2 test clients: libcurl over h2 (TLS with ALPN, or clear text with prior knowledge)
// and a raw frame client that writes frames by hand (RFC 9113 section 4.1: a 9-byte header)
// for the attack and limit tests, where a well-behaved client library would refuse.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "harness.hpp"

namespace askr::test::h2 {

/// A response as libcurl over HTTP/2 saw it.
struct H2Response {
    long status = 0;
    long http_version = 0;  ///< CURL_HTTP_VERSION_2_0 when HTTP/2 was used
    std::string error;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;          ///< names lower-case
    std::vector<std::chrono::steady_clock::time_point> body_arrivals;  ///< one per write callback
    std::string header(const std::string& name) const;
};

/// One HTTP/2 request with libcurl: prior knowledge for http://, ALPN for https:// (the
/// self-signed certificate is not verified).
H2Response h2_request(const std::string& url, const std::string& method = "GET",
                      const std::string& body = {}, const std::vector<std::string>& headers = {});

/// Frame types and flags (RFC 9113 section 6).
enum FrameType : std::uint8_t {
    DATA = 0,
    HEADERS = 1,
    RST_STREAM = 3,
    SETTINGS = 4,
    PING = 6,
    GOAWAY = 7,
    WINDOW_UPDATE = 8,
    CONTINUATION = 9
};
constexpr std::uint8_t END_STREAM = 0x1, ACK = 0x1, END_HEADERS = 0x4;

/// A received frame.
struct Frame {
    std::uint8_t type = 0;
    std::uint8_t flags = 0;
    std::uint32_t stream = 0;
    std::string payload;
    /// GOAWAY / RST_STREAM error code.
    std::uint32_t error_code() const;
};

/// Encodes one frame.
std::string frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
                  const std::string& payload);
/// A SETTINGS frame with (id, value) pairs.
std::string settings(const std::vector<std::pair<std::uint16_t, std::uint32_t>>& entries);
/// An HPACK request header block (no Huffman): method, path, authority, and extra fields.
std::string request_block(const std::string& method, const std::string& path,
                          const std::vector<std::pair<std::string, std::string>>& extra = {});
/// HPACK literal field without indexing, new name.
std::string literal(const std::string& name, const std::string& value);

/// A raw TCP connection speaking hand-written frames.
class RawH2 {
  public:
    explicit RawH2(std::uint16_t port);
    ~RawH2();
    RawH2(const RawH2&) = delete;
    RawH2& operator=(const RawH2&) = delete;
    bool connected() const { return fd_ >= 0; }
    /// Sends bytes; false once the server closed.
    bool send(const std::string& bytes);
    /// Sends the preface and an empty SETTINGS, reads the server's SETTINGS and ACKs it.
    bool handshake(const std::vector<std::pair<std::uint16_t, std::uint32_t>>& entries = {});
    /// The next frame, or nullopt when the server closed or `timeout` passed.
    std::optional<Frame> next(std::chrono::milliseconds timeout = std::chrono::seconds(5));
    /// Reads frames until one of `type` arrives (on `stream`, if given); nullopt otherwise.
    std::optional<Frame> until(std::uint8_t type,
                               std::chrono::milliseconds timeout = std::chrono::seconds(5),
                               std::optional<std::uint32_t> stream = std::nullopt);
    /// True once the server has closed the connection.
    bool closed() const { return closed_; }
    /// Reads and discards until the server closes (true) or `timeout` passes (false).
    bool wait_closed(std::chrono::milliseconds timeout);
    /// Frames seen so far.
    const std::vector<Frame>& seen() const { return seen_; }

  private:
    int fd_ = -1;
    bool closed_ = false;
    std::string buffer_;
    std::vector<Frame> seen_;
};

}  // namespace askr::test::h2
