#include "config/command_line.hpp"

#include <CLI/CLI.hpp>

namespace askr::config {

CommandLineFlags::CommandLineFlags(CLI::App& command) {
    command
        .add_option("--config,-c", config_file_,
                    "Configuration file (default: $ASKR_CONFIG, else ./askr.toml if it exists); "
                    "flags override it, see docs/configuration.md")
        ->type_name("FILE");
    for (const auto& option : schema()) {
        if (option.cli.empty()) continue;
        Flag& flag = flags_.emplace_back(Flag{&option, nullptr, {}, false});
        const std::string help =
            std::string(option.doc) + " [" + option.env() + ", " + option.name() + "]";
        const std::string names(option.cli);
        if (option.type == Type::boolean) {
            flag.cli = command.add_flag(names, flag.on, help);
        } else {
            flag.cli = command.add_option(names, flag.values, help)
                           ->type_name(std::string(option.value_name));
            if (option.type != Type::list && option.type != Type::table) flag.cli->expected(1);
        }
    }
}

CommandLineValues CommandLineFlags::given() const {
    CommandLineValues out;
    for (const auto& flag : flags_) {
        if (flag.cli->count() == 0) continue;
        if (flag.option->type == Type::boolean) {
            out.push_back({flag.option, {flag.on ? "true" : "false"}});
        } else {
            out.push_back({flag.option, flag.values});
        }
    }
    return out;
}

}  // namespace askr::config
