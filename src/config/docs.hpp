#pragma once
#include <string>

namespace askr::config {

/// docs/configuration.md, generated from the schema (`askr config-docs` prints it; a test
/// checks that the committed file is equal).
std::string configuration_markdown();

}  // namespace askr::config
