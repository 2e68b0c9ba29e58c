#pragma once
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace askr::static_files {

/// Maps file extensions to media types, read from a mime.types file ("type ext1 ext2 ...",
/// '#' starts a comment). Immutable once built, so it can be shared between threads.
class MimeTypes {
  public:
    /// The type answered for unknown extensions (RFC 9110 §8.3: octet-stream when unknown).
    static constexpr std::string_view default_type = "application/octet-stream";

    /// An empty table: every lookup answers default_type.
    MimeTypes() = default;

    /// Builds a table from mime.types-format text; the first type listing an extension wins.
    static MimeTypes from_text(std::string_view text);

    /// Loads a mime.types file; nullopt when it cannot be read.
    static std::optional<MimeTypes> from_file(const std::string& path);

    /// The system table, /etc/mime.types, loaded once (thread-safe); a built-in table of the
    /// common web types when that file is missing. Never throws after the first call.
    static const MimeTypes& system();

    /// Media type for `path` by its extension (after the last '.' of its last segment),
    /// case-insensitive; default_type when unknown. Bare type, no charset parameter.
    std::string_view lookup(std::string_view path) const;

    /// Number of extensions known.
    std::size_t size() const { return by_extension_.size(); }

  private:
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const {
            return std::hash<std::string_view>{}(s);
        }
    };
    std::unordered_map<std::string, std::string, Hash, std::equal_to<>> by_extension_;
};

}  // namespace askr::static_files
