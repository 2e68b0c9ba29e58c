// Let's Encrypt as docs/production.md sets it up, run for real: certbot's webroot mode gets
// a certificate from an ACME server through the challenge files Askr's --listen-http
// serves, and its deploy hook installs the files and reloads Askr, which then serves the
// issued certificate. The ACME server is Debian's pebble (Let's Encrypt's test server, the
// same protocol, RFC 8555), with pebble-challtestsrv as its DNS so that the test's domain
// resolves to 127.0.0.1.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "harness.hpp"
#include "redis_support.hpp"

namespace askr::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* domain = "askr.test";

// A program of the test's own (pebble, its DNS), its output in `log`, stopped at the end.
class Daemon {
  public:
    Daemon(std::vector<std::string> args, std::vector<std::pair<std::string, std::string>> env,
           std::string log)
        : log_(std::move(log)) {
        pid_ = ::fork();
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            const int out = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
            ::dup2(out, 1);
            ::dup2(out, 2);
            for (const auto& [name, value] : env) ::setenv(name.c_str(), value.c_str(), 1);
            std::vector<char*> argv;
            for (auto& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execvp(argv[0], argv.data());
            ::_exit(127);
        }
    }
    ~Daemon() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGTERM);
        int status = 0;
        ::waitpid(pid_, &status, 0);
    }
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    // Waits until something accepts connections on 127.0.0.1:port.
    bool wait_listening(std::uint16_t port) const {
        for (int attempt = 0; attempt < 250; ++attempt) {
            const int fd = connect_loopback(port);
            if (fd >= 0) {
                ::close(fd);
                return true;
            }
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) return false;
            std::this_thread::sleep_for(20ms);
        }
        return false;
    }
    std::string log() const { return slurp(log_); }

  private:
    std::string log_;
    pid_t pid_ = -1;
};

// Runs a shell command; returns its output (stdout and stderr) and sets `status`.
std::string run(const std::string& command, int& status) {
    std::string output = command_output("( " + command + " ) 2>&1; echo \"exit=$?\"");
    const auto at = output.rfind("exit=");
    status = at == std::string::npos ? -1 : std::stoi(output.substr(at + 5));
    return output;
}

// What a TLS client verifying against `ca` is served by https://askr.test:PORT/ (curl
// resolves the name to 127.0.0.1): the certificate's issuer and serial, "" when the
// chain does not verify.
std::string served_certificate(std::uint16_t port, const std::string& ca) {
    const std::string at = std::string(domain) + ":" + std::to_string(port);
    return command_output("curl -sS -m 5 -o /dev/null --cacert " + ca + " --resolve " + at +
                          ":127.0.0.1 -w '%{certs}' https://" + at +
                          "/ 2>/dev/null | grep -E '^(Issuer|Serial Number):' | head -2");
}

TEST(Acme, CertbotWebrootThroughListenHttpThenItsDeployHookReloadsAskrOntoTheCertificate) {
    TempDir dir;
    TempDir root;
    root.write("index.html", "<h1>served over HTTPS</h1>\n");
    int status = 0;

    // Pebble's own HTTPS certificate, which certbot is told to trust.
    make_cert(dir, "pebble", "pebble", 1, "IP:127.0.0.1");

    // Before the first certificate: a placeholder pair where the deploy hook will put the
    // real one, so that Askr can start and serve the challenges (docs/production.md).
    const std::string tls = dir.mkdir("etc-askr-tls");
    const CertPair placeholder =
        make_cert(dir, "placeholder", domain, 1, "DNS:" + std::string(domain));
    std::filesystem::rename(placeholder.cert, tls + "/fullchain.pem");
    std::filesystem::rename(placeholder.key, tls + "/privkey.pem");
    ASSERT_FALSE(HasFailure()) << "openssl could not make the certificates";
    Server server(root.path(), {"--tls-cert", tls + "/fullchain.pem", "--tls-key",
                                tls + "/privkey.pem", "--listen-http", "127.0.0.1:0"});
    ASSERT_GT(server.http_port(), 0);

    // pebble-challtestsrv answers every A query with 127.0.0.1; pebble validates HTTP-01
    // challenges on Askr's --listen-http port.
    const std::uint16_t dns_port = free_port();
    Daemon dns({"pebble-challtestsrv", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "", "-dns01",
                "127.0.0.1:" + std::to_string(dns_port), "-http01", "", "-https01", "",
                "-tlsalpn01", "", "-management", "127.0.0.1:" + std::to_string(free_port())},
               {}, dir.path() + "/challtestsrv.log");
    const std::uint16_t acme_port = free_port();
    const std::uint16_t management_port = free_port();
    dir.write(
        "pebble.json",
        "{\"pebble\": {\"listenAddress\": \"127.0.0.1:" + std::to_string(acme_port) +
            "\", \"managementListenAddress\": \"127.0.0.1:" + std::to_string(management_port) +
            "\", \"certificate\": \"" + dir.path() + "/pebble.crt\", \"privateKey\": \"" +
            dir.path() + "/pebble.key\", \"httpPort\": " + std::to_string(server.http_port()) +
            ", \"tlsPort\": " + std::to_string(free_port()) +
            ", \"ocspResponderURL\": \"\", \"externalAccountBindingRequired\": false}}\n");
    Daemon pebble({"pebble", "-config", dir.path() + "/pebble.json", "-dnsserver",
                   "127.0.0.1:" + std::to_string(dns_port), "-strict=false"},
                  {{"PEBBLE_VA_NOSLEEP", "1"}, {"PEBBLE_WFE_NONCEREJECT", "0"}},
                  dir.path() + "/pebble.log");
    ASSERT_TRUE(pebble.wait_listening(acme_port)) << pebble.log();
    ASSERT_TRUE(pebble.wait_listening(management_port)) << pebble.log();

    // The deploy hook of docs/production.md, where it puts it, with the test's paths and
    // pid; certbot runs it once at issuance (named) and once per renewal (the directory).
    const std::string hook =
        dir.write("le/renewal-hooks/deploy/askr",
                  "#!/bin/sh\nset -e\ninstall -d -m 0750 " + tls +
                      "\ninstall -m 0640 "
                      "\"$RENEWED_LINEAGE/fullchain.pem\" \"$RENEWED_LINEAGE/privkey.pem\" " +
                      tls + "/\nkill -HUP " + std::to_string(server.pid()) + "\n");
    ::chmod(hook.c_str(), 0755);
    const std::string certbot =
        "REQUESTS_CA_BUNDLE=" + dir.path() +
        "/pebble.crt certbot --non-interactive"
        " --agree-tos --register-unsafely-without-email --server https://127.0.0.1:" +
        std::to_string(acme_port) + "/dir --config-dir " + dir.path() + "/le --work-dir " +
        dir.path() + "/le-work --logs-dir " + dir.path() + "/le-logs ";

    const std::string issued = run(certbot + "certonly --webroot -w " + root.path() + " -d " +
                                       domain + " --deploy-hook " + hook,
                                   status);
    ASSERT_EQ(status, 0) << issued << "\npebble:\n" << pebble.log() << "\naskr:\n" << server.log();
    EXPECT_NE(issued.find("Successfully received certificate"), std::string::npos) << issued;
    ASSERT_TRUE(server.wait_for_log("reload finished", 30s)) << server.log();

    // Askr now serves the issued certificate: the chain verifies against pebble's root
    // (fetched from its management interface, as it is made anew at each start).
    const std::string ca = dir.path() + "/pebble-root.pem";
    run("curl -fsS --cacert " + dir.path() + "/pebble.crt https://127.0.0.1:" +
            std::to_string(management_port) + "/roots/0 -o " + ca,
        status);
    ASSERT_EQ(status, 0);
    const std::string first = served_certificate(server.port(), ca);
    EXPECT_NE(first.find("Pebble Intermediate CA"), std::string::npos) << first;

    // A renewal runs the same hook: Askr reloads onto the renewed certificate.
    const std::string renewed =
        run(certbot + "renew --force-renewal --no-random-sleep-on-renew", status);
    ASSERT_EQ(status, 0) << renewed << "\npebble:\n" << pebble.log();
    for (int attempt = 0; attempt < 100; ++attempt) {
        if (served_certificate(server.port(), ca) != first) break;
        std::this_thread::sleep_for(100ms);
    }
    const std::string second = served_certificate(server.port(), ca);
    EXPECT_NE(second.find("Pebble Intermediate CA"), std::string::npos) << second;
    EXPECT_NE(second, first) << "the renewed certificate (a new serial) is not served";

    // Plain HTTP still redirects everything but the challenges to HTTPS.
    const std::string redirect = raw_exchange(
        server.http_port(), "GET /index.html HTTP/1.1\r\nHost: " + std::string(domain) +
                                "\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(raw_status(redirect), 308) << redirect;
}

}  // namespace
}  // namespace askr::test
