#include "php/cgi_environment.hpp"

#include <charconv>

namespace askr::php {

namespace {

std::string_view host_without_port(std::string_view host) {
    if (!host.empty() && host.front() == '[') {  // IPv6 literal, RFC 3986 section 3.2.2
        auto close = host.find(']');
        return close == std::string_view::npos ? host : host.substr(0, close + 1);
    }
    return host.substr(0, host.find(':'));
}

std::string_view to_chars(std::uint64_t value, char (&buffer)[24]) {
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
    (void)ec;
    return {buffer, static_cast<std::size_t>(end - buffer)};
}

}  // namespace

std::string_view server_name(const http::Request& request) {
    auto host = host_without_port(request.header("host"));
    return host.empty() ? std::string_view(request.endpoints.local_addr) : host;
}

void join_cookies(const http::Request& request, std::string& out) {
    out.clear();
    for (std::size_t i = 0; i < request.header_count(); ++i) {
        if (request.header_name(i) != "cookie") continue;
        if (!out.empty()) out += "; ";
        out += request.header_value(i);
    }
}

void for_each_cgi_variable(const http::Request& request, const ScriptTarget& target,
                           std::string_view server_software, const VariableSink& sink) {
    char number[24];
    const auto& ep = request.endpoints;
    sink("SERVER_SOFTWARE", server_software);
    sink("SERVER_NAME", server_name(request));
    sink("SERVER_ADDR", ep.local_addr);
    sink("SERVER_PORT", to_chars(ep.local_port, number));
    sink("REMOTE_ADDR", ep.remote_addr);
    sink("REMOTE_PORT", to_chars(ep.remote_port, number));
    sink("GATEWAY_INTERFACE", "CGI/1.1");
    sink("SERVER_PROTOCOL", request.protocol());
    sink("REQUEST_SCHEME", ep.tls ? "https" : "http");
    if (ep.tls) sink("HTTPS", "on");
    sink("REDIRECT_STATUS", "200");
    sink("REQUEST_METHOD", request.method);
    sink("REQUEST_URI", request.target);
    sink("QUERY_STRING", request.query());
    sink("DOCUMENT_ROOT", target.document_root);
    sink("SCRIPT_FILENAME", target.filename);
    sink("SCRIPT_NAME", target.script_name);
    sink("PATH_INFO", target.path_info);

    // DOCUMENT_URI is the script's URI, as nginx's $document_uri after Debian's
    // snippets/fastcgi-php.conf (try_files $fastcgi_script_name) gives it.
    sink("DOCUMENT_URI", target.script_name);
    std::string scratch;
    scratch.reserve(target.script_name.size() + target.path_info.size());
    scratch.append(target.script_name).append(target.path_info);
    sink("PHP_SELF", scratch);
    if (!target.path_info.empty()) {
        scratch.assign(target.document_root).append(target.path_info);
        sink("PATH_TRANSLATED", scratch);
    }

    sink("CONTENT_TYPE", request.header("content-type"));
    if (request.body_length() > 0 || !request.header("content-length").empty() ||
        !request.header("transfer-encoding").empty()) {
        sink("CONTENT_LENGTH", to_chars(request.body_length(), number));
    } else {
        sink("CONTENT_LENGTH", "");
    }
    auto authorization = request.header("authorization");
    if (authorization.size() > 6 && (authorization.substr(0, 6) == "Basic " ||
                                     authorization.substr(0, 6) == "basic ")) {
        sink("AUTH_TYPE", "Basic");
    }

    // HTTP_* variables (RFC 3875 section 4.1.18).
    std::string value;
    for (std::size_t i = 0; i < request.header_count(); ++i) {
        auto name = request.header_name(i);
        if (name.find('_') != std::string_view::npos || name == "proxy") continue;
        bool seen_before = false;
        for (std::size_t j = 0; j < i && !seen_before; ++j) seen_before = request.header_name(j) == name;
        if (seen_before) continue;
        const std::string_view separator = name == "cookie" ? "; " : ", ";
        value.assign(request.header_value(i));
        for (std::size_t j = i + 1; j < request.header_count(); ++j) {
            if (request.header_name(j) == name) value.append(separator).append(request.header_value(j));
        }
        scratch.assign("HTTP_");
        for (char c : name) scratch += c == '-' ? '_' : static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
        sink(scratch, value);
    }
}

}  // namespace askr::php
