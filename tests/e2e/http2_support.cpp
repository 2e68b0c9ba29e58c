#include "http2_support.hpp"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace askr::test::h2 {

namespace {

size_t collect_body(char* data, size_t size, size_t count, void* user) {
    auto* response = static_cast<H2Response*>(user);
    response->body.append(data, size * count);
    response->body_arrivals.push_back(std::chrono::steady_clock::now());
    return size * count;
}

size_t collect_header(char* data, size_t size, size_t count, void* user) {
    auto* response = static_cast<H2Response*>(user);
    std::string line(data, size * count);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    const auto colon = line.find(':');
    if (line.rfind("HTTP/", 0) != 0 && colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        response->headers.emplace_back(name, value);
    }
    return size * count;
}

std::string u32(std::uint32_t v) {
    return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
            static_cast<char>(v)};
}

// HPACK integer with a prefix (RFC 7541 section 5.1), first byte's high bits in `high`.
std::string hpack_int(std::uint32_t value, int prefix_bits, std::uint8_t high) {
    const std::uint32_t max = (1u << prefix_bits) - 1;
    std::string out;
    if (value < max) {
        out += static_cast<char>(high | value);
        return out;
    }
    out += static_cast<char>(high | max);
    value -= max;
    while (value >= 128) {
        out += static_cast<char>((value % 128) + 128);
        value /= 128;
    }
    out += static_cast<char>(value);
    return out;
}

std::string hpack_string(const std::string& s) {
    return hpack_int(static_cast<std::uint32_t>(s.size()), 7, 0) + s;
}

}  // namespace

std::string H2Response::header(const std::string& name) const {
    std::string value;
    for (const auto& [n, v] : headers) {
        if (n == name) value = v;
    }
    return value;
}

H2Response h2_request(const std::string& url, const std::string& method, const std::string& body,
                      const std::vector<std::string>& headers) {
    H2Response response;
    CURL* curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(
        curl, CURLOPT_HTTP_VERSION,
        url.rfind("https:", 0) == 0 ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    curl_slist* list = nullptr;
    for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
    if (list) curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    if (method == "HEAD") {
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else if (method == "POST") {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    } else if (method != "GET") {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
    }
    const CURLcode rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) response.error = curl_easy_strerror(rc);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
    curl_easy_getinfo(curl, CURLINFO_HTTP_VERSION, &response.http_version);
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    return response;
}

std::uint32_t Frame::error_code() const {
    const std::size_t at = type == GOAWAY ? 4 : 0;
    if (payload.size() < at + 4) return 0xffffffff;
    const auto* p = reinterpret_cast<const unsigned char*>(payload.data()) + at;
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
           p[3];
}

std::string frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
                  const std::string& payload) {
    const auto n = static_cast<std::uint32_t>(payload.size());
    std::string out = {static_cast<char>(n >> 16), static_cast<char>(n >> 8), static_cast<char>(n),
                       static_cast<char>(type), static_cast<char>(flags)};
    return out + u32(stream & 0x7fffffff) + payload;
}

std::string settings(const std::vector<std::pair<std::uint16_t, std::uint32_t>>& entries) {
    std::string payload;
    for (const auto& [id, value] : entries) {
        payload += static_cast<char>(id >> 8);
        payload += static_cast<char>(id);
        payload += u32(value);
    }
    return frame(SETTINGS, 0, 0, payload);
}

std::string literal(const std::string& name, const std::string& value) {
    return std::string(1, '\0') + hpack_string(name) + hpack_string(value);
}

std::string request_block(const std::string& method, const std::string& path,
                          const std::vector<std::pair<std::string, std::string>>& extra) {
    std::string block = literal(":method", method) + "\x86" /* :scheme http */ +
                        literal(":path", path) + literal(":authority", "localhost");
    for (const auto& [name, value] : extra) block += literal(name, value);
    return block;
}

RawH2::RawH2(std::uint16_t port) {
    fd_ = connect_loopback(port);
}

RawH2::~RawH2() {
    if (fd_ >= 0) ::close(fd_);
}

bool RawH2::send(const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) return false;
        sent += static_cast<std::size_t>(n);
    }
    return true;
}

bool RawH2::handshake(const std::vector<std::pair<std::uint16_t, std::uint32_t>>& entries) {
    if (!send(std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + settings(entries))) return false;
    for (;;) {
        auto f = next();
        if (!f) return false;
        if (f->type == SETTINGS && !(f->flags & ACK)) return send(frame(SETTINGS, ACK, 0, {}));
    }
}

std::optional<Frame> RawH2::next(std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (buffer_.size() >= 9) {
            const auto* p = reinterpret_cast<const unsigned char*>(buffer_.data());
            const std::size_t length = (std::size_t{p[0]} << 16) | (std::size_t{p[1]} << 8) | p[2];
            if (buffer_.size() >= 9 + length) {
                Frame f;
                f.type = p[3];
                f.flags = p[4];
                f.stream = ((std::uint32_t{p[5]} << 24) | (std::uint32_t{p[6]} << 16) |
                            (std::uint32_t{p[7]} << 8) | p[8]) &
                           0x7fffffff;
                f.payload = buffer_.substr(9, length);
                buffer_.erase(0, 9 + length);
                seen_.push_back(f);
                return f;
            }
        }
        if (closed_ || fd_ < 0) return std::nullopt;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            until - std::chrono::steady_clock::now());
        if (left.count() <= 0) return std::nullopt;
        pollfd pfd{fd_, POLLIN, 0};
        if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
        char chunk[65536];
        const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
        if (n <= 0) {
            closed_ = true;
            continue;
        }
        buffer_.append(chunk, static_cast<std::size_t>(n));
    }
}

std::optional<Frame> RawH2::until(std::uint8_t type, std::chrono::milliseconds timeout,
                                  std::optional<std::uint32_t> stream) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            end - std::chrono::steady_clock::now());
        if (left.count() <= 0) return std::nullopt;
        auto f = next(left);
        if (!f) return std::nullopt;
        if (f->type == type && (!stream || f->stream == *stream)) return f;
    }
}

bool RawH2::wait_closed(std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (!closed_) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            end - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        if (!next(left) && !closed_) return false;
    }
    return true;
}

}  // namespace askr::test::h2
