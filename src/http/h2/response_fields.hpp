#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace askr::http::h2 {

/// A response header field for HTTP/2: a lower-case name and its value, both pointing
/// into ResponseFields' storage.
struct Field {
    std::string_view name;
    std::string_view value;
};

/// Converts a response head as the handlers produce it ("Name: value\r\n" lines) into
/// HTTP/2 fields: names lower-cased (RFC 9113 section 8.2.1), connection-specific fields
/// dropped (section 8.2.2), leading whitespace of values trimmed. Reused per connection.
class ResponseFields {
  public:
    /// Replaces the content with the fields of `lines`.
    void assign(std::string_view lines);
    /// The fields, in order (valid until the next assign()).
    const std::vector<Field>& fields() const { return fields_; }

  private:
    std::string storage_;
    std::vector<Field> fields_;
};

}  // namespace askr::http::h2
