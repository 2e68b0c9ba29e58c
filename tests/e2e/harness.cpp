#include "harness.hpp"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;

namespace askr::test {

namespace {

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

struct CurlGlobal {
    CurlGlobal() { curl_global_init(CURL_GLOBAL_ALL); }
    ~CurlGlobal() { curl_global_cleanup(); }
};
CurlGlobal curl_global;

size_t collect_body(char* data, size_t size, size_t count, void* user) {
    static_cast<std::string*>(user)->append(data, size * count);
    return size * count;
}

size_t collect_header(char* data, size_t size, size_t count, void* user) {
    auto* response = static_cast<Response*>(user);
    std::string line(data, size * count);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    if (line.rfind("HTTP/", 0) == 0) {
        response->header_list.clear();  // a new response (after 100 Continue or a redirect)
        return size * count;
    }
    auto colon = line.find(':');
    if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        response->header_list.emplace_back(name, value);
    }
    return size * count;
}

}  // namespace

TempDir::TempDir() {
    char pattern[] = "/tmp/askr-e2e-XXXXXX";
    path_ = ::mkdtemp(pattern);
    fs::permissions(path_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                               fs::perms::others_read | fs::perms::others_exec);
}

TempDir::~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
}

std::string TempDir::write(const std::string& relative, const std::string& content) const {
    fs::path full = fs::path(path_) / relative;
    fs::create_directories(full.parent_path());
    std::ofstream(full, std::ios::binary) << content;
    return full.string();
}

std::string TempDir::mkdir(const std::string& relative) const {
    fs::path full = fs::path(path_) / relative;
    fs::create_directories(full);
    return full.string();
}

std::string TempDir::copy_fixture(const std::string& name, const std::string& relative) const {
    return write(relative, read_file(fixture_path(name)));
}

std::string fixture_path(const std::string& name) {
    return std::string(ASKR_SOURCE_DIR) + "/tests/e2e/fixtures/" + name;
}

Server::Server(const std::string& root, std::vector<std::string> extra_args,
               std::vector<std::pair<std::string, std::string>> env) {
    char pattern[] = "/tmp/askr-e2e-log-XXXXXX";
    int log_fd = ::mkstemp(pattern);
    log_path_ = pattern;
    std::vector<std::string> args = {ASKR_BINARY, "serve", "--listen", "127.0.0.1:0"};
    if (!root.empty()) args.insert(args.end(), {"--root", root});  // "": a --config file names it
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    if (std::find(args.begin(), args.end(), "--admin-listen") == args.end()) {
        args.insert(args.end(), {"--admin-listen", "127.0.0.1:0"});
    }
    if (auto it = std::find(args.begin(), args.end(), "--error-log");
        it != args.end() && it + 1 != args.end()) {
        error_log_path_ = *(it + 1);
    }
    const bool redirect_listener =
        std::find(args.begin(), args.end(), "--listen-http") != args.end();
    const bool proxy_listener = std::any_of(args.begin(), args.end(), [](const std::string& a) {
        return a.find(":0,proxy-protocol") != std::string::npos;
    });
    const pid_t test_pid = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
        // A test binary that dies (a ctest timeout kills it) takes its server along: the
        // master gets SIGTERM and stops its workers, instead of serving on as an orphan.
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (::getppid() != test_pid) ::_exit(127);
        ::dup2(log_fd, 1);
        ::dup2(log_fd, 2);
        ::setpgid(0, 0);
        for (const auto& [name, value] : env) ::setenv(name.c_str(), value.c_str(), 1);
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    ::close(log_fd);
    // "listening on https://127.0.0.1:P" (or http://), with --listen-http also
    // "listening on http://127.0.0.1:Q (redirects to https)", and " (PROXY protocol)" after
    // a listener with that option.
    const std::regex listening(
        R"(listening on (https?)://127\.0\.0\.1:(\d+)( \(redirects to https\))?( \(PROXY protocol\))?)");
    const std::regex admin_listening(R"(admin listening at http://127\.0\.0\.1:(\d+))");
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < until) {
        std::string text = log();
        std::smatch admin;
        if (admin_port_ == 0 && std::regex_search(text, admin, admin_listening)) {
            admin_port_ = static_cast<std::uint16_t>(std::stoi(admin[1]));
        }
        for (auto it = std::sregex_iterator(text.begin(), text.end(), listening);
             it != std::sregex_iterator(); ++it) {
            const auto port = static_cast<std::uint16_t>(std::stoi((*it)[2]));
            if ((*it)[3].matched) {
                http_port_ = port;
            } else if ((*it)[4].matched) {
                proxy_port_ = port;
            } else if (port_ == 0) {
                port_ = port;
                scheme_ = (*it)[1];
            }
        }
        if (port_ != 0 && (!redirect_listener || http_port_ != 0) &&
            (!proxy_listener || proxy_port_ != 0 || http_port_ != 0))
            break;
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            stopped_ = true;
            ADD_FAILURE() << "askr exited at start:\n" << text;
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (port_ == 0) {
        ADD_FAILURE()
            << "askr did not report listening (and its redirect listener, if any) within 10 s:\n"
            << log();
        return;
    }
    baseline_fds_ = open_fds();
    baseline_worker_fds_ = worker_fds();
}

namespace {

int count_fds(pid_t pid) {
    int count = 0;
    std::error_code ec;
    for (auto it = fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
         !ec && it != fs::directory_iterator(); it.increment(ec)) {
        ++count;
    }
    return count;
}

// Descriptors a worker holds beyond what it (or, for a worker started later, the
// largest first worker) had after start; empty when every worker is back to that.
std::string worker_fd_excess(const std::map<pid_t, int>& now, const std::map<pid_t, int>& baseline,
                             int allowed) {
    int largest = 0;
    for (const auto& [pid, fds] : baseline) largest = std::max(largest, fds);
    std::string excess;
    for (const auto& [pid, fds] : now) {
        const auto it = baseline.find(pid);
        const int limit = (it != baseline.end() ? it->second : largest) + allowed;
        if (fds > limit) {
            excess += "worker " + std::to_string(pid) + " holds " + std::to_string(fds) +
                      " descriptors, " + std::to_string(limit) + " after start; ";
        }
    }
    return excess;
}

}  // namespace

Server::~Server() {
    if (!stopped_) {
        // No descriptor may outlive the connections that held it (allow a moment for the
        // server to see the clients' FIN).
        int fds = open_fds();
        for (int i = 0; i < 150 && fds > baseline_fds_; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            fds = open_fds();
        }
        EXPECT_LE(fds, baseline_fds_) << "the server holds more file descriptors than after start";
        // The same for every worker: a connection, a static file, a spooled body or a PHP
        // mailbox that outlives its request shows here.
        if (!baseline_worker_fds_.empty()) {
            std::string excess =
                worker_fd_excess(worker_fds(), baseline_worker_fds_, allowed_worker_fds_);
            for (int i = 0; i < 150 && !excess.empty(); ++i) {
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
                excess = worker_fd_excess(worker_fds(), baseline_worker_fds_, allowed_worker_fds_);
            }
            EXPECT_EQ(excess, "") << "a worker holds more file descriptors than after start";
        }
        int status = stop();
        EXPECT_EQ(status, 0) << "askr did not exit cleanly on SIGTERM:\n" << log();
    }
    std::string text = log();
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        if (line.find("[error]") == std::string::npos &&
            line.find("[critical]") == std::string::npos)
            continue;
        bool allowed = false;
        for (const auto& a : allowed_errors_)
            allowed = allowed || line.find(a) != std::string::npos;
        EXPECT_TRUE(allowed) << "unexpected error in the server log: " << line;
    }
    ::unlink(log_path_.c_str());
}

std::string Server::url(const std::string& path) const {
    return scheme_ + "://127.0.0.1:" + std::to_string(port_) + path;
}

std::string Server::log() const {
    return error_log_path_.empty() ? read_file(log_path_)
                                   : read_file(log_path_) + read_file(error_log_path_);
}

std::string Server::admin_url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(admin_port_) + path;
}

bool Server::wait_for_log(const std::string& text, std::chrono::milliseconds timeout) const {
    const auto until = std::chrono::steady_clock::now() + timeout;
    do {
        if (log().find(text) != std::string::npos) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } while (std::chrono::steady_clock::now() < until);
    return false;
}

int Server::open_fds() const {
    return count_fds(pid_);
}

std::map<pid_t, int> Server::worker_fds() const {
    // Workers are the master's children (it is their subreaper) named "askr: worker".
    std::map<pid_t, int> result;
    std::ifstream children("/proc/" + std::to_string(pid_) + "/task/" + std::to_string(pid_) +
                           "/children");
    for (pid_t child; children >> child;) {
        std::ifstream comm("/proc/" + std::to_string(child) + "/comm");
        std::string name;
        std::getline(comm, name);
        if (name == "askr: worker") result[child] = count_fds(child);
    }
    return result;
}

int Server::stop(int signal, std::chrono::milliseconds timeout) {
    if (stopped_) return -1;
    stopped_ = true;
    ::kill(pid_, signal);
    const auto until = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > until) {
            ADD_FAILURE() << "askr did not stop within the timeout; killing it";
            ::kill(-pid_, SIGKILL);
            ::waitpid(pid_, &status, 0);
            return -1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    // No process of the server's group may be left behind.
    if (::kill(-pid_, 0) == 0) {
        ADD_FAILURE() << "processes of the server's group are still running";
        ::kill(-pid_, SIGKILL);
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

std::string Response::header(const std::string& lower_name) const {
    std::string value;
    for (const auto& [n, v] : header_list) {
        if (n == lower_name) value = v;
    }
    return value;
}

bool Response::has_header(const std::string& lower_name) const {
    for (const auto& [n, v] : header_list) {
        if (n == lower_name) return true;
    }
    return false;
}

Response request(const std::string& url, const RequestOptions& options) {
    Response response;
    CURL* curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, options.timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    if (options.http10) curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_0);
    curl_slist* headers = nullptr;
    for (const auto& h : options.headers) headers = curl_slist_append(headers, h.c_str());
    if (headers) curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_mime* mime = nullptr;
    if (!options.multipart.empty()) {
        mime = curl_mime_init(curl);
        for (const auto& [name, value] : options.multipart) {
            curl_mimepart* part = curl_mime_addpart(mime);
            curl_mime_name(part, name.c_str());
            if (!value.empty() && value[0] == '@') {
                curl_mime_filedata(part, value.c_str() + 1);
            } else {
                curl_mime_data(part, value.c_str(), value.size());
            }
        }
        curl_easy_setopt(curl, CURLOPT_MIMEPOST, mime);
    } else if (!options.body.empty() || options.method == "POST" || options.method == "PUT") {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(options.body.size()));
        curl_easy_setopt(curl, CURLOPT_COPYPOSTFIELDS, options.body.c_str());
    }
    if (options.method == "HEAD") {
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else if (options.method != "GET" &&
               !(options.method == "POST" && (mime || !options.body.empty()))) {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, options.method.c_str());
    }
    CURLcode rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) response.error = curl_easy_strerror(rc);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
    long version = 0;
    curl_easy_getinfo(curl, CURLINFO_HTTP_VERSION, &version);
    response.version = version == CURL_HTTP_VERSION_1_0   ? "1.0"
                       : version == CURL_HTTP_VERSION_2_0 ? "2"
                                                          : "1.1";
    if (mime) curl_mime_free(mime);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return response;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

std::vector<std::string> wait_for_lines(const std::string& path, std::size_t count) {
    std::vector<std::string> lines;
    for (int i = 0; i < 150; ++i) {
        lines.clear();
        std::istringstream in(slurp(path));
        for (std::string line; std::getline(in, line);) lines.push_back(line);
        if (lines.size() >= count) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return lines;
}

int connect_loopback(std::uint16_t port, int receive_buffer) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (receive_buffer > 0)
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

std::string command_output(const std::string& command) {
    std::string out;
    FILE* pipe = ::popen(command.c_str(), "r");
    if (!pipe) return out;
    char buffer[8192];
    while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
    ::pclose(pipe);
    return out;
}

CertPair make_cert(const TempDir& dir, const std::string& name, const std::string& common_name,
                   int days, const std::string& alt_names) {
    CertPair pair{dir.path() + "/" + name + ".crt", dir.path() + "/" + name + ".key"};
    const std::string out = command_output(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " + pair.key +
        " -out " + pair.cert + " -days " + std::to_string(days) + " -subj /CN=" + common_name +
        " -addext subjectAltName=" + alt_names + " 2>&1");
    EXPECT_TRUE(fs::exists(pair.cert)) << out;
    return pair;
}

std::string raw_exchange(std::uint16_t port, const std::string& bytes,
                         std::chrono::milliseconds timeout, bool half_close) {
    int fd = connect_loopback(port);
    if (fd < 0) return {};
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<std::size_t>(n);
    }
    if (half_close) ::shutdown(fd, SHUT_WR);
    std::string received;
    char buffer[65536];
    for (;;) {
        pollfd pfd{fd, POLLIN, 0};
        if (::poll(&pfd, 1, static_cast<int>(timeout.count())) <= 0) break;
        ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        received.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return received;
}

int raw_status(const std::string& response) {
    if (response.rfind("HTTP/1.", 0) != 0 || response.size() < 12) return 0;
    return std::atoi(response.c_str() + 9);
}

Fetched curl_fetch(const std::string& url, const std::string& args, const std::string& prefix) {
    const std::string body = prefix + ".body";
    const std::string head = prefix + ".head";
    command_output("curl -sS --max-time 20 " + args + " -D " + head + " -o " + body + " '" + url + "' 2>&1");
    Fetched out;
    out.body_path = body;
    out.body = slurp(body);
    std::istringstream lines(slurp(head));
    for (std::string line; std::getline(lines, line);) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.rfind("HTTP/", 0) == 0) {  // a new response (after a 1xx or a redirect)
            const auto space = line.find(' ');
            out.http_version = line.substr(5, space - 5);
            out.status = std::atoi(line.c_str() + space + 1);
            out.headers.clear();
            continue;
        }
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string name = line.substr(0, colon);
        for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        out.headers[name] = value;
    }
    return out;
}

}  // namespace askr::test
