#pragma once
#include <memory>
#include <string>
#include <string_view>

#include "http/content_coding.hpp"

namespace askr::http {

/// How far an Encoder::encode() call goes.
enum class EncodeFlush {
    none,    ///< the library may keep input back for a better ratio
    sync,    ///< everything given so far is decodable from the output (PHP's flush())
    finish,  ///< the stream ends; the encoder must be reset() before reuse
};

/// One streaming compressor (gzip, br or zstd), owning its library state. Neither
/// copyable nor movable; reusable after reset().
class Encoder {
  public:
    virtual ~Encoder() = default;
    Encoder() = default;
    Encoder(const Encoder&) = delete;
    Encoder& operator=(const Encoder&) = delete;

    /// Compresses `input`, appending the output to `out`. False on a library error (the
    /// stream is then unusable).
    virtual bool encode(std::string_view input, EncodeFlush flush, std::string& out) = 0;
    /// Starts a new stream with the same settings. False when the library failed.
    virtual bool reset() = 0;
    /// The coding it produces.
    virtual Coding coding() const = 0;
};

/// An encoder for `coding` (not identity) at `level` (gzip 1-9, br 0-11, zstd 1-19),
/// with a window suited to HTTP (bounded memory per response); null when the library
/// cannot allocate its state.
std::unique_ptr<Encoder> make_encoder(Coding coding, int level);

/// `input` compressed whole with `coding` at `level`; "" on a library error.
std::string encode_whole(Coding coding, int level, std::string_view input);

}  // namespace askr::http
