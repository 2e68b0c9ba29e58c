// askr_cache_*(): the shared-memory cache (shm/cache_table.hpp) as PHP sees it. Scalars
// are stored as they are (an int stays an int, no serializer on the way in or out);
// arrays and objects go through PHP's serializer. docs/cache.md is the reference.
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/size.hpp"
#include "php/sapi_internal.hpp"
#include "shm/cache_table.hpp"

extern "C" {
#include "ext/standard/php_var.h"
#include "php.h"
#include "zend_closures.h"
#include "zend_exceptions.h"
#include "zend_smart_str.h"
}

namespace askr::php::detail {

shm::CacheTable* cache = nullptr;

namespace {

using shm::CacheSpace;
using shm::CacheStatus;
using shm::CacheType;

// A TTL above this is a mistake (a timestamp passed as a duration, say).
constexpr zend_long max_ttl_seconds = 10ll * 365 * 86400;
// askr_cache_remember(): how long the process computing a value holds the key for the
// others, who wait at most as long before computing it themselves.
constexpr std::int64_t compute_lease_ms = 30'000;

// The table, or nullptr with an Error thrown when the cache is off.
shm::CacheTable* table() {
    if (!cache) {
        zend_throw_error(nullptr,
                         "%s(): the shared-memory cache is off ([cache] slots = 0); set [cache] "
                         "slots or --cache-slots to a number of entries to use it",
                         get_active_function_name());
    }
    return cache;
}

bool valid_key(const zend_string* key, std::uint32_t arg) {
    if (ZSTR_LEN(key) == 0) {
        zend_argument_value_error(arg, "must not be empty");
        return false;
    }
    if (ZSTR_LEN(key) > shm::CacheTable::max_key_bytes) {
        zend_argument_value_error(arg, "must be at most %zu bytes long, got %zu",
                                  shm::CacheTable::max_key_bytes, ZSTR_LEN(key));
        return false;
    }
    return true;
}

bool valid_ttl(zend_long ttl, std::uint32_t arg, zend_long least) {
    if (ttl < least || ttl > max_ttl_seconds) {
        if (least == 0) {
            zend_argument_value_error(arg,
                                      "must be 0 (no expiry) or a number of seconds up to %lld",
                                      static_cast<long long>(max_ttl_seconds));
        } else {
            zend_argument_value_error(
                arg, "must be a number of seconds from 1 to %lld (a lock always expires)",
                static_cast<long long>(max_ttl_seconds));
        }
        return false;
    }
    return true;
}

std::string_view view(const zend_string* s) {
    return {ZSTR_VAL(s), ZSTR_LEN(s)};
}

// Encodes `value` for the table into `out`: a string's own bytes (no copy), or `bytes`.
// False with an exception thrown when it cannot be stored.
bool encode(zval* value, std::uint32_t arg, CacheType& type, std::string& bytes,
            std::string_view& out) {
    ZVAL_DEREF(value);
    bytes.clear();
    out = {};
    switch (Z_TYPE_P(value)) {
        case IS_NULL:
            type = CacheType::null;
            return true;
        case IS_FALSE:
            type = CacheType::false_value;
            return true;
        case IS_TRUE:
            type = CacheType::true_value;
            return true;
        case IS_LONG: {
            const std::int64_t n = Z_LVAL_P(value);
            type = CacheType::integer;
            bytes.assign(reinterpret_cast<const char*>(&n), sizeof n);
            out = bytes;
            return true;
        }
        case IS_DOUBLE: {
            const double d = Z_DVAL_P(value);
            type = CacheType::floating;
            bytes.assign(reinterpret_cast<const char*>(&d), sizeof d);
            out = bytes;
            return true;
        }
        case IS_STRING:
            type = CacheType::string;
            out = std::string_view(Z_STRVAL_P(value), Z_STRLEN_P(value));
            break;
        case IS_ARRAY:
        case IS_OBJECT: {
            if (Z_TYPE_P(value) == IS_OBJECT && Z_OBJCE_P(value) == zend_ce_closure) {
                zend_argument_type_error(
                    arg,
                    "must not be a Closure: a closure cannot be stored, store what it computes");
                return false;
            }
            smart_str serialized = {};
            php_serialize_data_t state;
            PHP_VAR_SERIALIZE_INIT(state);
            php_var_serialize(&serialized, value, &state);
            PHP_VAR_SERIALIZE_DESTROY(state);
            if (EG(exception)) {
                smart_str_free(&serialized);
                return false;
            }
            type = CacheType::serialized;
            if (serialized.s) bytes.assign(ZSTR_VAL(serialized.s), ZSTR_LEN(serialized.s));
            smart_str_free(&serialized);
            out = bytes;
            break;
        }
        default:
            zend_argument_type_error(
                arg, "must be null, bool, int, float, string, array or object, %s given",
                zend_zval_type_name(value));
            return false;
    }
    if (cache && out.size() > cache->max_value()) {
        zend_argument_value_error(
            arg, "is %zu bytes%s, over [cache] max_value (%s): store less or raise it", out.size(),
            type == CacheType::serialized ? " serialized" : "",
            core::format_size(cache->max_value()).c_str());
        return false;
    }
    return true;
}

// Turns what the table holds back into a PHP value; false when it cannot be read back
// (a value torn by a killed writer, or a class that no longer unserializes).
bool decode(CacheType type, const std::string& bytes, zval* out) {
    switch (type) {
        case CacheType::null:
            ZVAL_NULL(out);
            return true;
        case CacheType::false_value:
            ZVAL_FALSE(out);
            return true;
        case CacheType::true_value:
            ZVAL_TRUE(out);
            return true;
        case CacheType::integer: {
            if (bytes.size() != sizeof(std::int64_t)) return false;
            std::int64_t n = 0;
            std::memcpy(&n, bytes.data(), sizeof n);
            ZVAL_LONG(out, n);
            return true;
        }
        case CacheType::floating: {
            if (bytes.size() != sizeof(double)) return false;
            double d = 0;
            std::memcpy(&d, bytes.data(), sizeof d);
            ZVAL_DOUBLE(out, d);
            return true;
        }
        case CacheType::string:
            ZVAL_STRINGL(out, bytes.data(), bytes.size());
            return true;
        case CacheType::serialized: {
            const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
            php_unserialize_data_t state;
            PHP_VAR_UNSERIALIZE_INIT(state);
            const bool ok = php_var_unserialize(out, &p, p + bytes.size(), &state);
            PHP_VAR_UNSERIALIZE_DESTROY(state);
            if (!ok) {
                zval_ptr_dtor(out);
                ZVAL_NULL(out);
            }
            return ok;
        }
    }
    return false;
}

// One buffer for values read, reused (one PHP thread per process).
std::string& scratch() {
    static std::string buffer;
    return buffer;
}

bool read_value(shm::CacheTable& t, const zend_string* key, zval* out) {
    CacheType type{};
    return t.get(CacheSpace::value, view(key), type, scratch()) && decode(type, scratch(), out);
}

// askr_cache_get(string $key, mixed $default = null): mixed
PHP_FUNCTION(askr_cache_get) {
    zend_string* key = nullptr;
    zval* fallback = nullptr;
    ZEND_PARSE_PARAMETERS_START(1, 2)
    Z_PARAM_STR(key)
    Z_PARAM_OPTIONAL
    Z_PARAM_ZVAL(fallback)
    ZEND_PARSE_PARAMETERS_END();
    shm::CacheTable* t = table();
    if (!t || !valid_key(key, 1)) RETURN_THROWS();
    if (read_value(*t, key, return_value)) return;
    if (fallback) RETURN_COPY(fallback);
    RETURN_NULL();
}

void store(INTERNAL_FUNCTION_PARAMETERS, bool only_if_absent) {
    zend_string* key = nullptr;
    zval* value = nullptr;
    zend_long ttl = 0;
    ZEND_PARSE_PARAMETERS_START(2, 3)
    Z_PARAM_STR(key)
    Z_PARAM_ZVAL(value)
    Z_PARAM_OPTIONAL
    Z_PARAM_LONG(ttl)
    ZEND_PARSE_PARAMETERS_END();
    shm::CacheTable* t = table();
    if (!t || !valid_key(key, 1) || !valid_ttl(ttl, 3, 0)) RETURN_THROWS();
    CacheType type{};
    std::string_view bytes;
    if (!encode(value, 2, type, scratch(), bytes)) RETURN_THROWS();
    RETURN_BOOL(t->set(CacheSpace::value, view(key), type, bytes, ttl * 1000, only_if_absent) ==
                CacheStatus::ok);
}

// askr_cache_set(string $key, mixed $value, int $ttl = 0): bool
PHP_FUNCTION(askr_cache_set) {
    store(INTERNAL_FUNCTION_PARAM_PASSTHRU, false);
}

// askr_cache_add(string $key, mixed $value, int $ttl = 0): bool — only if absent.
PHP_FUNCTION(askr_cache_add) {
    store(INTERNAL_FUNCTION_PARAM_PASSTHRU, true);
}

// askr_cache_delete(string $key): bool
PHP_FUNCTION(askr_cache_delete) {
    zend_string* key = nullptr;
    ZEND_PARSE_PARAMETERS_START(1, 1)
    Z_PARAM_STR(key)
    ZEND_PARSE_PARAMETERS_END();
    shm::CacheTable* t = table();
    if (!t || !valid_key(key, 1)) RETURN_THROWS();
    RETURN_BOOL(t->remove(CacheSpace::value, view(key)));
}

// askr_cache_increment(string $key, int $by = 1, int $ttl = 0): int
PHP_FUNCTION(askr_cache_increment) {
    zend_string* key = nullptr;
    zend_long by = 1;
    zend_long ttl = 0;
    ZEND_PARSE_PARAMETERS_START(1, 3)
    Z_PARAM_STR(key)
    Z_PARAM_OPTIONAL
    Z_PARAM_LONG(by)
    Z_PARAM_LONG(ttl)
    ZEND_PARSE_PARAMETERS_END();
    shm::CacheTable* t = table();
    if (!t || !valid_key(key, 1) || !valid_ttl(ttl, 3, 0)) RETURN_THROWS();
    std::int64_t result = 0;
    switch (t->increment(view(key), by, ttl * 1000, result)) {
        case CacheStatus::ok:
            RETURN_LONG(result);
        case CacheStatus::not_integer:
            zend_value_error(
                "askr_cache_increment(): the value of key \"%s\" is not an int; delete "
                "it or use another key for the counter",
                ZSTR_VAL(key));
            RETURN_THROWS();
        case CacheStatus::overflow:
            zend_throw_error(zend_ce_arithmetic_error,
                             "askr_cache_increment(): the counter \"%s\" would overflow an int",
                             ZSTR_VAL(key));
            RETURN_THROWS();
        default:
            zend_throw_error(nullptr,
                             "askr_cache_increment(): no room for the counter \"%s\" (the cache "
                             "is full and busy); try again or give [cache] more memory",
                             ZSTR_VAL(key));
            RETURN_THROWS();
    }
}

// askr_cache_flush(): bool
PHP_FUNCTION(askr_cache_flush) {
    ZEND_PARSE_PARAMETERS_NONE();
    shm::CacheTable* t = table();
    if (!t) RETURN_THROWS();
    t->flush();
    RETURN_TRUE;
}

// askr_cache_lock(string $name, int $ttl, string $owner): bool
PHP_FUNCTION(askr_cache_lock) {
    zend_string* name = nullptr;
    zend_long ttl = 0;
    zend_string* owner = nullptr;
    ZEND_PARSE_PARAMETERS_START(3, 3)
    Z_PARAM_STR(name)
    Z_PARAM_LONG(ttl)
    Z_PARAM_STR(owner)
    ZEND_PARSE_PARAMETERS_END();
    shm::CacheTable* t = table();
    if (!t || !valid_key(name, 1) || !valid_ttl(ttl, 2, 1) || !valid_key(owner, 3)) RETURN_THROWS();
    RETURN_BOOL(t->set(CacheSpace::lock, view(name), CacheType::string, view(owner), ttl * 1000,
                       true) == CacheStatus::ok);
}

// askr_cache_unlock(string $name, string $owner): bool — only the owner releases.
PHP_FUNCTION(askr_cache_unlock) {
    zend_string* name = nullptr;
    zend_string* owner = nullptr;
    ZEND_PARSE_PARAMETERS_START(2, 2)
    Z_PARAM_STR(name)
    Z_PARAM_STR(owner)
    ZEND_PARSE_PARAMETERS_END();
    shm::CacheTable* t = table();
    if (!t || !valid_key(name, 1) || !valid_key(owner, 2)) RETURN_THROWS();
    RETURN_BOOL(t->remove_if_equal(CacheSpace::lock, view(name), view(owner)));
}

// askr_cache_lock_owner(string $name): ?string — who holds the lock, null when nobody does.
PHP_FUNCTION(askr_cache_lock_owner) {
    zend_string* name = nullptr;
    ZEND_PARSE_PARAMETERS_START(1, 1)
    Z_PARAM_STR(name)
    ZEND_PARSE_PARAMETERS_END();
    shm::CacheTable* t = table();
    if (!t || !valid_key(name, 1)) RETURN_THROWS();
    CacheType type{};
    if (!t->get(CacheSpace::lock, view(name), type, scratch())) RETURN_NULL();
    RETURN_STRINGL(scratch().data(), scratch().size());
}

// Calls `compute` and stores what it returns under `key`; the value goes to `out`. False
// with an exception pending when the callable threw or returned what cannot be stored.
bool compute_and_store(shm::CacheTable& t, const zend_string* key, zend_long ttl,
                       zend_fcall_info& fci, zend_fcall_info_cache& fcc, zval* out) {
    ZVAL_UNDEF(out);
    fci.retval = out;
    fci.param_count = 0;
    if (zend_call_function(&fci, &fcc) != SUCCESS || EG(exception)) {
        zval_ptr_dtor(out);
        ZVAL_NULL(out);
        return false;
    }
    CacheType type{};
    std::string buffer;
    std::string_view bytes;
    if (!encode(out, 3, type, buffer, bytes)) return false;
    t.set(CacheSpace::value, view(key), type, bytes, ttl * 1000);
    return true;
}

bool holder_gone(const std::string& owner) {
    const auto colon = owner.rfind(':');
    if (colon == std::string::npos) return true;
    const long pid = std::strtol(owner.c_str() + colon + 1, nullptr, 10);
    return pid <= 0 || (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH);
}

// askr_cache_remember(string $key, int $ttl, callable $compute): mixed — single-flight:
// of the processes that miss `key` together, one computes (holding a per-key entry in
// the compute space) and the others wait for its value. A process that finds the key
// held by itself is a nested call for the same key: it computes without waiting.
PHP_FUNCTION(askr_cache_remember) {
    zend_string* key = nullptr;
    zend_long ttl = 0;
    zend_fcall_info fci;
    zend_fcall_info_cache fcc;
    ZEND_PARSE_PARAMETERS_START(3, 3)
    Z_PARAM_STR(key)
    Z_PARAM_LONG(ttl)
    Z_PARAM_FUNC(fci, fcc)
    ZEND_PARSE_PARAMETERS_END();
    shm::CacheTable* t = table();
    if (!t || !valid_key(key, 1) || !valid_ttl(ttl, 2, 0)) RETURN_THROWS();

    const std::string owner = "remember:" + std::to_string(::getpid());
    std::int64_t waited_ms = 0;
    long pause_ms = 1;
    for (;;) {
        if (read_value(*t, key, return_value)) return;
        const CacheStatus claimed = t->set(CacheSpace::compute, view(key), CacheType::string, owner,
                                           compute_lease_ms, true);
        if (claimed == CacheStatus::ok) {
            bool stored = false;
            // A fatal error in the callable unwinds with a longjmp: the others must not
            // wait out the lease for a value that will never come.
            zend_try {
                stored = compute_and_store(*t, key, ttl, fci, fcc, return_value);
            }
            zend_catch {
                t->remove_if_equal(CacheSpace::compute, view(key), owner);
                zend_bailout();
            }
            zend_end_try();
            t->remove_if_equal(CacheSpace::compute, view(key), owner);
            if (!stored) RETURN_THROWS();
            return;
        }
        CacheType type{};
        std::string holder;
        const bool held =
            claimed == CacheStatus::exists && t->get(CacheSpace::compute, view(key), type, holder);
        if (held && holder == owner) break;  // nested: this process is the one computing
        if (held && holder_gone(holder)) {
            t->remove_if_equal(CacheSpace::compute, view(key), holder);
            continue;
        }
        if (!held && claimed == CacheStatus::exists) continue;  // released meanwhile
        if (claimed != CacheStatus::exists || waited_ms >= compute_lease_ms) break;
        const timespec pause{0, pause_ms * 1'000'000};
        ::nanosleep(&pause, nullptr);
        waited_ms += pause_ms;
        pause_ms = std::min(pause_ms * 2, 20L);
    }
    // Nested, or the holder is taking longer than its lease: compute here.
    if (!compute_and_store(*t, key, ttl, fci, fcc, return_value)) RETURN_THROWS();
}

// askr_cache_info(): array
PHP_FUNCTION(askr_cache_info) {
    ZEND_PARSE_PARAMETERS_NONE();
    shm::CacheTable* t = table();
    if (!t) RETURN_THROWS();
    const shm::CacheInfo info = t->info();
    array_init(return_value);
    const std::pair<const char*, std::uint64_t> fields[] = {
        {"slots", info.slots},
        {"used", info.entries},
        {"memory", info.memory},
        {"memory_used", info.memory_used},
        {"max_value", info.max_value},
        {"hits", info.hits},
        {"misses", info.misses},
        {"sets", info.sets},
        {"evictions", info.evictions},
        {"expired", info.expired},
        {"lock_steals", info.lock_steals},
    };
    for (const auto& [name, number] : fields)
        add_assoc_long(return_value, name, static_cast<zend_long>(number));
}

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_get, 0, 1, IS_MIXED, 0)
ZEND_ARG_TYPE_INFO(0, key, IS_STRING, 0)
ZEND_ARG_TYPE_INFO_WITH_DEFAULT_VALUE(0, default, IS_MIXED, 0, "null")
ZEND_END_ARG_INFO()
ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_set, 0, 2, _IS_BOOL, 0)
ZEND_ARG_TYPE_INFO(0, key, IS_STRING, 0)
ZEND_ARG_TYPE_INFO(0, value, IS_MIXED, 0)
ZEND_ARG_TYPE_INFO_WITH_DEFAULT_VALUE(0, ttl, IS_LONG, 0, "0")
ZEND_END_ARG_INFO()
ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_delete, 0, 1, _IS_BOOL, 0)
ZEND_ARG_TYPE_INFO(0, key, IS_STRING, 0)
ZEND_END_ARG_INFO()
ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_increment, 0, 1, IS_LONG, 0)
ZEND_ARG_TYPE_INFO(0, key, IS_STRING, 0)
ZEND_ARG_TYPE_INFO_WITH_DEFAULT_VALUE(0, by, IS_LONG, 0, "1")
ZEND_ARG_TYPE_INFO_WITH_DEFAULT_VALUE(0, ttl, IS_LONG, 0, "0")
ZEND_END_ARG_INFO()
ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_flush, 0, 0, _IS_BOOL, 0)
ZEND_END_ARG_INFO()
ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_lock, 0, 3, _IS_BOOL, 0)
ZEND_ARG_TYPE_INFO(0, name, IS_STRING, 0)
ZEND_ARG_TYPE_INFO(0, ttl, IS_LONG, 0)
ZEND_ARG_TYPE_INFO(0, owner, IS_STRING, 0)
ZEND_END_ARG_INFO()
ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_unlock, 0, 2, _IS_BOOL, 0)
ZEND_ARG_TYPE_INFO(0, name, IS_STRING, 0)
ZEND_ARG_TYPE_INFO(0, owner, IS_STRING, 0)
ZEND_END_ARG_INFO()
ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_lock_owner, 0, 1, IS_STRING, 1)
ZEND_ARG_TYPE_INFO(0, name, IS_STRING, 0)
ZEND_END_ARG_INFO()
ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_remember, 0, 3, IS_MIXED, 0)
ZEND_ARG_TYPE_INFO(0, key, IS_STRING, 0)
ZEND_ARG_TYPE_INFO(0, ttl, IS_LONG, 0)
ZEND_ARG_TYPE_INFO(0, compute, IS_CALLABLE, 0)
ZEND_END_ARG_INFO()
ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_info, 0, 0, IS_ARRAY, 0)
ZEND_END_ARG_INFO()

}  // namespace

const zend_function_entry cache_functions[] = {
    ZEND_RAW_FENTRY("askr_cache_get", zif_askr_cache_get, arginfo_get, 0) ZEND_RAW_FENTRY(
        "askr_cache_set", zif_askr_cache_set, arginfo_set, 0)
        ZEND_RAW_FENTRY("askr_cache_add", zif_askr_cache_add, arginfo_set, 0) ZEND_RAW_FENTRY(
            "askr_cache_delete", zif_askr_cache_delete, arginfo_delete, 0)
            ZEND_RAW_FENTRY("askr_cache_increment", zif_askr_cache_increment, arginfo_increment, 0)
                ZEND_RAW_FENTRY("askr_cache_flush", zif_askr_cache_flush, arginfo_flush, 0)
                    ZEND_RAW_FENTRY("askr_cache_lock", zif_askr_cache_lock, arginfo_lock, 0)
                        ZEND_RAW_FENTRY("askr_cache_unlock", zif_askr_cache_unlock, arginfo_unlock,
                                        0) ZEND_RAW_FENTRY("askr_cache_remember",
                                                           zif_askr_cache_remember,
                                                           arginfo_remember, 0)
                            ZEND_RAW_FENTRY("askr_cache_info", zif_askr_cache_info, arginfo_info, 0)
                                ZEND_RAW_FENTRY("askr_cache_lock_owner", zif_askr_cache_lock_owner,
                                                arginfo_lock_owner, 0)
                                ZEND_FE_END};

}  // namespace askr::php::detail
