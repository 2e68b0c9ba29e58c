#pragma once
#include <string>

namespace askr::doctor {

/// `askr config-check [FILE]`: loads FILE (or the file `askr serve` would read) with the
/// environment, runs every check that needs no running server (including parsing the
/// TLS certificate and key), prints "ok" and a summary on stdout or each error on
/// stderr. Returns the exit status: 0 valid, 2 invalid.
int run_config_check(const std::string& file);

}  // namespace askr::doctor
