#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "http/content_coding.hpp"
#include "http/encoder.hpp"
#include "http/response.hpp"

// Response compression, a stage of the one handler chain (docs/compression.md).
namespace askr::http {

/// What gets compressed, and how hard.
struct CompressionSettings {
    bool enabled = true;
    int gzip_level = 5;
    int br_level = 4;
    int zstd_level = 3;
    /// A body whose length is known up front (a whole response) below this is sent as
    /// it is: compressing it saves less than it costs.
    std::uint64_t min_size = 1024;
    /// Static files from min_size up to this without a precompressed sibling are
    /// compressed once per coding and kept; larger ones go as they are. 0: siblings only.
    std::uint64_t static_max_size = 1 << 20;
    /// Bytes of such compressed copies one worker keeps (least recently used out).
    std::uint64_t static_memory = 32 << 20;
    /// Media types to compress: "type/subtype", "type/*", or "+suffix" (RFC 6839).
    std::vector<std::string> types;
    /// The codings produced (all three unless a level says otherwise).
    CodingSet codings = all_codings;

    /// The level configured for `coding`.
    int level(Coding coding) const;
};

/// True when `content_type` (a Content-Type value, parameters allowed) matches `types`.
bool compressible_type(std::string_view content_type, const std::vector<std::string>& types);

/// The coding to answer `request` with among `offered`: negotiate_coding() over its
/// Accept-Encoding field lines, all of them (RFC 9110 section 5.3).
Coding negotiate_coding(const Request& request, CodingSet offered);

/// Adds Accept-Encoding to the Vary of `fields` (RFC 9110 section 12.5.5), unless a Vary
/// already lists it or is "*".
void add_vary_accept_encoding(Fields& fields);

/// A strong ETag made weak ("x" becomes W/"x"): the encoded bytes differ from the
/// identity ones, which a strong validator promises to be (RFC 9110 section 8.8.3).
void weaken_etag(Fields& fields);

/// Spare encoders of one worker, reset and reused so that a response does not pay for
/// allocating a compressor's state (hundreds of KiB). I/O thread only.
class EncoderPool {
  public:
    explicit EncoderPool(const CompressionSettings& settings) : settings_(settings) {}
    /// An encoder for `coding` ready for a new stream; null when none can be made.
    std::unique_ptr<Encoder> take(Coding coding);
    /// Returns an encoder after its stream ended (or failed).
    void give_back(std::unique_ptr<Encoder> encoder);

  private:
    static constexpr std::size_t spares_per_coding = 4;
    const CompressionSettings& settings_;
    std::vector<std::unique_ptr<Encoder>> spares_[4];
};

/// The chain's compression stage for responses that stream (PHP's): wraps the sink of
/// one response. It compresses a response whose Content-Type is listed, that has no
/// Content-Encoding or Content-Range of its own, no Cache-Control: no-transform, a
/// status that carries a whole representation (not 204, 206, 304) and a body of at least
/// min_size when its length is known at its first send(); HEAD answers pass unchanged.
/// Such a response gets Vary: Accept-Encoding; when the client accepts a coding it also
/// gets Content-Encoding, a weak ETag, no Content-Length or Accept-Ranges, and every
/// send() that does not end the body is a sync flush, so that PHP's flush() reaches the
/// client decodable. Files (send_file) and ready answers (send_now) pass unchanged.
class CompressFilter final : public ResponseSink {
  public:
    CompressFilter(ResponseSink& next, const Request& request, const CompressionSettings& settings,
                   EncoderPool& pool);
    ~CompressFilter() override;
    CompressFilter(const CompressFilter&) = delete;
    CompressFilter& operator=(const CompressFilter&) = delete;

    boost::asio::awaitable<bool> interim(int status, const Fields& fields) override;
    boost::asio::awaitable<bool> send(const ResponseHead* head, std::string_view body,
                                      bool last) override;
    boost::asio::awaitable<bool> send_file(const ResponseHead* head, FileBody file) override;
    bool send_now(const ResponseHead& head, std::string_view body) override;
    bool head_sent() const override { return next_.head_sent(); }
    RequestOutcome& outcome() override { return next_.outcome(); }
    std::unique_ptr<Request> release_request() override { return next_.release_request(); }
    int socket_fd() const override { return next_.socket_fd(); }
    void cut() override { next_.cut(); }

  private:
    bool eligible(const ResponseHead& head, std::size_t first_bytes, bool last) const;

    ResponseSink& next_;
    const Request& request_;
    const CompressionSettings& settings_;
    EncoderPool& pool_;
    std::unique_ptr<Encoder> encoder_;  // set while this response is compressed
    ResponseHead head_;                 // the head as sent, when it had to change
    std::string output_;                // reused between sends
    bool failed_ = false;               // the encoder failed: the response ends short
};

}  // namespace askr::http
