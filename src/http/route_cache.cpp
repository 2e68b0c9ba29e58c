#include "http/route_cache.hpp"

namespace askr::http {

RouteCache::RouteCache(const RouterConfig& config, std::chrono::milliseconds validity, std::size_t max_entries)
    : config_(config), validity_(validity), max_entries_(max_entries) {}

std::shared_ptr<const Route> RouteCache::resolve(std::string_view raw_path, std::string_view query) {
    const auto now = std::chrono::steady_clock::now();
    auto it = entries_.find(raw_path);
    if (it != entries_.end() && now - it->second.decided < validity_) return it->second.route;
    auto route = std::make_shared<const Route>(http::resolve(config_, raw_path, query));
    // Redirects carry the query; errors are rare and not worth a slot.
    const bool cacheable = route->kind == Route::Kind::php || route->kind == Route::Kind::static_file ||
                           route->kind == Route::Kind::not_found;
    if (!cacheable) return route;
    if (it != entries_.end()) {
        it->second = {route, now};
    } else {
        if (entries_.size() >= max_entries_) entries_.clear();  // bounded: random URLs cannot grow it
        entries_.emplace(std::string(raw_path), Entry{route, now});
    }
    return route;
}

}  // namespace askr::http
