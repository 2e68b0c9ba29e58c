#include "http/fields.hpp"

#include <cctype>

#include <algorithm>

#include "core/text.hpp"

namespace askr::http {

bool is_protocol_owned(std::string_view name) {
    // By length first: most names an application sets are none of these lengths.
    switch (name.size()) {
        case 7:
            return core::iequals(name, "upgrade");
        case 10:
            return core::iequals(name, "connection") || core::iequals(name, "keep-alive");
        case 14:
            return core::iequals(name, "content-length");
        case 16:
            return core::iequals(name, "proxy-connection");
        case 17:
            return core::iequals(name, "transfer-encoding");
        default:
            return false;
    }
}

bool is_field_name(std::string_view name) {
    if (name.empty()) return false;
    for (char c : name) {
        if (!is_tchar(static_cast<unsigned char>(c))) return false;
    }
    return true;
}

bool is_valid_host(std::string_view host) {
    std::string_view name = host, port;
    if (host.starts_with('[')) {
        const auto close = host.find(']');
        if (close == std::string_view::npos || close < 3) return false;
        for (char c : host.substr(1, close - 1)) {
            if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return false;
        }
        name = {};
        port = host.substr(close + 1);
        if (!port.empty() && !port.starts_with(':')) return false;
    } else {
        const auto colon = host.find(':');
        if (colon != std::string_view::npos) {
            name = host.substr(0, colon);
            port = host.substr(colon);
        }
        if (name.empty()) return false;
        for (char c : name) {
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_')
                return false;
        }
    }
    if (port.empty()) return true;
    port.remove_prefix(1);  // ':'; an empty port is allowed (RFC 3986 section 3.2.3)
    if (port.size() > 5) return false;
    std::uint32_t number = 0;
    for (char c : port) {
        if (c < '0' || c > '9') return false;
        number = number * 10 + static_cast<std::uint32_t>(c - '0');
    }
    return number <= 65535;
}

void Fields::add(std::string_view name, std::string_view value) {
    Ref ref;
    ref.name_offset = static_cast<std::uint32_t>(storage_.size());
    ref.name_length = static_cast<std::uint32_t>(name.size());
    storage_.append(name);
    ref.value_offset = static_cast<std::uint32_t>(storage_.size());
    ref.value_length = static_cast<std::uint32_t>(value.size());
    storage_.append(value);
    refs_.push_back(ref);
}

std::size_t Fields::remove(std::string_view name) {
    const auto before = refs_.size();
    // The bytes stay in storage_ until clear(): removing is rare (a filter taking a field
    // out), and the offsets of the others stay valid.
    std::erase_if(refs_, [&](const Ref& r) {
        return core::iequals({storage_.data() + r.name_offset, r.name_length}, name);
    });
    return before - refs_.size();
}

std::string_view Fields::get(std::string_view name) const {
    for (std::size_t i = 0; i < refs_.size(); ++i) {
        if (core::iequals(this->name(i), name)) return value(i);
    }
    return {};
}

bool Fields::has(std::string_view name) const {
    for (std::size_t i = 0; i < refs_.size(); ++i) {
        if (core::iequals(this->name(i), name)) return true;
    }
    return false;
}

void Fields::clear() {
    storage_.clear();
    refs_.clear();
}

void Fields::swap(Fields& other) noexcept {
    storage_.swap(other.storage_);
    refs_.swap(other.refs_);
}

}  // namespace askr::http
