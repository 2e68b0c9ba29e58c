#include "http/request.hpp"

namespace askr::http {

void Request::clear() {
    header_storage_.clear();
    headers_.clear();
    method.clear();
    target.clear();
    body.clear();
    version_major = 1;
    version_minor = 1;
    keep_alive = true;
    start_time = 0;
}

void Request::add_header(std::string_view name, std::string_view value) {
    HeaderRef ref;
    ref.name_offset = static_cast<std::uint32_t>(header_storage_.size());
    ref.name_length = static_cast<std::uint32_t>(name.size());
    header_storage_.append(name);
    ref.value_offset = static_cast<std::uint32_t>(header_storage_.size());
    ref.value_length = static_cast<std::uint32_t>(value.size());
    header_storage_.append(value);
    headers_.push_back(ref);
}

std::string_view Request::header_name(std::size_t i) const {
    const auto& h = headers_[i];
    return std::string_view(header_storage_).substr(h.name_offset, h.name_length);
}

std::string_view Request::header_value(std::size_t i) const {
    const auto& h = headers_[i];
    return std::string_view(header_storage_).substr(h.value_offset, h.value_length);
}

std::string_view Request::header(std::string_view lower_name) const {
    for (std::size_t i = 0; i < headers_.size(); ++i) {
        if (header_name(i) == lower_name) return header_value(i);
    }
    return {};
}

std::string_view Request::path() const {
    std::string_view t = target;
    return t.substr(0, t.find('?'));
}

std::string_view Request::query() const {
    std::string_view t = target;
    auto q = t.find('?');
    return q == std::string_view::npos ? std::string_view{} : t.substr(q + 1);
}

std::string_view Request::protocol() const {
    if (version_major == 2) return "HTTP/2.0";
    if (version_major == 1 && version_minor == 0) return "HTTP/1.0";
    return "HTTP/1.1";
}

}  // namespace askr::http
