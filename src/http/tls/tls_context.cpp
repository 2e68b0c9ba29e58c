#include "http/tls/tls_context.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <stdexcept>

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
    if (!file)
        throw ConfigError(std::string(option) + " " + path +
                          ": cannot read: " + std::strerror(errno));
    std::fclose(file);
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
        throw ConfigError(std::string(option) + " " + path + ": not a regular file");
    }
}

// An encrypted key would make OpenSSL prompt on the terminal: refuse to ask instead.
int no_password(char*, int, int, void*) {
    return -1;
}

// ALPN (RFC 7301): the server chooses. `arg` is the context's protocol list. No
// exception may leave this callback (OpenSSL is C: it cannot unwind one); nothing in it
// throws.
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
    auto* names = static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr));
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
                    ::inet_ntop(length == 4 ? AF_INET : AF_INET6,
                                ASN1_STRING_get0_data(entry->d.iPAddress), address, sizeof address);
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

std::optional<std::string_view> choose_alpn(std::span<const std::string_view> ours,
                                            std::string_view client_wire) {
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

void TlsContext::Free::operator()(ssl_ctx_st* context) const noexcept {
    SSL_CTX_free(context);
}

TlsContext::~TlsContext() = default;

namespace {

// A context with Askr's TLS policy and no certificate yet.
SSL_CTX* new_policy_context() {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) throw std::runtime_error("OpenSSL: cannot create a TLS context: " + openssl_reason());
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    if (SSL_CTX_set_cipher_list(ctx, tls12_ciphers) != 1 ||
        SSL_CTX_set1_groups_list(ctx, groups) != 1) {
        SSL_CTX_free(ctx);
        throw std::runtime_error("OpenSSL: cannot set the cipher list: " + openssl_reason());
    }
    SSL_CTX_set_dh_auto(ctx, 1);  // RFC 7919 groups for the DHE suites, no DH parameter file
    SSL_CTX_set_options(
        ctx, SSL_OP_CIPHER_SERVER_PREFERENCE  // our order among equally strong suites...
                 | SSL_OP_PRIORITIZE_CHACHA  // ...but ChaCha for clients that prefer it (no AES-NI)
                 | SSL_OP_NO_COMPRESSION     // CRIME
                 | SSL_OP_NO_RENEGOTIATION   // a renegotiation DoS, and never needed
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
    return ctx;
}

// Loads a chain and its key into `ctx`; throws ConfigError in the user's words.
void load_certificate(SSL_CTX* ctx, const CertificateFiles& files) {
    const std::string key_option = files.option == "--tls-cert" ? "--tls-key" : files.option;
    check_readable(files.option.c_str(), files.cert);
    if (SSL_CTX_use_certificate_chain_file(ctx, files.cert.c_str()) != 1) {
        throw ConfigError(files.option + " " + files.cert +
                          ": not a usable PEM certificate chain (OpenSSL: " + openssl_reason() +
                          ")");
    }
    check_readable(key_option.c_str(), files.key);
    if (SSL_CTX_use_PrivateKey_file(ctx, files.key.c_str(), SSL_FILETYPE_PEM) != 1) {
        const unsigned long code = ERR_peek_last_error();
        const int reason = ERR_GET_REASON(code);
        if (reason == X509_R_KEY_VALUES_MISMATCH || reason == X509_R_KEY_TYPE_MISMATCH) {
            ERR_clear_error();
            throw ConfigError(key_option + " " + files.key +
                              ": does not match the certificate in " + files.cert);
        }
        if (reason == PEM_R_BAD_PASSWORD_READ || reason == PEM_R_BAD_DECRYPT) {
            ERR_clear_error();
            throw ConfigError(key_option + " " + files.key +
                              ": the key is encrypted; Askr reads unencrypted keys only "
                              "(openssl pkey -in KEY -out PLAIN-KEY; keep it mode 0600)");
        }
        throw ConfigError(key_option + " " + files.key +
                          ": not a usable PEM private key (OpenSSL: " + openssl_reason() + ")");
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        throw ConfigError(key_option + " " + files.key + ": does not match the certificate in " +
                          files.cert);
    }
}

std::string lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// The DNS names a certificate is for: its subjectAltName DNS entries, or, without any,
// its subject's common name (RFC 6125 section 6.4.4).
std::vector<std::string> dns_names(X509* certificate) {
    std::vector<std::string> names;
    auto* alt = static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr));
    if (alt) {
        for (int i = 0; i < sk_GENERAL_NAME_num(alt); ++i) {
            const GENERAL_NAME* entry = sk_GENERAL_NAME_value(alt, i);
            if (entry->type != GEN_DNS) continue;
            names.push_back(
                lower({reinterpret_cast<const char*>(ASN1_STRING_get0_data(entry->d.dNSName)),
                       static_cast<std::size_t>(ASN1_STRING_length(entry->d.dNSName))}));
        }
        GENERAL_NAMES_free(alt);
    }
    if (names.empty()) {
        char common_name[256] = {};
        if (X509_NAME_get_text_by_NID(X509_get_subject_name(certificate), NID_commonName,
                                      common_name, sizeof common_name) > 0) {
            names.push_back(lower(common_name));
        }
    }
    return names;
}

}  // namespace

std::optional<std::size_t> select_certificate(std::span<const CertificateName> names,
                                              std::string_view server_name) {
    const std::string host = lower(server_name);
    for (const auto& entry : names) {
        if (entry.name == host) return entry.certificate;
    }
    // "*.example.com" covers "www.example.com", not "example.com" nor "a.b.example.com".
    const auto dot = host.find('.');
    if (dot == std::string::npos || dot == 0) return std::nullopt;
    const std::string wildcard = "*" + host.substr(dot);
    for (const auto& entry : names) {
        if (entry.name == wildcard) return entry.certificate;
    }
    return std::nullopt;
}

TlsContext::TlsContext(const std::string& cert_file, const std::string& key_file)
    : TlsContext(std::vector<CertificateFiles>{{cert_file, key_file}}) {}

TlsContext::TlsContext(const std::vector<CertificateFiles>& certificates) {
    if (certificates.empty()) throw std::logic_error("TlsContext needs a certificate");
    for (std::size_t i = 0; i < certificates.size(); ++i) {
        std::unique_ptr<SSL_CTX, Free> ctx(new_policy_context());
        load_certificate(ctx.get(), certificates[i]);
        X509* leaf = SSL_CTX_get0_certificate(ctx.get());
        descriptions_.push_back(describe(leaf));
        for (auto& name : dns_names(leaf)) names_.push_back({std::move(name), i});
        if (i == 0) {
            context_ = std::move(ctx);
        } else {
            others_.push_back(std::move(ctx));
        }
    }
    if (!others_.empty()) {
        SSL_CTX_set_tlsext_servername_callback(context_.get(), on_server_name);
        SSL_CTX_set_tlsext_servername_arg(context_.get(), this);
    }
}

// SNI (RFC 6066 section 3), called during the ClientHello: a connection whose name
// belongs to another certificate moves to that certificate's context. An unknown name or
// none keeps the first certificate (no alert: like nginx's default server). No exception
// may leave this callback (OpenSSL is C: it cannot unwind one); nothing in it throws but
// `lower`'s allocation.
int TlsContext::on_server_name(SSL* ssl, int*, void* arg) noexcept {
    try {
        const auto* self = static_cast<const TlsContext*>(arg);
        const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
        if (!name) return SSL_TLSEXT_ERR_OK;
        const auto chosen = select_certificate(self->names_, name);
        if (chosen && *chosen > 0) SSL_set_SSL_CTX(ssl, self->others_[*chosen - 1].get());
    } catch (...) {
    }
    return SSL_TLSEXT_ERR_OK;
}

bool TlsContext::expires_within_days(std::size_t index, int days) const {
    const SSL_CTX* ctx = index == 0 ? context_.get() : others_.at(index - 1).get();
    const X509* certificate = SSL_CTX_get0_certificate(ctx);
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
        const auto files =
            ensure_self_signed(options.tls_self_signed_dir.empty() ? default_self_signed_dir()
                                                                   : options.tls_self_signed_dir,
                               self_signed_names(hosts, machine_name));
        cert_file = files.cert_file;
        key_file = files.key_file;
        spdlog::info(
            "TLS: {} self-signed certificate {} (key {}); clients must trust it, e.g. curl "
            "--cacert {}",
            files.generated ? "generated the" : "using the", cert_file, key_file, cert_file);
    }
    std::vector<CertificateFiles> files{{cert_file, key_file}};
    for (const auto& [cert, key] : options.tls_sni) files.push_back({cert, key, "--tls-sni"});
    auto context = std::make_unique<TlsContext>(files);
    for (std::size_t i = 0; i < files.size(); ++i) {
        const std::string& cert = files[i].cert;
        spdlog::info("TLS certificate {}{}: {}", cert,
                     i == 0 && files.size() > 1 ? " (default)" : "", context->descriptions()[i]);
        if (context->expires_within_days(i, 0)) {
            spdlog::warn("TLS certificate {} has expired: clients will refuse it", cert);
        } else if (context->expires_within_days(i, 14)) {
            spdlog::warn(
                "TLS certificate {} expires within 14 days: renew it, then reload (SIGHUP)", cert);
        }
    }
    return context;
}

}  // namespace askr::http::tls
