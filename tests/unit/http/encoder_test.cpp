#include "http/encoder.hpp"

#include <brotli/decode.h>
#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include <string>

namespace askr::http {
namespace {

// The real decoders of each library, fed exactly what the encoder produced so far.
std::string gunzip(const std::string& data, bool whole) {
    z_stream z{};
    EXPECT_EQ(inflateInit2(&z, 15 + 16), Z_OK);
    std::string out(1 << 22, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    const int rc = inflate(&z, Z_SYNC_FLUSH);
    EXPECT_EQ(rc, whole ? Z_STREAM_END : Z_OK);
    out.resize(z.total_out);
    inflateEnd(&z);
    return out;
}

std::string unbrotli(const std::string& data, bool whole) {
    BrotliDecoderState* s = BrotliDecoderCreateInstance(nullptr, nullptr, nullptr);
    std::string out(1 << 22, '\0');
    std::size_t in_left = data.size(), out_left = out.size();
    const auto* in = reinterpret_cast<const std::uint8_t*>(data.data());
    auto* o = reinterpret_cast<std::uint8_t*>(out.data());
    const auto rc = BrotliDecoderDecompressStream(s, &in_left, &in, &out_left, &o, nullptr);
    EXPECT_EQ(rc, whole ? BROTLI_DECODER_RESULT_SUCCESS : BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT);
    out.resize(out.size() - out_left);
    BrotliDecoderDestroyInstance(s);
    return out;
}

std::string unzstd(const std::string& data, bool whole) {
    ZSTD_DCtx* d = ZSTD_createDCtx();
    std::string out(1 << 22, '\0');
    ZSTD_inBuffer in{data.data(), data.size(), 0};
    ZSTD_outBuffer o{out.data(), out.size(), 0};
    const std::size_t rc = ZSTD_decompressStream(d, &o, &in);
    EXPECT_FALSE(ZSTD_isError(rc));
    if (whole) {
        EXPECT_EQ(rc, 0u) << "a frame ends";
    }
    out.resize(o.pos);
    ZSTD_freeDCtx(d);
    return out;
}

std::string decode(Coding coding, const std::string& data, bool whole) {
    switch (coding) {
        case Coding::gzip:
            return gunzip(data, whole);
        case Coding::br:
            return unbrotli(data, whole);
        case Coding::zstd:
            return unzstd(data, whole);
        default:
            return data;
    }
}

std::string page(std::size_t size) {
    std::string out;
    for (int i = 0; out.size() < size; ++i)
        out += "<tr><td>row " + std::to_string(i) + "</td><td>" + std::to_string(i * 7919 % 1000) +
               "</td></tr>\n";
    out.resize(size);
    return out;
}

class Encoders : public ::testing::TestWithParam<Coding> {};

TEST_P(Encoders, WholeStreamDecodesToTheInput) {
    const std::string input = page(300 * 1024);
    auto encoder = make_encoder(GetParam(), 5);
    ASSERT_TRUE(encoder);
    EXPECT_EQ(encoder->coding(), GetParam());
    std::string out;
    ASSERT_TRUE(encoder->encode(input, EncodeFlush::finish, out));
    EXPECT_LT(out.size(), input.size() / 3);
    EXPECT_TRUE(decode(GetParam(), out, true) == input);
}

TEST_P(Encoders, SyncFlushMakesEverythingSoFarDecodable) {
    auto encoder = make_encoder(GetParam(), 5);
    ASSERT_TRUE(encoder);
    std::string out;
    ASSERT_TRUE(encoder->encode("<html><body>first part, ", EncodeFlush::sync, out));
    EXPECT_EQ(decode(GetParam(), out, false), "<html><body>first part, ");
    ASSERT_TRUE(encoder->encode("", EncodeFlush::sync, out)) << "an empty flush is harmless";
    ASSERT_TRUE(encoder->encode("second part", EncodeFlush::none, out));
    ASSERT_TRUE(encoder->encode("", EncodeFlush::sync, out));
    EXPECT_EQ(decode(GetParam(), out, false), "<html><body>first part, second part");
    ASSERT_TRUE(encoder->encode("</body></html>", EncodeFlush::finish, out));
    EXPECT_EQ(decode(GetParam(), out, true), "<html><body>first part, second part</body></html>");
}

TEST_P(Encoders, ResetStartsAFreshStream) {
    auto encoder = make_encoder(GetParam(), 3);
    ASSERT_TRUE(encoder);
    std::string first, second;
    ASSERT_TRUE(encoder->encode(page(5000), EncodeFlush::sync, first));  // left unfinished
    ASSERT_TRUE(encoder->reset());
    ASSERT_TRUE(encoder->encode(page(7000), EncodeFlush::finish, second));
    EXPECT_TRUE(decode(GetParam(), second, true) == page(7000));
    EXPECT_EQ(encode_whole(GetParam(), 3, page(7000)).size() > 0, true);
    EXPECT_TRUE(decode(GetParam(), encode_whole(GetParam(), 3, page(7000)), true) == page(7000));
}

TEST_P(Encoders, EmptyBodyIsAValidStream) {
    const std::string out = encode_whole(GetParam(), 5, "");
    EXPECT_FALSE(out.empty());
    EXPECT_EQ(decode(GetParam(), out, true), "");
}

INSTANTIATE_TEST_SUITE_P(Codings, Encoders,
                         ::testing::Values(Coding::gzip, Coding::br, Coding::zstd),
                         [](const auto& info) { return std::string(coding_name(info.param)); });

TEST(Encoder, IdentityHasNone) {
    EXPECT_EQ(make_encoder(Coding::identity, 1), nullptr);
}

}  // namespace
}  // namespace askr::http
