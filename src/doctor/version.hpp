#pragma once
#include <string>
#include <string_view>

namespace askr::doctor {

/// `askr version` / `askr --version`: Askr's version and `commit`, then the versions of
/// the libraries it runs with (PHP, OpenSSL, nghttp2 and the compressors), one per line.
std::string version_report(std::string_view commit);

}  // namespace askr::doctor
