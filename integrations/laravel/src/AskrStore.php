<?php
namespace Askr\Laravel;

use Illuminate\Contracts\Cache\LockProvider;
use Illuminate\Contracts\Cache\Store;

/**
 * The `askr` cache store: Laravel's Cache on askr_cache_*() (the server's shared memory, or
 * Redis with [cache] redis), so Cache::remember() and Cache::lock() are shared by every
 * worker. config/cache.php: 'askr' => ['driver' => 'askr'] (an optional 'prefix').
 */
final class AskrStore implements Store, LockProvider
{
    private string $prefix;

    /** Keys are stored as "PREFIX:key" (as Laravel's Redis store does), or as they are. */
    public function __construct(string $prefix = '')
    {
        $this->prefix = $prefix === '' ? '' : $prefix . ':';
    }

    public function get($key)
    {
        return askr_cache_get($this->prefix . $key);
    }

    public function many(array $keys)
    {
        $values = [];
        foreach ($keys as $key) {
            $values[$key] = $this->get($key);
        }
        return $values;
    }

    public function put($key, $value, $seconds)
    {
        // The repository forgets instead of putting with a TTL of 0 or less.
        return askr_cache_set($this->prefix . $key, $value, max(1, (int) $seconds));
    }

    public function putMany(array $values, $seconds)
    {
        $ok = true;
        foreach ($values as $key => $value) {
            $ok = $this->put($key, $value, $seconds) && $ok;
        }
        return $ok;
    }

    public function add($key, $value, $seconds)
    {
        // Used by Repository::add(): atomic across workers.
        return askr_cache_add($this->prefix . $key, $value, max(1, (int) $seconds));
    }

    public function increment($key, $value = 1)
    {
        return askr_cache_increment($this->prefix . $key, (int) $value);
    }

    public function decrement($key, $value = 1)
    {
        return askr_cache_increment($this->prefix . $key, -(int) $value);
    }

    public function forever($key, $value)
    {
        return askr_cache_set($this->prefix . $key, $value, 0);
    }

    public function forget($key)
    {
        askr_cache_delete($this->prefix . $key);
        return true;
    }

    /** Empties Askr's whole cache (every prefix: the cache has one namespace). */
    public function flush()
    {
        return askr_cache_flush();
    }

    public function getPrefix()
    {
        return $this->prefix;
    }

    public function lock($name, $seconds = 0, $owner = null)
    {
        return new AskrLock($this->prefix . $name, $seconds, $owner);
    }

    public function restoreLock($name, $owner)
    {
        return $this->lock($name, 0, $owner);
    }
}
