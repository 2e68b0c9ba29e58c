#pragma once
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/serve_options.hpp"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX; <openssl/ssl.h> stays out of this header
struct ssl_st;      // OpenSSL's SSL

namespace askr::http::tls {

/// The ALPN protocols the server speaks, in its order of preference: HTTP/2 first.
inline constexpr std::string_view server_protocols[] = {"h2", "http/1.1"};

/// Encodes protocol names as an ALPN list (RFC 7301 section 3.1: length-prefixed names).
std::string alpn_wire(std::span<const std::string_view> protocols);

/// Picks the first of `ours` that the client's ALPN list offers (server preference);
/// nullopt when there is none or the client's list is malformed.
std::optional<std::string_view> choose_alpn(std::span<const std::string_view> ours, std::string_view client_wire);

/// A certificate's DNS names (lower case; "*.example.com" for a wildcard) and which of
/// the server's certificates it is.
struct CertificateName {
    std::string name;
    std::size_t certificate;
};

/// The certificate for a client's SNI name (RFC 6066 section 3): an exact name first, then
/// a wildcard covering exactly one label (RFC 6125 section 6.4.3); nullopt when none
/// matches (the first certificate then serves). Case-insensitive.
std::optional<std::size_t> select_certificate(std::span<const CertificateName> names, std::string_view server_name);

/// A certificate chain and its key, and the option that named them (for messages).
struct CertificateFiles {
    std::string cert;
    std::string key;
    std::string option = "--tls-cert";
};

/// An OpenSSL server context (SSL_CTX) with Askr's TLS policy: TLS 1.2 and 1.3 only,
/// Mozilla "intermediate" ciphers for 1.2, server cipher preference, no compression, no
/// renegotiation, ALPN, session tickets. Created in the master before any fork, so a bad
/// certificate fails at start; workers inherit it (and its ticket keys, so a session
/// resumes on any worker).
class TlsContext {
public:
    /// Loads a PEM certificate chain (leaf first) and its private key; throws
    /// config::ConfigError naming the file and the reason (unreadable, not PEM, encrypted
    /// key, key that does not match the certificate).
    TlsContext(const std::string& cert_file, const std::string& key_file);
    /// Several certificates: the first serves clients whose SNI name matches none of the
    /// others (or that send none); each other one serves the names it carries.
    explicit TlsContext(const std::vector<CertificateFiles>& certificates);
    ~TlsContext();
    TlsContext(const TlsContext&) = delete;
    TlsContext& operator=(const TlsContext&) = delete;

    /// The OpenSSL context, for SSL_new() per connection.
    ssl_ctx_st* native_handle() const { return context_.get(); }
    /// The first certificate's subject, names and expiry, for the log.
    const std::string& description() const { return descriptions_.front(); }
    /// Each certificate's description, in the order given.
    const std::vector<std::string>& descriptions() const { return descriptions_; }
    /// True when the first certificate has expired or expires within `days`.
    bool expires_within_days(int days) const { return expires_within_days(0, days); }
    /// True when certificate `index` has expired or expires within `days`.
    bool expires_within_days(std::size_t index, int days) const;

private:
    struct Free {
        void operator()(ssl_ctx_st* context) const noexcept;
    };
    static int on_server_name(ssl_st* ssl, int* alert, void* self) noexcept;
    std::unique_ptr<ssl_ctx_st, Free> context_;       // the first certificate's; SSL_new() uses it
    std::vector<std::unique_ptr<ssl_ctx_st, Free>> others_;  // the others, switched to by SNI
    std::vector<CertificateName> names_;
    std::vector<std::string> descriptions_;
};

/// Builds the context `options` ask for (--tls-cert/--tls-key, or --tls-self-signed,
/// which makes or reuses the files first) and logs which certificate serves.
/// Throws config::ConfigError.
std::unique_ptr<TlsContext> load_server_context(const config::ServeOptions& options);

}  // namespace askr::http::tls
