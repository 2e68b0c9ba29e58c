<?php
namespace Askr\Laravel;

use Illuminate\Cache\Lock;

/**
 * Cache::lock() on askr_cache_lock(): exclusive across every worker (and every server
 * sharing [cache] redis). An Askr lock always expires, so that a crashed holder never
 * wedges it: a lock asked for without seconds (Laravel's "until released") lasts a day.
 */
final class AskrLock extends Lock
{
    private const UNTIL_RELEASED_SECONDS = 86400;

    public function acquire()
    {
        $seconds = $this->seconds > 0 ? (int) $this->seconds : self::UNTIL_RELEASED_SECONDS;
        return askr_cache_lock($this->name, $seconds, $this->owner);
    }

    public function release()
    {
        return askr_cache_unlock($this->name, $this->owner);
    }

    public function forceRelease()
    {
        $owner = askr_cache_lock_owner($this->name);
        if ($owner !== null) {
            askr_cache_unlock($this->name, $owner);
        }
    }

    protected function getCurrentOwner()
    {
        return askr_cache_lock_owner($this->name) ?? '';
    }
}
