#pragma once
// Loading the configuration: defaults, then askr.toml, then ASKR_* environment variables,
// then command-line flags (each later source wins per option), then the checks that
// look at several options together and at the file system.
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/schema.hpp"
#include "config/serve_options.hpp"

namespace askr::config {

/// Every problem found in a configuration, one message per line.
class ConfigErrors : public ConfigError {
  public:
    explicit ConfigErrors(std::vector<std::string> messages);
    /// The messages, each naming where (file:line and key, variable or flag) and what is expected.
    const std::vector<std::string>& messages() const { return messages_; }

  private:
    std::vector<std::string> messages_;
};

/// Where an option's value came from.
struct Origin {
    enum class Source { defaults, file, environment, command_line };
    Source source = Source::defaults;
    std::string file;  ///< Source::file: the file's path
    int line = 0;      ///< Source::file: line of the value
    std::string text;  ///< the value as written there
};

/// Option values given on the command line, raw, in the order of the schema.
using CommandLineValues = std::vector<std::pair<const Option*, std::vector<std::string>>>;

/// What one configuration load reads.
struct Sources {
    std::string config_file;  ///< "" = no file
    std::vector<std::pair<std::string, std::string>>
        environment;  ///< NAME, value (ASKR_* only matter)
    CommandLineValues command_line;
};

/// A loaded configuration: the options `askr serve` consumes and where each came from.
struct Config {
    ServeOptions options;
    std::string file;                       ///< the config file read ("" = none)
    std::map<std::string, Origin> origins;  ///< by Option::name(); absent = default
    /// Names the place of an option's value in messages: "askr.toml:3: [server] listen =
    /// \"x\"", "--listen x", "environment ASKR_SERVER_LISTEN=x" or "[server] listen (default)".
    std::string where(const Option& option) const;
    /// Same, by section and key.
    std::string where(std::string_view section, std::string_view key) const;
};

/// The config file to read: `explicit_file` (--config), else $ASKR_CONFIG, else
/// ./askr.toml when it exists, else "" (none).
std::string find_config_file(const std::string& explicit_file);

/// The process's ASKR_* environment variables.
std::vector<std::pair<std::string, std::string>> askr_environment();

/// Reads defaults, the file, the environment and the command line, in that order.
/// Throws ConfigErrors with every problem found.
Config load(const Sources& sources);

/// Checks what involves several options or the file system (root readable, worker script
/// present, TLS options that go together) and completes the options (absolute paths,
/// worker count). Throws ConfigErrors with every problem found.
void finalize(Config& config);

/// find_config_file + load + finalize, for the process's environment.
Config load_and_finalize(const std::string& explicit_file, const CommandLineValues& command_line);

}  // namespace askr::config
