// --paranoid: a state-bleed detector for development. Between requests of a
// worker script it measures what the app keeps across requests (static properties of
// user classes, $GLOBALS, and what the app hands to askr_paranoid_watch()) and warns
// about what keeps growing or changing once the app has warmed up.
//
// The measuring is PHP code (below), compiled into the worker script's context the first
// time it is needed and called through zend_call_function(): Reflection does the class
// walk. It is size-based and cheap: count() of arrays (recursive), strlen() of strings,
// the value of scalars; objects are looked into one level (their array properties). It
// runs only every kWindow requests, after a warm-up of kWindow requests, and only with
// --paranoid: the normal path does not pay for it.
#include <spdlog/spdlog.h>

#include "php/sapi_internal.hpp"

extern "C" {
#include "php.h"
#include "zend_exceptions.h"
}

namespace askr::php::detail {

bool paranoid = false;

namespace {

constexpr zend_long kWindow = 10;  // warm-up length, and requests between two snapshots

// A report needs growth (or change) in two windows in a row: a cache filled during the
// first requests after warm-up is not a leak.
constexpr const char* kDetector = R"PHP(
namespace Askr\Paranoid;

function &state(): array {
    static $state = ['watch' => [], 'previous' => null, 'streak' => [], 'first' => [], 'reported' => []];
    return $state;
}

function watch(callable $source): void {
    $state = &state();
    $state['watch'][] = $source;
}

function preview($value): string {
    $text = is_string($value) ? '"' . $value . '"' : var_export($value, true);
    return strlen($text) > 40 ? substr($text, 0, 37) . '...' : $text;
}

// [size, unit, value to compare or null]: only the size of arrays and objects counts.
function measure($value): array {
    if (is_array($value)) return [@count($value, COUNT_RECURSIVE), 'elements', null];  // @: recursive arrays
    if (is_string($value)) return [strlen($value), 'bytes', strlen($value) <= 65536 ? $value : md5($value)];
    if (is_object($value)) return [$value instanceof \Closure ? 0 : count((array)$value), 'properties', null];
    if (is_resource($value)) return [0, '', (int)$value];
    return [0, '', $value];
}

function add(array &$snapshot, string $label, $value): void {
    $snapshot[$label] = measure($value);
    if (!is_object($value) || $value instanceof \Closure) return;
    foreach ((array)$value as $name => $property) {  // one level into objects: their arrays
        if (!is_array($property)) continue;
        $name = ($at = strrpos((string)$name, "\0")) === false ? $name : substr($name, $at + 1);
        $snapshot["$label->$name"] = measure($property);
    }
}

function snapshot(): array {
    $snapshot = [];
    static $skip = ['GLOBALS' => 1, '_GET' => 1, '_POST' => 1, '_COOKIE' => 1, '_FILES' => 1, '_SERVER' => 1,
                    '_REQUEST' => 1, '_ENV' => 1, '_SESSION' => 1, 'argv' => 1, 'argc' => 1];
    $count = 0;
    foreach ($GLOBALS as $name => $value) {
        if (isset($skip[$name])) continue;
        add($snapshot, "global \$$name", $value);
        ++$count;
    }
    $snapshot['the number of global variables'] = [$count, 'variables', null];  // new ones each request
    $classes = get_declared_classes();
    $snapshot['the number of declared classes'] = [count($classes), 'classes', null];  // eval'd classes
    foreach ($classes as $class) {
        $reflection = new \ReflectionClass($class);
        if (!$reflection->isUserDefined()) continue;
        foreach ($reflection->getProperties(\ReflectionProperty::IS_STATIC) as $property) {
            if ($property->class !== $class || !$property->isInitialized()) continue;
            add($snapshot, "static property $class::\${$property->name}", $property->getValue());
        }
    }
    foreach (state()['watch'] as $source) {
        foreach ((array)$source() as $name => $value) add($snapshot, "watched '$name'", $value);
    }
    return $snapshot;
}

function check(int $window): array {
    try {
        return compare($window);
    } catch (\Throwable $e) {
        return ['the detector failed: ' . get_class($e) . ': ' . $e->getMessage()];
    }
}

function compare(int $window): array {
    $state = &state();
    $now = snapshot();
    $previous = $state['previous'];
    $state['previous'] = $now;
    if ($previous === null) return [];
    $warnings = [];
    foreach ($now as $label => [$size, $unit, $value]) {
        if (!isset($previous[$label])) continue;  // appeared since the last window
        [$before, , $old] = $previous[$label];
        $kind = $size > $before ? 'grows' : ($value !== $old ? 'changes' : null);
        if ($kind === null || ($state['streak'][$label][0] ?? null) !== $kind) {
            $state['streak'][$label] = [$kind, 0, $before, $old];
        }
        if ($kind === null || ++$state['streak'][$label][1] < 2 || isset($state['reported'][$label])) continue;
        $state['reported'][$label] = true;
        [, $windows, $from, $was] = $state['streak'][$label];
        $warnings[] = $kind === 'grows'
            ? sprintf('%s keeps growing: %d -> %d %s over the last %d requests', $label, $from, $size, $unit, $windows * $window)
            : sprintf('%s changes from request to request (%s -> %s)', $label, preview($was), preview($value));
    }
    return $warnings;
}
)PHP";

bool ensure_detector() {
    if (zend_hash_str_exists(EG(function_table), ZEND_STRL("askr\\paranoid\\check"))) return true;
    std::string code = kDetector;
    return zend_eval_stringl(code.data(), code.size(), nullptr, "askr paranoid detector") ==
               SUCCESS &&
           !EG(exception);
}

// Calls Askr\Paranoid\NAME(args...) and returns its result (UNDEF on failure).
zval call(const char* name, zval* args, std::uint32_t count) {
    zval function, result;
    ZVAL_STRING(&function, name);
    ZVAL_UNDEF(&result);
    call_user_function(nullptr, nullptr, &function, &result, count, args);
    zval_ptr_dtor(&function);
    return result;
}

// The detector catches what the app's code throws (a watched callable); anything left
// (the detector's own compilation) must not reach the worker script.
void clear_exception() {
    if (!EG(exception)) return;
    spdlog::warn("paranoid: the detector failed with an exception");
    zend_clear_exception();
}

}  // namespace

void paranoid_after_request(std::uint64_t handled) {
    if (!paranoid || handled < static_cast<std::uint64_t>(kWindow) || handled % kWindow != 0)
        return;
    zend_try {
        if (ensure_detector()) {
            zval window;
            ZVAL_LONG(&window, kWindow);
            zval warnings = call("Askr\\Paranoid\\check", &window, 1);
            if (Z_TYPE(warnings) == IS_ARRAY) {
                zval* line;
                ZEND_HASH_FOREACH_VAL(Z_ARRVAL(warnings), line) {
                    if (Z_TYPE_P(line) == IS_STRING)
                        spdlog::warn("paranoid: worker {}: {}", ::getpid(), Z_STRVAL_P(line));
                }
                ZEND_HASH_FOREACH_END();
            }
            zval_ptr_dtor(&warnings);
        }
        clear_exception();
    }
    zend_end_try();
}

// askr_paranoid_watch(callable $source): bool. $source returns [name => value]: measured
// with the app's other state after each request. A no-op (false) without --paranoid.
void paranoid_watch_function(INTERNAL_FUNCTION_PARAMETERS) {
    zval* source;
    ZEND_PARSE_PARAMETERS_START(1, 1)
    Z_PARAM_ZVAL(source)
    ZEND_PARSE_PARAMETERS_END();
    if (!zend_is_callable(source, 0, nullptr)) {
        zend_argument_type_error(1, "must be a valid callback");
        RETURN_THROWS();
    }
    if (!paranoid) RETURN_FALSE;
    if (!ensure_detector()) RETURN_FALSE;
    zval result = call("Askr\\Paranoid\\watch", source, 1);
    zval_ptr_dtor(&result);
    RETURN_BOOL(!EG(exception));
}

}  // namespace askr::php::detail
