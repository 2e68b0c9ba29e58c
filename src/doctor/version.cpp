#include "doctor/version.hpp"

#include <brotli/encode.h>
#include <nghttp2/nghttp2.h>
#include <openssl/crypto.h>
#include <zlib.h>
#include <zstd.h>

#include "php/engine.hpp"

namespace askr::doctor {

std::string version_report(std::string_view commit) {
    const std::uint32_t brotli = BrotliEncoderVersion();
    std::string out = "askr " ASKR_VERSION " (commit " + std::string(commit) + ")\n";
    out += "PHP " + std::string(php::php_version()) + " (embedded, libphp)\n";
    out += std::string(OpenSSL_version(OPENSSL_VERSION)) + "\n";
    out += "nghttp2 " + std::string(nghttp2_version(0)->version_str) + "\n";
    out += "zlib " + std::string(zlibVersion()) + ", brotli " + std::to_string(brotli >> 24) +
           "." + std::to_string((brotli >> 12) & 0xfff) + "." + std::to_string(brotli & 0xfff) +
           ", zstd " + ZSTD_versionString() + "\n";
    return out;
}

}  // namespace askr::doctor
