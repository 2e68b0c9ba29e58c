<?php
namespace Askr\Cache;

use DateInterval;
use DateTimeImmutable;
use Psr\SimpleCache\CacheInterface;

/**
 * PSR-16 on Askr's cache (askr_cache_*(): the server's shared memory, or Redis with
 * [cache] redis). Keys are prefixed with the constructor's $prefix; clear() removes every
 * key of Askr's cache, not only this prefix's (as the cache has one namespace).
 */
final class SimpleCache implements CacheInterface
{
    // PSR-16 reserves these characters in keys.
    private const RESERVED = '{}()/\\@:';

    public function __construct(private string $prefix = '')
    {
    }

    public function get($key, $default = null)
    {
        return askr_cache_get($this->key($key), $default);
    }

    public function set($key, $value, $ttl = null)
    {
        $seconds = $this->seconds($ttl);
        if ($seconds !== null && $seconds <= 0) {
            askr_cache_delete($this->key($key));  // PSR-16: a TTL in the past deletes
            return true;
        }
        return askr_cache_set($this->key($key), $value, $seconds ?? 0);
    }

    public function delete($key)
    {
        askr_cache_delete($this->key($key));
        return true;  // PSR-16: true also when the key was absent
    }

    public function clear()
    {
        return askr_cache_flush();
    }

    public function getMultiple($keys, $default = null)
    {
        $values = [];
        foreach ($this->iterable($keys) as $key) {
            $values[$key] = $this->get($key, $default);
        }
        return $values;
    }

    public function setMultiple($values, $ttl = null)
    {
        $ok = true;
        foreach ($this->iterable($values) as $key => $value) {
            $ok = $this->set(is_int($key) ? (string) $key : $key, $value, $ttl) && $ok;
        }
        return $ok;
    }

    public function deleteMultiple($keys)
    {
        foreach ($this->iterable($keys) as $key) {
            $this->delete($key);
        }
        return true;
    }

    public function has($key)
    {
        // A sentinel no caller can store tells a stored null from a missing key.
        static $missing = null;
        $missing ??= new \stdClass();
        return askr_cache_get($this->key($key), $missing) !== $missing;
    }

    private function key($key): string
    {
        if (!is_string($key) || $key === '' || strpbrk($key, self::RESERVED) !== false) {
            throw new InvalidArgument('a cache key must be a non-empty string without any of '
                . self::RESERVED . ', got ' . (is_string($key) ? '"' . $key . '"' : get_debug_type($key)));
        }
        return $this->prefix . $key;
    }

    private function seconds($ttl): ?int
    {
        if ($ttl === null) {
            return null;
        }
        if (is_int($ttl)) {
            return $ttl;
        }
        if ($ttl instanceof DateInterval) {
            $now = new DateTimeImmutable();
            return $now->add($ttl)->getTimestamp() - $now->getTimestamp();
        }
        throw new InvalidArgument('a TTL must be null, an int or a DateInterval, got ' . get_debug_type($ttl));
    }

    private function iterable($values): iterable
    {
        if (!is_iterable($values)) {
            throw new InvalidArgument('expected an array or a Traversable, got ' . get_debug_type($values));
        }
        return $values;
    }
}
