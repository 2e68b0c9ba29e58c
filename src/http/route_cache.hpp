#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "http/router.hpp"

namespace askr::http {

/// Routing decisions of the last second, per worker (I/O thread only, no locks): a hit
/// skips percent-decoding and the stat() calls of resolve(). Like nginx's
/// open_file_cache_valid, a file created or removed is seen within `validity`.
class RouteCache {
public:
    explicit RouteCache(const RouterConfig& config, std::chrono::milliseconds validity = std::chrono::seconds(1),
                        std::size_t max_entries = 4096);

    /// The route for a request: resolve(), or a decision made less than `validity` ago.
    std::shared_ptr<const Route> resolve(std::string_view raw_path, std::string_view query);

private:
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    struct Entry {
        std::shared_ptr<const Route> route;
        std::chrono::steady_clock::time_point decided;
    };
    const RouterConfig& config_;
    std::chrono::milliseconds validity_;
    std::size_t max_entries_;
    std::unordered_map<std::string, Entry, Hash, std::equal_to<>> entries_;
};

}  // namespace askr::http
