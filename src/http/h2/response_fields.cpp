#include "http/h2/response_fields.hpp"

namespace askr::http::h2 {

namespace {

bool connection_specific(std::string_view lower_name) {
    return lower_name == "connection" || lower_name == "keep-alive" ||
           lower_name == "proxy-connection" || lower_name == "transfer-encoding" ||
           lower_name == "upgrade";
}

}  // namespace

void ResponseFields::assign(std::string_view lines) {
    storage_.clear();
    storage_.reserve(lines.size());  // never reallocated below: the views stay valid
    fields_.clear();
    for (std::size_t pos = 0; pos < lines.size();) {
        auto end = lines.find("\r\n", pos);
        if (end == std::string_view::npos) end = lines.size();
        const auto line = lines.substr(pos, end - pos);
        pos = end + 2;
        const auto colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) continue;
        const std::size_t name_at = storage_.size();
        for (char c : line.substr(0, colon))
            storage_ += c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
        const std::string_view name(storage_.data() + name_at, colon);
        if (connection_specific(name)) {
            storage_.resize(name_at);
            continue;
        }
        auto value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
            value.remove_prefix(1);
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
            value.remove_suffix(1);
        const std::size_t value_at = storage_.size();
        storage_.append(value);
        fields_.push_back({name, std::string_view(storage_.data() + value_at, value.size())});
    }
}

}  // namespace askr::http::h2
