#include "static/mime_types.hpp"

#include <fstream>
#include <sstream>

namespace askr::static_files {

namespace {

/// Longest extension looked up; longer ones cannot be in any sane table.
constexpr std::size_t max_extension = 32;

/// Used when /etc/mime.types is absent (minimal containers): the types a web app serves.
constexpr std::string_view builtin_types = R"(
text/html html htm
text/css css
text/javascript js mjs
text/plain txt
text/xml xml
application/json json map
application/wasm wasm
application/pdf pdf
application/zip zip
image/png png
image/jpeg jpg jpeg
image/gif gif
image/webp webp
image/avif avif
image/svg+xml svg svgz
image/vnd.microsoft.icon ico
font/woff woff
font/woff2 woff2
audio/mpeg mp3
video/mp4 mp4
video/webm webm
)";

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r';
}

char to_lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

/// Splits off the next whitespace-separated word of `line`; "" at the end.
std::string_view next_word(std::string_view& line) {
    std::size_t begin = 0;
    while (begin < line.size() && is_space(line[begin])) ++begin;
    std::size_t end = begin;
    while (end < line.size() && !is_space(line[end])) ++end;
    const std::string_view word = line.substr(begin, end - begin);
    line.remove_prefix(end);
    return word;
}

}  // namespace

MimeTypes MimeTypes::from_text(std::string_view text) {
    MimeTypes table;
    while (!text.empty()) {
        std::size_t end = text.find('\n');
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(0, end);
        text.remove_prefix(end == text.size() ? end : end + 1);

        if (const std::size_t hash = line.find('#'); hash != std::string_view::npos) {
            line = line.substr(0, hash);
        }
        const std::string_view type = next_word(line);
        if (type.empty() || type.find('/') == std::string_view::npos) continue;
        for (std::string_view ext = next_word(line); !ext.empty(); ext = next_word(line)) {
            if (ext.size() > max_extension) continue;
            std::string key(ext);
            for (char& c : key) c = to_lower(c);
            table.by_extension_.try_emplace(std::move(key), type);
        }
    }
    return table;
}

std::optional<MimeTypes> MimeTypes::from_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) return std::nullopt;
    return from_text(text.str());
}

const MimeTypes& MimeTypes::system() {
    // [stmt.dcl]/4: a function-local static is initialised once, thread-safely.
    static const MimeTypes table = [] {
        try {
            if (auto loaded = from_file("/etc/mime.types"); loaded && loaded->size() > 0) {
                return std::move(*loaded);
            }
        } catch (...) {
            // Out of memory or a stream error: fall back to the built-in table.
        }
        return from_text(builtin_types);
    }();
    return table;
}

std::string_view MimeTypes::lookup(std::string_view path) const {
    const std::size_t dot = path.rfind('.');
    if (dot == std::string_view::npos) return default_type;
    const std::size_t slash = path.rfind('/');
    if (slash != std::string_view::npos && slash > dot) return default_type;
    const std::string_view ext = path.substr(dot + 1);
    if (ext.empty() || ext.size() > max_extension) return default_type;

    char lowered[max_extension];
    for (std::size_t i = 0; i < ext.size(); ++i) lowered[i] = to_lower(ext[i]);
    const auto found = by_extension_.find(std::string_view(lowered, ext.size()));
    return found == by_extension_.end() ? default_type : std::string_view(found->second);
}

}  // namespace askr::static_files
