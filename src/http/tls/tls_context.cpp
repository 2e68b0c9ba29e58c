#include "http/tls/tls_context.hpp"

#include <arpa/inet.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "http/tls/self_signed.hpp"

namespace askr::http::tls {

namespace {

using config::ConfigError;

// Mozilla's "intermediate" configuration (ssl-config.mozilla.org, guidelines 5.7) for
// TLS 1.2: AEAD ciphers with forward secrecy only. TLS 1.3 keeps OpenSSL's default
// suites, which are the same three Mozilla lists.
constexpr const char* tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";
constexpr const char* groups = "X25519:P-256:P-384";

// The reason of the most recent OpenSSL error ("no start line", "key values mismatch"),
// and an emptied error queue.
std::string openssl_reason() {
    const unsigned long code = ERR_peek_last_error();
    std::string reason;
    if (code != 0) {
        const char* text = ERR_reason_error_string(code);
        reason = text ? text : "error " + std::to_string(code);
    } else {
        reason = "unknown OpenSSL error";
    }
    ERR_clear_error();
    return reason;
}

// A file the user named must be a readable regular file: say so in their words before
// OpenSSL says it in its own.
void check_readable(const char* option, const std::string& path) {
    std::FILE* file = std::fopen(path.c_str(), "rb");
    if (!file) throw ConfigError(std::string(option) + " " + path + ": cannot read: " + std::strerror(errno));
    std::fclose(file);
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
        throw ConfigError(std::string(option) + " " + path + ": not a regular file");
    }
}

// An encrypted key would make OpenSSL prompt on the terminal: refuse to ask instead.
int no_password(char*, int, int, void*) { return -1; }

// ALPN (RFC 7301): the server chooses. `arg` is the context's protocol list. No
// exception may leave this callback (STYLE.md 8); nothing in it throws.
int select_alpn(SSL*, const unsigned char** out, unsigned char* out_length, const unsigned char* in,
                unsigned int in_length, void*) noexcept {
    auto chosen = choose_alpn(server_protocols, {reinterpret_cast<const char*>(in), in_length});
    if (!chosen) return SSL_TLSEXT_ERR_NOACK;  // no common protocol: go on without ALPN (HTTP/1.1)
    *out = reinterpret_cast<const unsigned char*>(chosen->data());
    *out_length = static_cast<unsigned char>(chosen->size());
    return SSL_TLSEXT_ERR_OK;
}

std::string asn1_time_text(const ASN1_TIME* time) {
    std::tm tm{};
    if (ASN1_TIME_to_tm(time, &tm) != 1) return "?";
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%d %H:%M UTC", &tm);
    return text;
}

std::string describe(X509* certificate) {
    std::string text;
    char name[256];
    X509_NAME_oneline(X509_get_subject_name(certificate), name, sizeof name);
    text += name;
    auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr));
    if (names) {
        text += ", names";
        for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
            const GENERAL_NAME* entry = sk_GENERAL_NAME_value(names, i);
            if (entry->type == GEN_DNS) {
                text += ' ';
                text.append(reinterpret_cast<const char*>(ASN1_STRING_get0_data(entry->d.dNSName)),
                            static_cast<std::size_t>(ASN1_STRING_length(entry->d.dNSName)));
            } else if (entry->type == GEN_IPADD) {
                const int length = ASN1_STRING_length(entry->d.iPAddress);
                char address[INET6_ADDRSTRLEN] = "?";
                if (length == 4 || length == 16) {
                    ::inet_ntop(length == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(entry->d.iPAddress), address,
                                sizeof address);
                }
                text += ' ';
                text += address;
            }
        }
        GENERAL_NAMES_free(names);
    }
    text += ", valid until " + asn1_time_text(X509_get0_notAfter(certificate));
    return text;
}

}  // namespace

std::string alpn_wire(std::span<const std::string_view> protocols) {
    std::string wire;
    for (auto name : protocols) {
        wire += static_cast<char>(name.size());
        wire += name;
    }
    return wire;
}

std::optional<std::string_view> choose_alpn(std::span<const std::string_view> ours, std::string_view client_wire) {
    for (auto candidate : ours) {
        for (std::size_t i = 0; i < client_wire.size();) {
            const std::size_t length = static_cast<unsigned char>(client_wire[i]);
            // A zero-length name or one running past the end: the list is malformed.
            if (length == 0 || i + 1 + length > client_wire.size()) return std::nullopt;
            if (client_wire.substr(i + 1, length) == candidate) return candidate;
            i += 1 + length;
        }
    }
    return std::nullopt;
}

void TlsContext::Free::operator()(ssl_ctx_st* context) const noexcept { SSL_CTX_free(context); }

TlsContext::~TlsContext() = default;

TlsContext::TlsContext(const std::string& cert_file, const std::string& key_file)
    : context_(SSL_CTX_new(TLS_server_method())), alpn_(alpn_wire(server_protocols)) {
    SSL_CTX* ctx = context_.get();
    if (!ctx) throw std::runtime_error("OpenSSL: cannot create a TLS context: " + openssl_reason());

    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    if (SSL_CTX_set_cipher_list(ctx, tls12_ciphers) != 1 || SSL_CTX_set1_groups_list(ctx, groups) != 1) {
        throw std::runtime_error("OpenSSL: cannot set the cipher list: " + openssl_reason());
    }
    SSL_CTX_set_dh_auto(ctx, 1);  // RFC 7919 groups for the DHE suites, no DH parameter file
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE  // our order among equally strong suites...
                                 | SSL_OP_PRIORITIZE_CHACHA   // ...but ChaCha for clients that prefer it (no AES-NI)
                                 | SSL_OP_NO_COMPRESSION      // CRIME
                                 | SSL_OP_NO_RENEGOTIATION    // a renegotiation DoS, and never needed
                                 // A client that closes without close_notify ends its stream like
                                 // a TCP FIN does: HTTP/1.1 framing, not TLS, tells a complete request.
                                 | SSL_OP_IGNORE_UNEXPECTED_EOF);
    // Session resumption: stateless tickets (OpenSSL's default, keys made here, in the
    // master, so every worker shares them) plus the per-process cache.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    static constexpr unsigned char session_context[] = "askr";
    SSL_CTX_set_session_id_context(ctx, session_context, sizeof session_context - 1);
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
    SSL_CTX_set_default_passwd_cb(ctx, no_password);

    check_readable("--tls-cert", cert_file);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
        throw ConfigError("--tls-cert " + cert_file + ": not a usable PEM certificate chain (OpenSSL: " +
                          openssl_reason() + ")");
    }
    check_readable("--tls-key", key_file);
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
        const unsigned long code = ERR_peek_last_error();
        const int reason = ERR_GET_REASON(code);
        if (reason == X509_R_KEY_VALUES_MISMATCH || reason == X509_R_KEY_TYPE_MISMATCH) {
            ERR_clear_error();
            throw ConfigError("--tls-key " + key_file + ": does not match the certificate in " + cert_file);
        }
        if (reason == PEM_R_BAD_PASSWORD_READ || reason == PEM_R_BAD_DECRYPT) {
            ERR_clear_error();
            throw ConfigError("--tls-key " + key_file +
                              ": the key is encrypted; Askr reads unencrypted keys only "
                              "(openssl pkey -in KEY -out PLAIN-KEY; keep it mode 0600)");
        }
        throw ConfigError("--tls-key " + key_file + ": not a usable PEM private key (OpenSSL: " + openssl_reason() + ")");
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        throw ConfigError("--tls-key " + key_file + ": does not match the certificate in " + cert_file);
    }
    description_ = describe(SSL_CTX_get0_certificate(ctx));
}

bool TlsContext::expires_within_days(int days) const {
    const X509* certificate = SSL_CTX_get0_certificate(context_.get());
    std::time_t limit = std::time(nullptr) + static_cast<std::time_t>(days) * 86400;
    return X509_cmp_time(X509_get0_notAfter(certificate), &limit) <= 0;
}

std::unique_ptr<TlsContext> load_server_context(const config::ServeOptions& options) {
    std::string cert_file = options.tls_cert;
    std::string key_file = options.tls_key;
    if (options.tls_self_signed) {
        std::vector<std::string> hosts;
        for (const auto& address : options.listen) hosts.push_back(address.host);
        char machine_name[256] = {};
        ::gethostname(machine_name, sizeof machine_name - 1);
        const auto files = ensure_self_signed(
            options.tls_self_signed_dir.empty() ? default_self_signed_dir() : options.tls_self_signed_dir,
            self_signed_names(hosts, machine_name));
        cert_file = files.cert_file;
        key_file = files.key_file;
        spdlog::info("TLS: {} self-signed certificate {} (key {}); clients must trust it, e.g. curl --cacert {}",
                     files.generated ? "generated the" : "using the", cert_file, key_file, cert_file);
    }
    auto context = std::make_unique<TlsContext>(cert_file, key_file);
    spdlog::info("TLS certificate {}: {}", cert_file, context->description());
    if (context->expires_within_days(0)) {
        spdlog::warn("TLS certificate {} has expired: clients will refuse it", cert_file);
    } else if (context->expires_within_days(14)) {
        spdlog::warn("TLS certificate {} expires within 14 days: renew it, then reload (SIGHUP)", cert_file);
    }
    return context;
}

}  // namespace askr::http::tls
