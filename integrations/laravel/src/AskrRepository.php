<?php
namespace Askr\Laravel;

use Closure;
use Illuminate\Cache\Repository;

/**
 * The repository of the `askr` store: Cache::remember() is single-flight across every
 * worker (askr_cache_remember(): when many requests miss the same key at once, one
 * computes and the others wait for its value), where Laravel's own remember() lets each
 * of them compute. The cache events (CacheHit, CacheMissed, KeyWritten) are not fired
 * for remember(); every other method is Laravel's.
 */
final class AskrRepository extends Repository
{
    public function remember($key, $ttl, Closure $callback)
    {
        $seconds = $this->getSeconds($ttl);
        if ($seconds <= 0) {
            return $callback();  // as Laravel does: a TTL of 0 or in the past stores nothing
        }
        return askr_cache_remember($this->store->getPrefix() . $this->itemKey($key), $seconds, $callback);
    }

    public function rememberForever($key, Closure $callback)
    {
        return askr_cache_remember($this->store->getPrefix() . $this->itemKey($key), 0, $callback);
    }
}
