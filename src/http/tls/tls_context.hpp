#pragma once
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "config/serve_options.hpp"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX; <openssl/ssl.h> stays out of this header

namespace askr::http::tls {

/// The ALPN protocols the server speaks, in its order of preference: HTTP/2 first.
inline constexpr std::string_view server_protocols[] = {"h2", "http/1.1"};

/// Encodes protocol names as an ALPN list (RFC 7301 section 3.1: length-prefixed names).
std::string alpn_wire(std::span<const std::string_view> protocols);

/// Picks the first of `ours` that the client's ALPN list offers (server preference);
/// nullopt when there is none or the client's list is malformed.
std::optional<std::string_view> choose_alpn(std::span<const std::string_view> ours, std::string_view client_wire);

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
    ~TlsContext();
    TlsContext(const TlsContext&) = delete;
    TlsContext& operator=(const TlsContext&) = delete;

    /// The OpenSSL context, for SSL_new() per connection.
    ssl_ctx_st* native_handle() const { return context_.get(); }
    /// The certificate's subject, names and expiry, for the log.
    const std::string& description() const { return description_; }
    /// True when the certificate has expired or expires within `days`.
    bool expires_within_days(int days) const;

private:
    struct Free {
        void operator()(ssl_ctx_st* context) const noexcept;
    };
    std::unique_ptr<ssl_ctx_st, Free> context_;
    std::string alpn_;  // server_protocols in wire format, read by the selection callback
    std::string description_;
};

/// Builds the context `options` ask for (--tls-cert/--tls-key, or --tls-self-signed,
/// which makes or reuses the files first) and logs which certificate serves.
/// Throws config::ConfigError.
std::unique_ptr<TlsContext> load_server_context(const config::ServeOptions& options);

}  // namespace askr::http::tls
