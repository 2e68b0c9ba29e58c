#include "http/encoder.hpp"

#include <brotli/encode.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>

namespace askr::http {

namespace {

// Output grows in steps of this much while a library has more to say.
constexpr std::size_t output_step = 16 * 1024;

// Room for at least output_step more bytes at the end of `out`; returns where they start.
char* grow(std::string& out, std::size_t used) {
    out.resize(used + output_step);
    return out.data() + used;
}

// gzip (RFC 1952) through zlib's deflate with a gzip wrapper (windowBits 15 + 16): a
// 32 KiB window and memLevel 8, about 256 KiB of state (zlib.h, deflateInit2).
class GzipEncoder final : public Encoder {
  public:
    explicit GzipEncoder(int level) : level_(level) {}
    ~GzipEncoder() override {
        if (ready_) deflateEnd(&stream_);
    }
    bool init() {
        ready_ = deflateInit2(&stream_, level_, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
        return ready_;
    }
    bool encode(std::string_view input, EncodeFlush flush, std::string& out) override {
        const int mode = flush == EncodeFlush::finish ? Z_FINISH
                         : flush == EncodeFlush::sync ? Z_SYNC_FLUSH
                                                      : Z_NO_FLUSH;
        stream_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
        stream_.avail_in = static_cast<uInt>(input.size());
        std::size_t used = out.size();
        for (;;) {
            stream_.next_out = reinterpret_cast<Bytef*>(grow(out, used));
            stream_.avail_out = static_cast<uInt>(output_step);
            const int rc = deflate(&stream_, mode);
            used += output_step - stream_.avail_out;
            if (rc == Z_STREAM_ERROR) {
                out.resize(used);
                return false;
            }
            if (rc == Z_STREAM_END) break;
            // Done once deflate left output space unused with no input left (zlib.h: a
            // flush is complete when avail_out is not zero on return).
            if (stream_.avail_out != 0 && stream_.avail_in == 0 && mode != Z_FINISH) break;
            if (rc == Z_BUF_ERROR && stream_.avail_out != 0) break;  // nothing to do
        }
        out.resize(used);
        return true;
    }
    bool reset() override { return ready_ && deflateReset(&stream_) == Z_OK; }
    Coding coding() const override { return Coding::gzip; }

  private:
    int level_;
    z_stream stream_{};
    bool ready_ = false;
};

struct BrotliDeleter {
    void operator()(BrotliEncoderState* state) const { BrotliEncoderDestroyInstance(state); }
};

// Brotli (RFC 7932) with a 512 KiB window (lgwin 19, ngx_brotli's default brotli_window),
// which bounds the state per response; the default 4 MiB window gains little on pages.
class BrotliEncoder final : public Encoder {
  public:
    explicit BrotliEncoder(int level) : level_(level) {}
    bool init() {
        state_.reset(BrotliEncoderCreateInstance(nullptr, nullptr, nullptr));
        if (!state_) return false;
        BrotliEncoderSetParameter(state_.get(), BROTLI_PARAM_QUALITY,
                                  static_cast<std::uint32_t>(level_));
        BrotliEncoderSetParameter(state_.get(), BROTLI_PARAM_LGWIN, 19);
        BrotliEncoderSetParameter(state_.get(), BROTLI_PARAM_MODE, BROTLI_MODE_TEXT);
        return true;
    }
    bool encode(std::string_view input, EncodeFlush flush, std::string& out) override {
        const BrotliEncoderOperation op = flush == EncodeFlush::finish ? BROTLI_OPERATION_FINISH
                                          : flush == EncodeFlush::sync ? BROTLI_OPERATION_FLUSH
                                                                       : BROTLI_OPERATION_PROCESS;
        std::size_t available_in = input.size();
        const auto* next_in = reinterpret_cast<const std::uint8_t*>(input.data());
        std::size_t used = out.size();
        for (;;) {
            std::size_t available_out = output_step;
            auto* next_out = reinterpret_cast<std::uint8_t*>(grow(out, used));
            const bool ok = BrotliEncoderCompressStream(state_.get(), op, &available_in, &next_in,
                                                        &available_out, &next_out, nullptr);
            used += output_step - available_out;
            if (!ok) {
                out.resize(used);
                return false;
            }
            // encode.h: repeat the same operation until the input is consumed and the
            // encoder has no more output (and, for FINISH, is finished).
            if (available_in == 0 && !BrotliEncoderHasMoreOutput(state_.get()) &&
                (op != BROTLI_OPERATION_FINISH || BrotliEncoderIsFinished(state_.get())))
                break;
        }
        out.resize(used);
        return true;
    }
    bool reset() override { return init(); }  // brotli has no reset: a fresh state
    Coding coding() const override { return Coding::br; }

  private:
    int level_;
    std::unique_ptr<BrotliEncoderState, BrotliDeleter> state_;
};

struct ZstdDeleter {
    void operator()(ZSTD_CCtx* context) const { ZSTD_freeCCtx(context); }
};

// Zstandard (RFC 8878) with a 1 MiB window: far below the 8 MiB an HTTP client must
// decode (RFC 9659 section 3), and it bounds the state per response at any level.
class ZstdEncoder final : public Encoder {
  public:
    static constexpr int window_log = 20;
    explicit ZstdEncoder(int level) : level_(level) {}
    bool init() {
        context_.reset(ZSTD_createCCtx());
        if (!context_) return false;
        ZSTD_CCtx_setParameter(context_.get(), ZSTD_c_compressionLevel, level_);
        ZSTD_CCtx_setParameter(context_.get(), ZSTD_c_windowLog, window_log);
        ZSTD_CCtx_setParameter(context_.get(), ZSTD_c_checksumFlag, 0);
        return true;
    }
    bool encode(std::string_view input, EncodeFlush flush, std::string& out) override {
        const ZSTD_EndDirective mode = flush == EncodeFlush::finish ? ZSTD_e_end
                                       : flush == EncodeFlush::sync ? ZSTD_e_flush
                                                                    : ZSTD_e_continue;
        ZSTD_inBuffer in{input.data(), input.size(), 0};
        std::size_t used = out.size();
        for (;;) {
            ZSTD_outBuffer buffer{grow(out, used), output_step, 0};
            const std::size_t remaining = ZSTD_compressStream2(context_.get(), &buffer, &in, mode);
            used += buffer.pos;
            if (ZSTD_isError(remaining)) {
                out.resize(used);
                return false;
            }
            // zstd.h: with e_continue, done once the input is consumed; with e_flush and
            // e_end, once the call returns 0 (nothing left inside).
            if (mode == ZSTD_e_continue ? in.pos == in.size : remaining == 0) break;
        }
        out.resize(used);
        return true;
    }
    bool reset() override {
        return !ZSTD_isError(ZSTD_CCtx_reset(context_.get(), ZSTD_reset_session_only));
    }
    Coding coding() const override { return Coding::zstd; }

  private:
    int level_;
    std::unique_ptr<ZSTD_CCtx, ZstdDeleter> context_;
};

template <class T>
std::unique_ptr<Encoder> made(int level) {
    auto encoder = std::make_unique<T>(level);
    if (!encoder->init()) return nullptr;
    return encoder;
}

}  // namespace

std::unique_ptr<Encoder> make_encoder(Coding coding, int level) {
    switch (coding) {
        case Coding::gzip:
            return made<GzipEncoder>(std::clamp(level, 1, 9));
        case Coding::br:
            return made<BrotliEncoder>(std::clamp(level, 0, 11));
        case Coding::zstd:
            return made<ZstdEncoder>(std::clamp(level, 1, 19));
        case Coding::identity:
            break;
    }
    return nullptr;
}

std::string encode_whole(Coding coding, int level, std::string_view input) {
    std::string out;
    auto encoder = make_encoder(coding, level);
    if (!encoder || !encoder->encode(input, EncodeFlush::finish, out)) return {};
    return out;
}

}  // namespace askr::http
