<?php
// Worker script for a Laravel 11 or 12 app: copy it to the app's public/ folder and run
//   askr serve --root public --worker public/worker.php [--cow]
//
// The app boots once per worker (with --cow: once per generation, before the fork). After
// each request the state Laravel keeps in long-lived objects is reset, following the list
// Laravel Octane resets (its listeners on RequestReceived / RequestTerminated; Octane
// clones the application per request, this script resets the one instance instead).
// Untested here: Laravel itself is not packaged by Debian (see README.md).

use Illuminate\Contracts\Http\Kernel as HttpKernel;
use Illuminate\Http\Request;
use Illuminate\Support\Facades\Facade;

define('LARAVEL_START', microtime(true));
require __DIR__ . '/../vendor/autoload.php';

/** @var \Illuminate\Foundation\Application $app */
$app = require_once __DIR__ . '/../bootstrap/app.php';
$kernel = $app->make(HttpKernel::class);
$kernel->bootstrap();  // environment, configuration, facades, providers registered and booted

// Services every request uses, resolved once (Octane's "warm" list).
foreach (['auth', 'cache', 'cache.store', 'config', 'cookie', 'db', 'db.factory', 'encrypter', 'files', 'hash',
          'log', 'router', 'routes', 'session', 'session.store', 'translator', 'url', 'view'] as $service) {
    if ($app->bound($service)) {
        try {
            $app->make($service);
        } catch (Throwable) {
            // a service the app does not configure
        }
    }
}
$bootConfig = $app['config']->all();

// Connections opened while booting must not be shared by the forked workers (--cow).
$disconnect = static function () use ($app): void {
    if ($app->resolved('db')) {
        foreach (array_keys($app['db']->getConnections()) as $name) {
            $app['db']->purge($name);
        }
    }
    if ($app->resolved('redis')) {
        foreach (array_keys($app['redis']->connections() ?? []) as $name) {
            $app['redis']->purge($name);
        }
    }
};
$disconnect();
askr_cow_ready();  // no-op without --cow

// What a request may leave behind in long-lived objects (Octane's reset list).
$reset = static function () use ($app, $bootConfig): void {
    // Scoped singletons ($app->scoped()): per request by definition.
    $app->forgetScopedInstances();
    // Configuration changed at runtime (config([...]) in a request).
    $app['config']->set($bootConfig);
    // Facades cache what they resolved.
    Facade::clearResolvedInstances();
    // Authentication: guards remember the user they resolved.
    if ($app->resolved('auth')) {
        $app['auth']->forgetGuards();
    }
    // Session: the previous request's session store.
    if ($app->resolved('session')) {
        $driver = $app['session']->driver();
        $driver->flush();
        $driver->regenerate();
    }
    // Cookies queued with Cookie::queue() and not sent.
    if ($app->resolved('cookie')) {
        $app['cookie']->flushQueuedCookies();
    }
    // Locale set with App::setLocale() during the request.
    if ($app->resolved('translator')) {
        $app['translator']->setLocale($app['config']->get('app.locale'));
        $app['translator']->setFallback($app['config']->get('app.fallback_locale'));
        if (method_exists($app['translator'], 'flushParsedKeys')) {
            $app['translator']->flushParsedKeys();
        }
    }
    if (class_exists(\Carbon\Carbon::class)) {
        \Carbon\Carbon::setLocale($app['config']->get('app.locale'));
    }
    // Database: query log, "records modified" flag, transactions left open.
    if ($app->resolved('db')) {
        foreach ($app['db']->getConnections() as $connection) {
            while ($connection->transactionLevel() > 0) {
                $connection->rollBack();
            }
            $connection->flushQueryLog();
            $connection->forgetRecordModificationState();
        }
    }
    // Log context shared with Log::shareContext() / withContext().
    if ($app->resolved('log')) {
        $log = $app['log'];
        if (method_exists($log, 'flushSharedContext')) {
            $log->flushSharedContext();
        }
        if (method_exists($log->driver(), 'withoutContext')) {
            $log->driver()->withoutContext();
        }
    }
    // Context (Laravel 11+) and once() memoisation.
    if (class_exists(\Illuminate\Log\Context\Repository::class) && $app->resolved(\Illuminate\Log\Context\Repository::class)) {
        $app->make(\Illuminate\Log\Context\Repository::class)->flush();
    }
    if (class_exists(\Illuminate\Support\Once::class)) {
        \Illuminate\Support\Once::flush();
    }
    // The array cache store lives in memory.
    if ($app->resolved('cache') && $app['config']->get('cache.stores.array')) {
        $app['cache']->store('array')->flush();
    }
    // String helper caches (Str::snake(), Str::studly()...) grow with every new input.
    \Illuminate\Support\Str::flushCache();
    // Vite: assets preloaded by the previous page.
    if ($app->resolved(\Illuminate\Foundation\Vite::class) && method_exists(\Illuminate\Foundation\Vite::class, 'flush')) {
        $app->make(\Illuminate\Foundation\Vite::class)->flush();
    }
    // View: sections, stacks and the render count of a request that failed mid-render.
    if ($app->resolved('view')) {
        $app['view']->flushState();
    }
};

$handler = static function () use ($app, $kernel): void {
    $request = Request::capture();
    $response = $kernel->handle($request);
    $response->send();                      // sends and finishes the response (fastcgi_finish_request)
    $kernel->terminate($request, $response);  // terminable middleware, after the client has its answer
};

while (askr_handle_request($handler)) {
    $reset();
    gc_collect_cycles();
}

// The worker stops (shutdown, reload, --max-requests): close connections cleanly.
$disconnect();
