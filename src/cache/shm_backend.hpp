#pragma once
#include "cache/backend.hpp"

namespace askr::cache {

/// The cache of one machine: the shared-memory table the master mapped before forking
/// (shm/cache_table.hpp), shared by every worker.
class ShmBackend final : public Backend {
  public:
    explicit ShmBackend(shm::CacheTable& table) : table_(table) {}
    ShmBackend(const ShmBackend&) = delete;
    ShmBackend& operator=(const ShmBackend&) = delete;

    bool get(Space space, std::string_view key, ValueType& type, std::string& out) override;
    Status set(Space space, std::string_view key, ValueType type, std::string_view bytes,
               std::int64_t ttl_ms, bool only_if_absent) override;
    bool remove(Space space, std::string_view key) override;
    bool remove_if_equal(Space space, std::string_view key, std::string_view expected) override;
    Status increment(std::string_view key, std::int64_t by, std::int64_t ttl_ms,
                     std::int64_t& result) override;
    bool flush() override;
    std::uint64_t max_value() const override { return table_.max_value(); }
    Info info() override;

  private:
    shm::CacheTable& table_;
};

}  // namespace askr::cache
