#pragma once
// The schema's options as `askr serve` flags (CLI11).
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "config/loader.hpp"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace askr::config {

/// Declares one flag per schema option that has one, plus --config, on a CLI11 command;
/// after parsing, says which were given. Values are checked by the loader, not by CLI11,
/// so that a flag, a variable and a key give the same message.
class CommandLineFlags {
  public:
    explicit CommandLineFlags(CLI::App& command);
    CommandLineFlags(const CommandLineFlags&) = delete;
    CommandLineFlags& operator=(const CommandLineFlags&) = delete;

    /// The options given on the command line, with their raw values (after parsing).
    CommandLineValues given() const;
    /// --config FILE ("" when not given).
    const std::string& config_file() const { return config_file_; }

  private:
    struct Flag {
        const Option* option;
        CLI::Option* cli;
        std::vector<std::string> values;  // lists, tables and other values
        bool on = false;                  // booleans
    };
    std::deque<Flag> flags_;  // stable addresses: CLI11 keeps pointers to the values
    std::string config_file_;
};

}  // namespace askr::config
