<?php
namespace Askr\Laravel;

use Illuminate\Cache\CacheManager;
use Illuminate\Support\ServiceProvider;

/**
 * What Askr adds to a Laravel app: the `askr` cache store (AskrStore, with AskrRepository's
 * single-flight remember()). worker.php,
 * queue.php and scheduler.php register it when the app does not list it; an app in
 * classic mode lists it in config/app.php's providers.
 */
final class AskrServiceProvider extends ServiceProvider
{
    public function register()
    {
        // The cache manager may be resolved already (a provider registered earlier used it,
        // or the worker script registers this one after boot): extend it now, else when it is.
        if ($this->app->resolved('cache')) {
            $this->extendCache($this->app['cache']);
        } else {
            $this->app->afterResolving('cache', fn (CacheManager $cache) => $this->extendCache($cache));
        }
    }

    private function extendCache(CacheManager $cache): void
    {
        $cache->extend('askr', function ($app, array $config) {  // the manager binds it to itself: not static
            $store = new AskrStore($config['prefix'] ?? $app['config']->get('cache.prefix', ''));
            $repository = new AskrRepository($store);
            if ($app->bound(\Illuminate\Contracts\Events\Dispatcher::class)) {
                $repository->setEventDispatcher($app[\Illuminate\Contracts\Events\Dispatcher::class]);
            }
            return $repository;
        });
    }
}
