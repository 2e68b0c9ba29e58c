// Debian's Chromium, headless, for the tests that need a real browser (the dashboard, an
// EventSource page).
#pragma once
#include <filesystem>
#include <string>

#include "harness.hpp"

namespace askr::test {

/// The Chromium binary, or "" when none is installed (scripts/install-deps.sh installs it).
inline std::string browser() {
    for (const char* candidate :
         {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"}) {
        if (std::filesystem::exists(candidate)) return candidate;
    }
    return {};
}

/// Runs Chromium's headless mode on `url` with `what` (--dump-dom, --screenshot=FILE) and
/// returns its stdout. Virtual time: the page's timers run (each poll of an API is real
/// network I/O), and time stands still while a request is pending, so a page with an open
/// EventSource is dumped once it has closed it and `budget_ms` more have passed. Bounded by
/// 60 s of real time. --no-sandbox: the tests may run as root.
inline std::string run_browser(const std::string& profile, const std::string& what,
                               const std::string& url, int budget_ms) {
    const std::string command =
        "timeout 60 " + browser() +
        " --headless --disable-gpu --no-sandbox --no-first-run --disable-dev-shm-usage"
        " --disable-extensions --disable-background-networking --hide-scrollbars"
        " --user-data-dir=" +
        profile + " --window-size=1280,1100 --virtual-time-budget=" + std::to_string(budget_ms) +
        " " + what + " '" + url + "' 2>/dev/null";
    return command_output(command);
}

}  // namespace askr::test
