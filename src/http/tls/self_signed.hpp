#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace askr::http::tls {

/// Where --tls-self-signed keeps its files by default: $XDG_RUNTIME_DIR/askr, or
/// /tmp/askr-tls-UID without it.
std::string default_self_signed_dir();

/// The names a self-signed certificate covers: localhost, 127.0.0.1, ::1 and each listen
/// host; a wildcard host (0.0.0.0, ::) adds `machine_name` (this machine's host name).
std::vector<std::string> self_signed_names(const std::vector<std::string>& listen_hosts,
                                           std::string_view machine_name = {});

/// The certificate and key files --tls-self-signed serves with.
struct SelfSignedFiles {
    std::string cert_file;
    std::string key_file;
    bool generated = false;  ///< made now (false: the existing pair was still good)
};

/// Makes sure `dir` (created mode 0700, owned by this user) holds a self-signed
/// certificate and its key (mode 0600) that cover `names` and stay valid for 7 more days;
/// generates a new pair (EC P-256, 90 days) otherwise. Throws config::ConfigError.
SelfSignedFiles ensure_self_signed(const std::string& dir, const std::vector<std::string>& names);

}  // namespace askr::http::tls
