<?php
// Worker script for a Laravel 8 to 12 app, which runs unmodified:
//   APP_BASE_PATH=/path/to/app askr serve --root /path/to/app/public \
//       --worker integrations/laravel/worker.php [--cow]
// (or copy this file to the app's public/ folder; APP_BASE_PATH is then not needed).
//
// The app boots once per worker (with --cow: once per generation, before the fork). After
// each request the state Laravel keeps in long-lived objects is reset, following the list
// Laravel Octane resets (its listeners on RequestReceived / RequestTerminated; Octane
// clones the application per request, this script resets the one instance instead).

use Illuminate\Contracts\Http\Kernel as HttpKernel;
use Illuminate\Http\Request;
use Illuminate\Support\Facades\Facade;

define('LARAVEL_START', microtime(true));

$base = getenv('APP_BASE_PATH') ?: null;
if ($base === null && is_file(__DIR__ . '/../bootstrap/app.php')) {
    $base = dirname(__DIR__);
}
if ($base === null || !is_file($base . '/bootstrap/app.php')) {
    fwrite(STDERR, "askr laravel worker: no Laravel app found; set APP_BASE_PATH to the app's folder "
        . "(the one holding bootstrap/app.php) or copy worker.php to the app's public/ folder\n");
    exit(1);
}
// composer's autoloader, or the one of an app without composer (Debian's packaged framework).
require is_file($base . '/vendor/autoload.php') ? $base . '/vendor/autoload.php' : $base . '/autoload.php';

// Askr's integration (the `askr` cache store): next to this script, or the app's composer.
if (is_file(__DIR__ . '/autoload.php')) {
    require_once __DIR__ . '/autoload.php';
}

/** @var \Illuminate\Foundation\Application $app */
$app = require_once $base . '/bootstrap/app.php';
$kernel = $app->make(HttpKernel::class);
$kernel->bootstrap();  // environment, configuration, facades, providers registered and booted
if (class_exists(Askr\Laravel\AskrServiceProvider::class) && !$app->getProvider(Askr\Laravel\AskrServiceProvider::class)) {
    $app->register(Askr\Laravel\AskrServiceProvider::class);  // the app does not list it itself
}

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
// Callbacks registered with $app->rebinding()/refresh() during a request (each session
// guard a request creates registers one for 'request'): without trimming them back to the
// booted list they pile up, keeping every forgotten guard alive. Octane drops them with
// the per-request clone of the application.
$reboundCallbacks = Closure::bind(
    static fn (?array $restore = null) => $restore === null ? $app->reboundCallbacks : ($app->reboundCallbacks = $restore),
    null,
    Illuminate\Container\Container::class
);
$bootReboundCallbacks = $reboundCallbacks();

// Connections opened while booting must not be shared by the forked workers (--cow).
$disconnect = static function () use ($app): void {
    if ($app->resolved('db')) {
        foreach (array_keys($app['db']->getConnections()) as $name) {
            $app['db']->purge($name);
        }
    }
    if ($app->resolved('redis')) {
        foreach (array_keys(method_exists($app['redis'], 'connections') ? ($app['redis']->connections() ?? []) : []) as $name) {
            $app['redis']->purge($name);
        }
    }
};
$disconnect();
askr_cow_ready();  // no-op without --cow

// What a request may leave behind in long-lived objects (Octane's reset list).
$reset = static function () use ($app, $bootConfig, $reboundCallbacks, $bootReboundCallbacks): void {
    $reboundCallbacks($bootReboundCallbacks);
    // Scoped singletons ($app->scoped(), Laravel 8.41+): per request by definition.
    if (method_exists($app, 'forgetScopedInstances')) {
        $app->forgetScopedInstances();
    }
    // Configuration changed at runtime (config([...]) in a request).
    $app['config']->set($bootConfig);
    // Facades cache what they resolved.
    Facade::clearResolvedInstances();
    // Authentication: guards remember the user they resolved.
    if ($app->resolved('auth.driver')) {
        $app->forgetInstance('auth.driver');
    }
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
            if (method_exists($connection, 'forgetRecordModificationState')) {
                $connection->forgetRecordModificationState();
            }
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
