#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace askr::core {

/// The closest of `candidates` to `word` when it is a likely typo (at most two edits, or
/// one is a prefix of the other), else "": the "did you mean" of an error message.
std::string closest(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace askr::core
