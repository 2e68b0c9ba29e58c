// TLS: HTTPS with a certificate or a self-signed one, the TLS policy (versions,
// ALPN, resumption), start-up errors, the handshake timeout, the plain-HTTP redirect
// listener with ACME challenges, and certificate reload on SIGHUP.
//
// Servers are the harness's (TlsServer is its name here): a clean exit on SIGTERM, no stray
// process, no leaked descriptor, no unexpected error in the log after each test.
#include <arpa/inet.h>
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include "harness.hpp"

namespace askr::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

// Runs a shell command, returns what it printed (stdout and stderr).
std::string shell(const std::string& command) {
    return command_output(command + " 2>&1");
}

// `askr serve --root ROOT --listen 127.0.0.1:0 ARGS...` speaking HTTPS.
// The harness's Server speaks HTTPS too (it reads the scheme from the "listening on" line).
using TlsServer = Server;

// Runs askr expecting it to fail at start: its exit status and output.
std::pair<int, std::string> run_failing(const std::string& root,
                                        const std::vector<std::string>& extra_args) {
    std::string command =
        std::string(ASKR_BINARY) + " serve --root " + root + " --listen 127.0.0.1:0";
    for (const auto& a : extra_args) command += " '" + a + "'";
    std::string output;
    FILE* pipe = ::popen(("timeout 10 " + command + " 2>&1").c_str(), "r");
    char buffer[4096];
    while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
    const int status = ::pclose(pipe);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

struct Https {
    std::string ca_file{};  // trust this certificate (verify on); empty: no verification
    long ssl_version = CURL_SSLVERSION_DEFAULT;
    std::string resolve{};  // "localhost:PORT:127.0.0.1"
    std::vector<std::string> headers{};
    bool http10 = false;
    std::string range{};
};

struct HttpsResponse {
    long status = 0;
    std::string error;
    std::string body;
    std::string location;
    std::string debug;  // curl's verbose text (TLS and ALPN lines)
};

size_t append_to_string(char* data, size_t size, size_t count, void* user) {
    static_cast<std::string*>(user)->append(data, size * count);
    return size * count;
}

int collect_debug(CURL*, curl_infotype type, char* data, size_t size, void* user) {
    if (type == CURLINFO_TEXT) static_cast<std::string*>(user)->append(data, size);
    return 0;
}

HttpsResponse https_get(const std::string& url, const Https& options = {}) {
    HttpsResponse response;
    CURL* curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append_to_string);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_VERBOSE, 1L);
    curl_easy_setopt(curl, CURLOPT_DEBUGFUNCTION, collect_debug);
    curl_easy_setopt(curl, CURLOPT_DEBUGDATA, &response.debug);
    if (options.ca_file.empty()) {
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    } else {
        curl_easy_setopt(curl, CURLOPT_CAINFO, options.ca_file.c_str());
    }
    curl_easy_setopt(curl, CURLOPT_SSLVERSION, options.ssl_version);
    curl_slist* resolve = nullptr;
    if (!options.resolve.empty()) {
        resolve = curl_slist_append(resolve, options.resolve.c_str());
        curl_easy_setopt(curl, CURLOPT_RESOLVE, resolve);
    }
    curl_slist* headers = nullptr;
    for (const auto& h : options.headers) headers = curl_slist_append(headers, h.c_str());
    if (headers) curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (options.http10) curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_0);
    if (!options.range.empty()) curl_easy_setopt(curl, CURLOPT_RANGE, options.range.c_str());
    const CURLcode rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) response.error = curl_easy_strerror(rc);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
    char* location = nullptr;
    curl_easy_getinfo(curl, CURLINFO_REDIRECT_URL, &location);
    if (location) response.location = location;
    curl_slist_free_all(headers);
    curl_slist_free_all(resolve);
    curl_easy_cleanup(curl);
    return response;
}

// openssl s_client against the server; its whole output.
std::string s_client(std::uint16_t port, const std::string& args) {
    return shell("echo | timeout 10 openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
                 " " + args);
}

// A raw TCP connection: sends `bytes`, then waits until the server closes it. Returns the
// seconds it took (or -1 when it stayed open longer than `limit`).
double seconds_until_closed(std::uint16_t port, const std::string& bytes,
                            std::chrono::seconds limit) {
    const int fd = connect_loopback(port);
    if (fd < 0) return -2;
    const auto start = std::chrono::steady_clock::now();
    if (!bytes.empty()) ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    double result = -1;
    char buffer[4096];
    while (std::chrono::steady_clock::now() - start < limit) {
        pollfd pfd{fd, POLLIN, 0};
        if (::poll(&pfd, 1, 100) <= 0) continue;
        if (::recv(fd, buffer, sizeof buffer, 0) <= 0) {
            result =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            break;
        }
    }
    ::close(fd);
    return result;
}

std::string random_bytes(std::size_t n) {
    std::mt19937_64 generator(42);
    std::string data(n, '\0');
    for (auto& c : data) c = static_cast<char>(generator());
    return data;
}

constexpr const char* server_vars_php =
    "<?php echo ($_SERVER['HTTPS'] ?? 'unset'), ' ', $_SERVER['REQUEST_SCHEME'], ' ', "
    "$_SERVER['SERVER_PORT'];";

class Tls : public ::testing::Test {
  protected:
    Tls() : pair(make_cert(certs, "server")) {
        root.write("index.php", server_vars_php);
        root.write("small.txt", "hello over tls\n");
        big = random_bytes(5 << 20);
        root.write("big.bin", big);
    }
    TempDir root;
    TempDir certs;
    CertPair pair;
    std::string big;
};

TEST_F(Tls, PhpSeesHttpsSchemeAndTheTlsPort) {
    TlsServer server(root.path(), {"--tls-cert", pair.cert, "--tls-key", pair.key});
    auto r = https_get(server.url("/index.php"), {.ca_file = pair.cert});
    ASSERT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.body, "on https " + std::to_string(server.port()));
    // Verified by name as well: the certificate is for localhost.
    auto by_name =
        https_get("https://localhost:" + std::to_string(server.port()) + "/small.txt",
                  {.ca_file = pair.cert,
                   .resolve = "localhost:" + std::to_string(server.port()) + ":127.0.0.1"});
    EXPECT_EQ(by_name.status, 200) << by_name.error;
}

TEST_F(Tls, StaticFilesSmallAndLargeOverTls) {
    TlsServer server(root.path(), {"--tls-cert", pair.cert, "--tls-key", pair.key});
    auto small = https_get(server.url("/small.txt"), {.ca_file = pair.cert});
    EXPECT_EQ(small.status, 200) << small.error;
    EXPECT_EQ(small.body, "hello over tls\n");
    auto large = https_get(server.url("/big.bin"), {.ca_file = pair.cert});
    EXPECT_EQ(large.status, 200) << large.error;
    EXPECT_EQ(large.body.size(), big.size());
    EXPECT_TRUE(large.body == big) << "the 5 MiB file arrived altered";
    auto range =
        https_get(server.url("/big.bin"), {.ca_file = pair.cert, .range = "1000000-1199999"});
    EXPECT_EQ(range.status, 206) << range.error;
    EXPECT_TRUE(range.body == big.substr(1000000, 200000));
}

TEST_F(Tls, PhpStreamedAndCloseDelimitedResponses) {
    root.write("stream.php",
               "<?php for ($i = 0; $i < 64; $i++) { echo str_repeat(chr(65 + $i % 26), 32768); "
               "flush(); }");
    TlsServer server(root.path(), {"--tls-cert", pair.cert, "--tls-key", pair.key});
    auto chunked = https_get(server.url("/stream.php"), {.ca_file = pair.cert});
    EXPECT_EQ(chunked.status, 200) << chunked.error;
    EXPECT_EQ(chunked.body.size(), 64u * 32768);
    // HTTP/1.0: the body ends with the connection, so close_notify must mark the end.
    auto until_close = https_get(server.url("/stream.php"), {.ca_file = pair.cert, .http10 = true});
    EXPECT_EQ(until_close.status, 200) << until_close.error;
    EXPECT_EQ(until_close.error, "");
    EXPECT_EQ(until_close.body.size(), 64u * 32768);
}

TEST_F(Tls, OnlyTls12And13AreSpoken) {
    TlsServer server(root.path(), {"--tls-cert", pair.cert, "--tls-key", pair.key});
    auto old = https_get(
        server.url("/small.txt"),
        {.ca_file = pair.cert,
         .ssl_version = long{CURL_SSLVERSION_TLSv1_1} | long{CURL_SSLVERSION_MAX_TLSv1_1}});
    EXPECT_EQ(old.status, 0);
    EXPECT_NE(old.error, "");
    // The client library may refuse TLS 1.1 itself (Debian's default): ask for it with the
    // security level lowered, so that the refusal seen is the server's.
    std::string out = s_client(server.port(), "-tls1_1 -cipher DEFAULT@SECLEVEL=0");
    EXPECT_NE(out.find("alert protocol version"), std::string::npos) << out;
    for (long version : {long{CURL_SSLVERSION_TLSv1_2} | long{CURL_SSLVERSION_MAX_TLSv1_2},
                         long{CURL_SSLVERSION_TLSv1_3} | long{CURL_SSLVERSION_MAX_TLSv1_3}}) {
        auto ok =
            https_get(server.url("/small.txt"), {.ca_file = pair.cert, .ssl_version = version});
        EXPECT_EQ(ok.status, 200) << ok.error;
    }
    // TLS 1.2 with a suite outside the list (no forward secrecy) is refused.
    out = s_client(server.port(), "-tls1_2 -cipher AES128-GCM-SHA256");
    EXPECT_NE(out.find("alert handshake failure"), std::string::npos) << out;
}

TEST_F(Tls, AlpnPrefersH2AndSessionsResume) {
    TlsServer server(root.path(), {"--tls-cert", pair.cert, "--tls-key", pair.key});
    auto r = https_get(server.url("/small.txt"), {.ca_file = pair.cert});
    EXPECT_EQ(r.status, 200) << r.error;
    EXPECT_NE(r.debug.find("ALPN: server accepted h2"), std::string::npos) << r.debug;
    EXPECT_NE(s_client(server.port(), "-alpn http/1.1,h2").find("ALPN protocol: h2"),
              std::string::npos);
    EXPECT_NE(s_client(server.port(), "-alpn http/1.1").find("ALPN protocol: http/1.1"),
              std::string::npos);
    EXPECT_NE(s_client(server.port(), "-alpn spdy/3").find("No ALPN negotiated"),
              std::string::npos);
    // Session tickets: the second connection resumes (on whichever worker takes it). TLS 1.3
    // tickets come after the handshake: each client sends a request and reads until the
    // server closes, so that it has received them before it saves the session.
    const std::string session = certs.path() + "/session.pem";
    const std::string port = std::to_string(server.port());
    auto fetch = [&](const std::string& session_option) {
        return shell(
            "printf 'GET /small.txt HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' | "
            "timeout 10 openssl s_client -ign_eof -connect 127.0.0.1:" +
            port + " " + session_option);
    };
    std::string out = fetch("-sess_out " + session);
    ASSERT_NE(out.find("hello over tls"), std::string::npos) << out;
    for (int i = 0; i < 3; ++i) {
        out = fetch("-sess_in " + session);
        EXPECT_NE(out.find("Reused, TLSv1.3"), std::string::npos) << out;
    }
}

TEST_F(Tls, PlainHttpOnTheTlsPortIsAnsweredAndHarmless) {
    TlsServer server(root.path(), {"--tls-cert", pair.cert, "--tls-key", pair.key});
    std::string answer = raw_exchange(server.port(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(raw_status(answer), 400) << answer;
    EXPECT_NE(answer.find("This port speaks HTTPS"), std::string::npos);
    raw_exchange(server.port(), std::string(300, '\x16') + "garbage",
                 1s);  // not TLS, not HTTP: closed
    auto r = https_get(server.url("/small.txt"), {.ca_file = pair.cert});
    EXPECT_EQ(r.status, 200) << r.error;
}

TEST_F(Tls, HandshakeTimeoutClosesSilentAndStalledClients) {
    TlsServer server(root.path(), {"--tls-cert", pair.cert, "--tls-key", pair.key,
                                   "--tls-handshake-timeout", "2"});
    // Connects and sends nothing.
    std::thread silent([&] {
        const double closed = seconds_until_closed(server.port(), "", 8s);
        EXPECT_GT(closed, 1.0);
        EXPECT_LE(closed, 4.0) << "not closed within the handshake timeout + 2 s";
    });
    // Starts a ClientHello (record header and the first bytes) and stalls.
    const std::string partial_hello("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
    const double closed = seconds_until_closed(server.port(), partial_hello, 8s);
    EXPECT_GT(closed, 1.0);
    EXPECT_LE(closed, 4.0) << "not closed within the handshake timeout + 2 s";
    silent.join();
    // A normal client is served meanwhile and after.
    auto r = https_get(server.url("/small.txt"), {.ca_file = pair.cert});
    EXPECT_EQ(r.status, 200) << r.error;
}

TEST_F(Tls, BadCertificateOrKeyStopsTheStartWithStatus2) {
    const auto other = make_cert(certs, "other");
    const std::string missing = certs.path() + "/missing.crt";
    auto [status, out] = run_failing(root.path(), {"--tls-cert", missing, "--tls-key", pair.key});
    EXPECT_EQ(status, 2) << out;
    EXPECT_NE(out.find("--tls-cert " + missing + ": cannot read: No such file or directory"),
              std::string::npos)
        << out;
    EXPECT_EQ(out.find("worker"), std::string::npos) << "a worker started:\n" << out;

    const std::string junk = root.write("junk.crt", "-----BEGIN CERTIFICATE-----\nnot base64\n");
    std::tie(status, out) = run_failing(root.path(), {"--tls-cert", junk, "--tls-key", pair.key});
    EXPECT_EQ(status, 2) << out;
    EXPECT_NE(out.find("--tls-cert " + junk + ": not a usable PEM certificate chain"),
              std::string::npos)
        << out;

    std::tie(status, out) =
        run_failing(root.path(), {"--tls-cert", pair.cert, "--tls-key", other.key});
    EXPECT_EQ(status, 2) << out;
    EXPECT_NE(
        out.find("--tls-key " + other.key + ": does not match the certificate in " + pair.cert),
        std::string::npos)
        << out;

    std::tie(status, out) = run_failing(root.path(), {"--tls-cert", pair.cert});
    EXPECT_EQ(status, 2) << out;
    EXPECT_NE(out.find("--tls-cert " + pair.cert + ": needs [tls] key (--tls-key)"),
              std::string::npos)
        << out;

    std::tie(status, out) = run_failing(root.path(), {"--listen-http", "127.0.0.1:0"});
    EXPECT_EQ(status, 2) << out;
    EXPECT_NE(out.find("--listen-http 127.0.0.1:0: redirects to HTTPS"), std::string::npos) << out;
}

TEST_F(Tls, SelfSignedCertificateIsMadeKeptAndRenewed) {
    const std::string dir = certs.path() + "/self";
    const std::string crt = dir + "/self-signed.crt";
    const std::string key = dir + "/self-signed.key";
    std::string first;
    {
        TlsServer server(root.path(), {"--tls-self-signed", "--tls-self-signed-dir", dir});
        EXPECT_TRUE(server.wait_for_log("generated the self-signed certificate " + crt, 10s));
        struct stat st {};
        ASSERT_EQ(::stat(dir.c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 0777, 0700u);
        ASSERT_EQ(::stat(key.c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 0777, 0600u);
        first = read_all(crt);
        // Verified against the generated certificate, by address and by name.
        auto r = https_get(server.url("/index.php"), {.ca_file = crt});
        EXPECT_EQ(r.status, 200) << r.error;
        EXPECT_EQ(r.body, "on https " + std::to_string(server.port()));
        const std::string port = std::to_string(server.port());
        auto by_name = https_get("https://localhost:" + port + "/small.txt",
                                 {.ca_file = crt, .resolve = "localhost:" + port + ":127.0.0.1"});
        EXPECT_EQ(by_name.status, 200) << by_name.error;
    }
    {
        TlsServer server(root.path(), {"--tls-self-signed", "--tls-self-signed-dir", dir});
        EXPECT_TRUE(server.wait_for_log("using the self-signed certificate " + crt, 10s));
        EXPECT_EQ(read_all(crt), first) << "a still valid certificate was replaced";
    }
    // One that expires within 7 days is made again.
    const auto expiring = make_cert(certs, "expiring", "localhost", 3);
    fs::copy_file(expiring.cert, crt, fs::copy_options::overwrite_existing);
    fs::copy_file(expiring.key, key, fs::copy_options::overwrite_existing);
    {
        TlsServer server(root.path(), {"--tls-self-signed", "--tls-self-signed-dir", dir});
        EXPECT_TRUE(server.wait_for_log("generated the self-signed certificate " + crt, 10s));
        EXPECT_NE(read_all(crt), read_all(expiring.cert));
        auto r = https_get(server.url("/small.txt"), {.ca_file = crt});
        EXPECT_EQ(r.status, 200) << r.error;
    }
}

TEST_F(Tls, SelfSignedDefaultsToXdgRuntimeDir) {
    TempDir runtime;
    ::chmod(runtime.path().c_str(), 0700);
    TlsServer server(root.path(), {"--tls-self-signed"}, {{"XDG_RUNTIME_DIR", runtime.path()}});
    const std::string crt = runtime.path() + "/askr/self-signed.crt";
    EXPECT_TRUE(server.wait_for_log(crt, 10s));
    auto r = https_get(server.url("/small.txt"), {.ca_file = crt});
    EXPECT_EQ(r.status, 200) << r.error;
}

TEST_F(Tls, HttpListenerRedirectsAndServesAcmeChallenges) {
    root.write(".well-known/acme-challenge/token-123", "token-123.thumbprint");
    root.write("secret.txt", "not over plain http");
    TlsServer server(root.path(), {"--tls-cert", pair.cert, "--tls-key", pair.key, "--listen-http",
                                   "127.0.0.1:0"});
    ASSERT_NE(server.http_port(), 0);
    const std::string http = "http://127.0.0.1:" + std::to_string(server.http_port());
    const std::string tls_port = std::to_string(server.port());

    auto r = request(http + "/some/page?x=1&y=%2F");
    EXPECT_EQ(r.status, 308);
    EXPECT_EQ(r.header("location"), "https://127.0.0.1:" + tls_port + "/some/page?x=1&y=%2F");
    RequestOptions with_host;
    with_host.headers = {"Host: www.example.test:80"};
    r = request(http + "/index.php", with_host);
    EXPECT_EQ(r.header("location"), "https://www.example.test:" + tls_port + "/index.php");
    RequestOptions post;
    post.method = "POST";
    post.body = "a=1";
    r = request(http + "/form", post);
    EXPECT_EQ(r.status, 308);  // the method and body are to be kept
    RequestOptions bad_host;
    bad_host.headers = {"Host: evil.test/path"};
    r = request(http + "/x", bad_host);
    EXPECT_EQ(r.status, 400);

    r = request(http + "/.well-known/acme-challenge/token-123");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "token-123.thumbprint");
    EXPECT_EQ(request(http + "/.well-known/acme-challenge/missing").status, 404);
    // Nothing but the challenge folder is served in the clear, not even by climbing out.
    std::string raw =
        raw_exchange(server.http_port(),
                     "GET /.well-known/acme-challenge/../../secret.txt HTTP/1.1\r\nHost: x\r\n"
                     "Connection: close\r\n\r\n");
    EXPECT_EQ(raw_status(raw), 404) << raw;  // it resolves outside the challenge folder
    EXPECT_EQ(raw.find("not over plain http"), std::string::npos) << raw;
    raw = raw_exchange(
        server.http_port(),
        "GET /.well-known/acme-challenge/%2e%2e/%2e%2e/index.php HTTP/1.1\r\nHost: x\r\n"
        "Connection: close\r\n\r\n");
    EXPECT_NE(raw_status(raw), 200) << raw;
    EXPECT_EQ(raw.find("on https"), std::string::npos) << raw;

    // Following the redirect ends on the HTTPS page.
    auto followed = https_get(server.url("/index.php"), {.ca_file = pair.cert});
    EXPECT_EQ(followed.body, "on https " + tls_port);
}

// Several certificates: the client's SNI name picks one (exact names, then a wildcard for
// one label); an unknown name or none gets the first (--tls-cert).
TEST_F(Tls, SniSelectsTheCertificateForTheName) {
    const auto shop = make_cert(certs, "shop", "shop.test", 30, "DNS:shop.test,DNS:www.shop.test");
    const auto wild = make_cert(certs, "wild", "wild.blog.test", 30, "DNS:*.blog.test");
    TlsServer server(root.path(),
                     {"--tls-cert", pair.cert, "--tls-key", pair.key, "--tls-sni",
                      shop.cert + "," + shop.key, "--tls-sni", wild.cert + "," + wild.key});
    EXPECT_NE(s_client(server.port(), "-servername www.shop.test").find("CN = shop.test"),
              std::string::npos);
    EXPECT_NE(s_client(server.port(), "-servername SHOP.test").find("CN = shop.test"),
              std::string::npos);
    EXPECT_NE(s_client(server.port(), "-servername news.blog.test").find("CN = wild.blog.test"),
              std::string::npos);
    // A wildcard covers one label only (RFC 6125 section 6.4.3).
    EXPECT_NE(s_client(server.port(), "-servername a.news.blog.test").find("CN = localhost"),
              std::string::npos);
    EXPECT_NE(s_client(server.port(), "-servername unknown.test").find("CN = localhost"),
              std::string::npos);
    EXPECT_NE(s_client(server.port(), "-noservername").find("CN = localhost"), std::string::npos);
    // The request itself is served whatever the certificate (curl resolves the name here).
    const std::string out =
        shell("curl -s --cacert " + shop.cert +
              " --resolve www.shop.test:" + std::to_string(server.port()) +
              ":127.0.0.1 https://www.shop.test:" + std::to_string(server.port()) + "/small.txt");
    EXPECT_EQ(out, "hello over tls\n");
    EXPECT_TRUE(server.wait_for_log("TLS certificate " + shop.cert));
}

TEST_F(Tls, SniCertificateErrorsNameTheOption) {
    auto [status, out] =
        run_failing(root.path(), {"--tls-cert", pair.cert, "--tls-key", pair.key, "--tls-sni",
                                  certs.path() + "/missing.crt," + pair.key});
    EXPECT_EQ(status, 2) << out;
    EXPECT_NE(out.find("--tls-sni"), std::string::npos) << out;
    EXPECT_NE(out.find(certs.path() + "/missing.crt: cannot read"), std::string::npos) << out;
    std::tie(status, out) = run_failing(
        root.path(), {"--tls-cert", pair.cert, "--tls-key", pair.key, "--tls-sni", "only-one"});
    EXPECT_EQ(status, 2) << out;
    EXPECT_NE(out.find("expected CERT_FILE,KEY_FILE"), std::string::npos) << out;
}

TEST_F(Tls, SighupReloadsTheCertificateAndKeepsTheOldOneWhenTheNewIsBroken) {
    const std::string crt = certs.path() + "/live.crt";
    const std::string key = certs.path() + "/live.key";
    fs::copy_file(pair.cert, crt);
    fs::copy_file(pair.key, key);
    TlsServer server(root.path(), {"--tls-cert", crt, "--tls-key", key});
    server.allow_error("keeping the previous certificate");
    EXPECT_NE(s_client(server.port(), "").find("CN = localhost"), std::string::npos);

    const auto renewed = make_cert(certs, "renewed", "renewed.test");
    fs::copy_file(renewed.cert, crt, fs::copy_options::overwrite_existing);
    fs::copy_file(renewed.key, key, fs::copy_options::overwrite_existing);
    ::kill(server.pid(), SIGHUP);
    ASSERT_TRUE(server.wait_for_log("reload finished", 10s)) << server.log();
    EXPECT_NE(s_client(server.port(), "").find("CN = renewed.test"), std::string::npos);

    // A broken file on the next reload: logged, and the renewed certificate keeps serving.
    std::ofstream(crt) << "garbage";
    ::kill(server.pid(), SIGHUP);
    ASSERT_TRUE(server.wait_for_log("keeping the previous certificate", 10s)) << server.log();
    EXPECT_TRUE(server.wait_for_log("reload finished: generation 3", 10s)) << server.log();
    EXPECT_NE(s_client(server.port(), "").find("CN = renewed.test"), std::string::npos);
    auto r = https_get(server.url("/small.txt"));
    EXPECT_EQ(r.status, 200) << r.error;
}

}  // namespace
}  // namespace askr::test
