#include "http/tls/self_signed.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>

#include "config/serve_options.hpp"

namespace askr::http::tls {

namespace {

using config::ConfigError;

constexpr long validity_days = 90;
constexpr long renew_days = 7;  // regenerate when fewer days than this remain

struct OpenSslFree {
    void operator()(X509* p) const noexcept { X509_free(p); }
    void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
    void operator()(BIO* p) const noexcept { BIO_free(p); }
    void operator()(BIGNUM* p) const noexcept { BN_free(p); }
    void operator()(X509_EXTENSION* p) const noexcept { X509_EXTENSION_free(p); }
};
template <class T>
using Owned = std::unique_ptr<T, OpenSslFree>;

bool is_ip_address(const std::string& name) {
    unsigned char buffer[16];
    return ::inet_pton(AF_INET, name.c_str(), buffer) == 1 || ::inet_pton(AF_INET6, name.c_str(), buffer) == 1;
}

// A DNS name that can go into a subjectAltName list as it is.
bool is_plain_host_name(std::string_view name) {
    return !name.empty() && name.size() < 254 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
    });
}

// True when the pair in the files is usable as it is: readable, matching, valid for
// renew_days more days, covering every name.
bool still_good(const std::string& cert_file, const std::string& key_file, const std::vector<std::string>& names) {
    Owned<BIO> cert_bio(BIO_new_file(cert_file.c_str(), "r"));
    Owned<BIO> key_bio(BIO_new_file(key_file.c_str(), "r"));
    Owned<X509> certificate(cert_bio ? PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr) : nullptr);
    Owned<EVP_PKEY> key(key_bio ? PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr) : nullptr);
    bool good = certificate && key && X509_check_private_key(certificate.get(), key.get()) == 1;
    if (good) {
        std::time_t limit = std::time(nullptr) + renew_days * 86400;
        good = X509_cmp_time(X509_get0_notAfter(certificate.get()), &limit) > 0;
    }
    for (std::size_t i = 0; good && i < names.size(); ++i) {
        good = is_ip_address(names[i]) ? X509_check_ip_asc(certificate.get(), names[i].c_str(), 0) == 1
                                       : X509_check_host(certificate.get(), names[i].data(), names[i].size(), 0,
                                                         nullptr) == 1;
    }
    ERR_clear_error();
    return good;
}

// The directory holds a private key: it must be ours, a real directory (not a symlink
// someone planted in /tmp), and closed to everyone else.
void prepare_dir(const std::string& dir) {
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0) {
        if (errno != ENOENT || ::mkdir(dir.c_str(), 0700) != 0 || ::lstat(dir.c_str(), &st) != 0) {
            throw ConfigError("--tls-self-signed-dir " + dir + ": cannot create: " + std::strerror(errno));
        }
    }
    if (!S_ISDIR(st.st_mode)) throw ConfigError("--tls-self-signed-dir " + dir + ": not a directory (or a symlink)");
    if (st.st_uid != ::geteuid()) {
        throw ConfigError("--tls-self-signed-dir " + dir + ": owned by another user; choose another directory");
    }
    if ((st.st_mode & 077) != 0 && ::chmod(dir.c_str(), 0700) != 0) {
        throw ConfigError("--tls-self-signed-dir " + dir + ": cannot make it private: " + std::strerror(errno));
    }
}

// Writes `content` to `path` mode 0600, atomically (a reader sees the old or the new file).
void write_private_file(const std::string& path, const std::string& content) {
    const std::string temporary = path + ".tmp." + std::to_string(::getpid());
    int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    bool ok = fd >= 0 && ::fchmod(fd, 0600) == 0 &&
              ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
    const int error = errno;
    if (fd >= 0) ok = ::close(fd) == 0 && ok;
    if (!ok || ::rename(temporary.c_str(), path.c_str()) != 0) {
        ::unlink(temporary.c_str());
        throw ConfigError(path + ": cannot write: " + std::strerror(ok ? errno : error));
    }
}

std::string pem_of(const std::function<int(BIO*)>& write) {
    Owned<BIO> bio(BIO_new(BIO_s_mem()));
    if (!bio || write(bio.get()) != 1) throw ConfigError("cannot encode the self-signed certificate as PEM");
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(length));
}

void add_extension(X509* certificate, X509V3_CTX& v3, int nid, const std::string& value) {
    Owned<X509_EXTENSION> extension(X509V3_EXT_conf_nid(nullptr, &v3, nid, value.c_str()));
    if (!extension || X509_add_ext(certificate, extension.get(), -1) != 1) {
        ERR_clear_error();
        throw ConfigError("cannot build the self-signed certificate (extension " + value + ")");
    }
}

// A key (EC P-256) and a certificate signed by it, both PEM.
std::pair<std::string, std::string> generate(const std::vector<std::string>& names) {
    Owned<EVP_PKEY> key(EVP_EC_gen("P-256"));
    Owned<X509> certificate(X509_new());
    Owned<BIGNUM> serial(BN_new());
    if (!key || !certificate || !serial) throw ConfigError("cannot generate a self-signed certificate: out of memory");
    X509* cert = certificate.get();
    X509_set_version(cert, X509_VERSION_3);
    // RFC 5280 section 4.1.2.2: a positive serial number of at most 20 bytes, unique per
    // issuer; random makes repeated generations distinct.
    if (BN_rand(serial.get(), 120, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
        !BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert))) {
        throw ConfigError("cannot generate a self-signed certificate: no random serial number");
    }
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);  // a client clock slightly behind still accepts it
    X509_gmtime_adj(X509_getm_notAfter(cert), validity_days * 86400);
    X509_set_pubkey(cert, key.get());
    X509_NAME* subject = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("Askr self-signed"),
                               -1, -1, 0);
    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1,
                               -1, 0);
    X509_set_issuer_name(cert, subject);

    std::string alt_names;
    for (const auto& name : names) {
        if (!alt_names.empty()) alt_names += ',';
        alt_names += (is_ip_address(name) ? "IP:" : "DNS:") + name;
    }
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, cert, cert, nullptr, nullptr, 0);
    add_extension(cert, v3, NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert, v3, NID_key_usage, "critical,digitalSignature");
    add_extension(cert, v3, NID_ext_key_usage, "serverAuth");
    add_extension(cert, v3, NID_subject_key_identifier, "hash");
    add_extension(cert, v3, NID_subject_alt_name, alt_names);  // browsers match names here only
    if (X509_sign(cert, key.get(), EVP_sha256()) == 0) {
        ERR_clear_error();
        throw ConfigError("cannot sign the self-signed certificate");
    }
    std::string key_pem = pem_of([&](BIO* bio) {
        return PEM_write_bio_PrivateKey(bio, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    });
    std::string cert_pem = pem_of([&](BIO* bio) { return PEM_write_bio_X509(bio, cert); });
    return {std::move(cert_pem), std::move(key_pem)};
}

}  // namespace

std::string default_self_signed_dir() {
    const char* runtime = std::getenv("XDG_RUNTIME_DIR");
    if (runtime && runtime[0] == '/') return std::string(runtime) + "/askr";
    return "/tmp/askr-tls-" + std::to_string(::geteuid());
}

std::vector<std::string> self_signed_names(const std::vector<std::string>& listen_hosts,
                                           std::string_view machine_name) {
    std::vector<std::string> names = {"localhost", "127.0.0.1", "::1"};
    auto add = [&names](std::string name) {
        if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(std::move(name));
    };
    for (const auto& host : listen_hosts) {
        if (host == "0.0.0.0" || host == "::") {
            if (is_plain_host_name(machine_name)) add(std::string(machine_name));
        } else if (is_ip_address(host) || is_plain_host_name(host)) {
            add(host);
        }
    }
    return names;
}

SelfSignedFiles ensure_self_signed(const std::string& dir, const std::vector<std::string>& names) {
    prepare_dir(dir);
    SelfSignedFiles files{dir + "/self-signed.crt", dir + "/self-signed.key", false};
    if (still_good(files.cert_file, files.key_file, names)) return files;
    auto [cert_pem, key_pem] = generate(names);
    write_private_file(files.key_file, key_pem);
    write_private_file(files.cert_file, cert_pem);
    files.generated = true;
    return files;
}

}  // namespace askr::http::tls
