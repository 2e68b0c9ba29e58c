#pragma once
// `askr doctor`: a pre-flight report on this machine for one configuration.
#include <string>
#include <vector>

namespace askr::config {
struct Config;
}

namespace askr::doctor {

/// The verdict of one check.
enum class Status { ok, warn, fail };

/// One line of the report.
struct Finding {
    Status status = Status::ok;
    std::string topic;   ///< "php", "opcache", "nofile", ...
    std::string detail;  ///< what was found
    std::string fix;     ///< what to do about it ("" when ok)
};

/// Checks that need no configuration: PHP build and opcache (with the configured ini
/// settings and extensions when `config` is given), io_uring, the descriptor limit;
/// and, with `config`, the root, the ports and the TLS files.
std::vector<Finding> examine(const config::Config* config);

/// Before `askr serve` starts: the [php] extensions must be loaded in the embed SAPI
/// (checked in a short-lived child, so the master stays free of PHP). Throws
/// config::ConfigErrors naming the missing ones and the package to install.
void require_extensions(const config::Config& config);

/// `askr doctor [--config FILE]`: prints the report; returns 1 when anything failed, else 0.
int run_doctor(const std::string& config_file);

}  // namespace askr::doctor
