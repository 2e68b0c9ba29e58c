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

// What the framework version offers, looked up once: a class_exists() that fails runs every
// registered autoloader (Debian's framework registers one per package, each testing files),
// which per request cost more than the rest of the reset.
$has = [
    'scoped' => method_exists($app, 'forgetScopedInstances'),           // Laravel 8.41+
    'flushParsedKeys' => method_exists(\Illuminate\Translation\Translator::class, 'flushParsedKeys'),
    'carbon' => class_exists(\Carbon\Carbon::class),
    'logSharedContext' => method_exists(\Illuminate\Log\LogManager::class, 'flushSharedContext'),
    'logWithoutContext' => method_exists(\Illuminate\Log\Logger::class, 'withoutContext'),
    'context' => class_exists(\Illuminate\Log\Context\Repository::class),  // Laravel 11+
    'once' => class_exists(\Illuminate\Support\Once::class),                // Laravel 11+
    'vite' => class_exists(\Illuminate\Foundation\Vite::class)             // Laravel 9+
        && method_exists(\Illuminate\Foundation\Vite::class, 'flush'),
    'recordModification' => method_exists(\Illuminate\Database\Connection::class, 'forgetRecordModificationState'),
];
$config = $app['config'];
$arrayCache = (bool) $config->get('cache.stores.array');

// What a request may leave behind in long-lived objects (Octane's reset list).
$reset = static function () use ($app, $config, $has, $arrayCache, $bootConfig, $reboundCallbacks, $bootReboundCallbacks): void {
    $reboundCallbacks($bootReboundCallbacks);
    // Scoped singletons ($app->scoped()): per request by definition.
    if ($has['scoped']) {
        $app->forgetScopedInstances();
    }
    // Configuration changed at runtime (config([...]) in a request).
    $config->set($bootConfig);
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
        $translator = $app['translator'];
        $translator->setLocale($config->get('app.locale'));
        $translator->setFallback($config->get('app.fallback_locale'));
        if ($has['flushParsedKeys']) {
            $translator->flushParsedKeys();
        }
    }
    if ($has['carbon']) {
        \Carbon\Carbon::setLocale($config->get('app.locale'));
    }
    // Database: query log, "records modified" flag, transactions left open.
    if ($app->resolved('db')) {
        foreach ($app['db']->getConnections() as $connection) {
            while ($connection->transactionLevel() > 0) {
                $connection->rollBack();
            }
            $connection->flushQueryLog();
            if ($has['recordModification']) {
                $connection->forgetRecordModificationState();
            }
        }
    }
    // Log context shared with Log::shareContext() / withContext().
    if ($app->resolved('log')) {
        $log = $app['log'];
        if ($has['logSharedContext']) {
            $log->flushSharedContext();
        }
        if ($has['logWithoutContext']) {
            $logger = $log->driver();
            if ($logger instanceof \Illuminate\Log\Logger) {
                $logger->withoutContext();
            }
        }
    }
    // Context (Laravel 11+) and once() memoisation.
    if ($has['context'] && $app->resolved(\Illuminate\Log\Context\Repository::class)) {
        $app->make(\Illuminate\Log\Context\Repository::class)->flush();
    }
    if ($has['once']) {
        \Illuminate\Support\Once::flush();
    }
    // The array cache store lives in memory.
    if ($arrayCache && $app->resolved('cache')) {
        $app['cache']->store('array')->flush();
    }
    // String helper caches (Str::snake(), Str::studly()...) grow with every new input.
    \Illuminate\Support\Str::flushCache();
    // Vite: assets preloaded by the previous page.
    if ($has['vite'] && $app->resolved(\Illuminate\Foundation\Vite::class)) {
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

// Garbage cycles: PHP's collector runs by itself once enough possible roots pile up; a
// collection is also forced when the heap has grown this much since the last one (as Octane
// does). A collection after every request cost about a tenth of a Blade page's time.
$gcGrowth = 8 << 20;
$gcAt = memory_get_usage() + $gcGrowth;
while (askr_handle_request($handler)) {
    $reset();
    if (memory_get_usage() > $gcAt) {
        gc_collect_cycles();
        $gcAt = memory_get_usage() + $gcGrowth;
    }
}

// The worker stops (shutdown, reload, --max-requests): close connections cleanly.
$disconnect();
