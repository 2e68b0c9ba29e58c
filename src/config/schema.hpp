#pragma once
// The configuration schema: one table of option descriptors drives the TOML file, the
// environment variables, the `askr serve` flags and docs/configuration.md. Adding an
// option is one entry in schema.cpp (and its field in ServeOptions).
#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "config/serve_options.hpp"

namespace askr::config {

/// What kind of value an option takes; decides how the file, the environment and the
/// command line are read, and what an error says is expected.
enum class Type {
    string,   ///< TOML string
    path,     ///< TOML string naming a file or directory
    boolean,  ///< TOML true/false; a flag without value on the command line
    integer,  ///< TOML integer within [min, max]
    seconds,  ///< TOML integer number of seconds within [min, max]
    size,     ///< TOML string such as "10M" (K, M, G, T) or an integer number of bytes
    choice,   ///< TOML string, one of `choices`
    list,     ///< TOML array of strings; comma-separated in the environment; repeatable flag
    table,    ///< TOML table KEY = scalar; "K=V;K=V" in the environment; repeatable K=V flag
};

/// Ordered KEY=VALUE pairs (the [php] ini table).
using KeyValues = std::vector<std::pair<std::string, std::string>>;

/// A value as read from one source, already checked against its option's Type.
using Value = std::variant<bool, std::int64_t, std::string, std::vector<std::string>, KeyValues>;

/// How one option reads into and shows from ServeOptions.
struct Binding {
    /// Stores the value; throws ConfigError saying what is expected when it is invalid.
    std::function<void(ServeOptions&, const Value&)> apply;
    /// The current value in TOML syntax ("\"8M\"", "15", "[\"127.0.0.1:8080\"]").
    std::function<std::string(const ServeOptions&)> show;
};

/// One configuration option: its TOML key, CLI flag, environment variable and docs.
struct Option {
    std::string_view section{};  ///< TOML table: "server"
    std::string_view key{};      ///< key in that table: "max_body_size"
    Type type = Type::string;
    std::string_view cli{};          ///< CLI11 names ("--listen,-l"); "" = no flag
    std::string_view value_name{};   ///< placeholder in --help and the docs ("HOST:PORT")
    std::string_view doc{};          ///< what it does, for --help and docs/configuration.md
    std::string_view example{};      ///< a valid non-default value in TOML syntax (docs, tests)
    std::string_view default_doc{};  ///< the default in words when show(defaults) does not say it
    std::int64_t min = 0;            ///< integer and seconds: smallest allowed
    std::int64_t max = std::numeric_limits<std::int64_t>::max();  ///< ... and largest
    std::vector<std::string_view> choices{};  ///< Type::choice: the allowed words
    Binding bind{};

    /// "server.max_body_size"
    std::string name() const;
    /// "ASKR_SERVER_MAX_BODY_SIZE"
    std::string env() const;
    /// The long CLI flag ("--max-body-size"), "" without one.
    std::string flag() const;
    /// What a valid value looks like, for error messages ("an integer from 1 to 1024").
    std::string expectation() const;
    /// The default, as the docs show it.
    std::string default_text() const;
};

/// Every option, in documentation order.
std::span<const Option> schema();

/// The TOML tables of the schema, in documentation order, with one line each about them.
std::span<const std::pair<std::string_view, std::string_view>> sections();

/// The option `section.key`, or nullptr.
const Option* find_option(std::string_view section, std::string_view key);

/// Checks a value against `option` (range, choices, what its binding accepts); throws
/// ConfigError saying what is expected.
void validate(const Option& option, const Value& value);

/// Reads a value given as text (environment variable or command-line argument) for
/// `option`; a list or table may come in several pieces (repeated flag). Throws
/// ConfigError saying what is expected.
Value parse_text(const Option& option, const std::vector<std::string>& pieces,
                 bool from_environment);


}  // namespace askr::config
