#pragma once
// End-to-end test harness: starts the real build/askr on port 0 with a generated document
// root, talks to it with libcurl or raw sockets, and after each test checks what a user
// would: the server stopped cleanly on SIGTERM, left no stray process, leaked no file
// descriptor, and logged no error it was not expected to.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace askr::test {

/// A temporary directory, removed with its content at the end of the test.
class TempDir {
  public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    /// Absolute path of the directory.
    const std::string& path() const { return path_; }
    /// Writes `content` to `relative` (parent directories created); returns the full path.
    std::string write(const std::string& relative, const std::string& content) const;
    /// Creates a directory (and parents).
    std::string mkdir(const std::string& relative) const;
    /// Copies a fixture from tests/e2e/fixtures/NAME into the directory as `relative`.
    std::string copy_fixture(const std::string& name, const std::string& relative) const;

  private:
    std::string path_;
};

/// A running `askr serve`.
class Server {
  public:
    /// Starts `askr serve --listen 127.0.0.1:0 --root ROOT ARGS...` (no --root when ROOT is
    /// "", for a --config file that names it; with `env` added to
    /// its environment) and waits until it says it listens, over HTTP or HTTPS, and with
    /// --listen-http also on its redirect listener (fails the test after 10 s). Unless ARGS
    /// say otherwise, the admin listener takes a free port (--admin-listen 127.0.0.1:0):
    /// tests run in parallel, the default 127.0.0.1:2019 would collide. With --error-log,
    /// log() reads that file as well.
    explicit Server(const std::string& root, std::vector<std::string> extra_args = {},
                    std::vector<std::pair<std::string, std::string>> env = {});
    /// Stops it (SIGTERM) and checks the clean-exit rules unless stop() already ran.
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    std::uint16_t port() const { return port_; }
    /// Port of the --listen-http redirect listener (0 without one).
    std::uint16_t http_port() const { return http_port_; }
    /// Port of the admin listener (0 when off).
    std::uint16_t admin_port() const { return admin_port_; }
    /// The port of the first --listen 127.0.0.1:0,proxy-protocol listener (0 if none).
    std::uint16_t proxy_port() const { return proxy_port_; }
    /// "http://127.0.0.1:ADMIN_PORT" + path.
    std::string admin_url(const std::string& path = "/") const;
    pid_t pid() const { return pid_; }
    /// "http://127.0.0.1:PORT" + path ("https://" when the server speaks TLS).
    std::string url(const std::string& path = "/") const;
    /// Everything the server printed so far.
    std::string log() const;
    /// Waits until the log contains `text` (false after `timeout`).
    bool wait_for_log(const std::string& text,
                      std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;
    /// Lets the log contain "[error]" lines that include `text` without failing the test.
    void allow_error(const std::string& text) { allowed_errors_.push_back(text); }
    /// Number of open file descriptors of the server process.
    int open_fds() const;
    /// Open file descriptors of each worker process, by pid.
    std::map<pid_t, int> worker_fds() const;
    /// The app may keep this many more descriptors open in a worker than it had when the
    /// server started (a worker script's database connection, a log file it opened).
    void allow_worker_fds(int extra) { allowed_worker_fds_ = extra; }
    /// Sends `signal` and waits for exit; returns the exit status (or 128+signal).
    int stop(int signal = 15, std::chrono::milliseconds timeout = std::chrono::seconds(15));

  private:
    std::string log_path_;
    std::string error_log_path_;  // --error-log, if given
    pid_t pid_ = -1;
    std::uint16_t admin_port_ = 0;
    std::uint16_t port_ = 0;
    std::uint16_t http_port_ = 0;
    std::uint16_t proxy_port_ = 0;
    std::string scheme_ = "http";
    int baseline_fds_ = 0;
    std::map<pid_t, int> baseline_worker_fds_;
    int allowed_worker_fds_ = 0;
    bool stopped_ = false;
    std::vector<std::string> allowed_errors_;
};

/// A response as a client sees it.
struct Response {
    long status = 0;      ///< 0 when the request failed
    std::string error;    ///< curl's error text, if any
    std::string version;  ///< "1.1", "1.0", "2"
    std::vector<std::pair<std::string, std::string>>
        header_list;  ///< as received, names lower-cased
    std::string body;
    /// Last value of a header (name lower-case), "" when absent.
    std::string header(const std::string& lower_name) const;
    /// Whether a header is present.
    bool has_header(const std::string& lower_name) const;
};

/// Options of one HTTP request.
struct RequestOptions {
    std::string method = "GET";
    std::string body;
    std::vector<std::string> headers;  ///< "Name: value"
    bool http10 = false;
    long timeout_ms = 10000;
    /// Multipart form: (field name, value) pairs; a value starting with '@' uploads that
    /// file path (curl's convention), e.g. {"upload", "@/tmp/x.txt"}.
    std::vector<std::pair<std::string, std::string>> multipart;
};

/// Sends one request with libcurl (a fresh connection each time).
Response request(const std::string& url, const RequestOptions& options = {});
/// GET shorthand.
inline Response get(const std::string& url) {
    return request(url);
}

/// Sends raw bytes on a new TCP connection to 127.0.0.1:port and returns everything
/// read until the server closes or `timeout` passes without data. With
/// `half_close`, shuts down the sending side after writing.
/// A TCP connection to 127.0.0.1:PORT (blocking, close-on-exec), or -1. A nonzero
/// `receive_buffer` sets SO_RCVBUF before connecting (it bounds the window the client offers).
int connect_loopback(std::uint16_t port, int receive_buffer = 0);

/// Whole content of a file ("" when it cannot be read).
std::string slurp(const std::string& path);

/// The lines of `path` once it has at least `count` (workers flush their access log once
/// a second), or what it has after 3 s.
std::vector<std::string> wait_for_lines(const std::string& path, std::size_t count);

/// Runs a shell command and returns what it printed on stdout (add 2>&1 for stderr).
std::string command_output(const std::string& command);

/// A self-signed certificate and its key (EC P-256), made with the openssl command line
/// as a user would: DIR/NAME.crt and DIR/NAME.key.
struct CertPair {
    std::string cert, key;
};
CertPair make_cert(const TempDir& dir, const std::string& name,
                   const std::string& common_name = "localhost", int days = 30,
                   const std::string& alt_names = "DNS:localhost,IP:127.0.0.1");

std::string raw_exchange(std::uint16_t port, const std::string& bytes,
                         std::chrono::milliseconds timeout = std::chrono::seconds(3),
                         bool half_close = false);

/// Status code of the first response in raw HTTP bytes, 0 if there is none.
int raw_status(const std::string& response);

/// What curl fetched: the last response's status, version and headers (names lower-case),
/// and the body, also kept in a file.
struct Fetched {
    int status = 0;
    std::string http_version;
    std::map<std::string, std::string> headers;
    std::string body_path;
    std::string body;
    std::string header(const std::string& name) const {
        auto it = headers.find(name);
        return it == headers.end() ? "" : it->second;
    }
    bool has(const std::string& name) const { return headers.count(name) != 0; }
};

/// Runs `curl -sS ARGS URL`, the head and the body written to files named from `prefix`.
Fetched curl_fetch(const std::string& url, const std::string& args, const std::string& prefix);

/// Path of a fixture file under tests/e2e/fixtures.
std::string fixture_path(const std::string& name);

}  // namespace askr::test
