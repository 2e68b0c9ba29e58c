<?php
// Creates the application, as laravel/laravel's bootstrap/app.php does, with one
// difference: everything the app writes (storage/, the package and service manifests,
// the SQLite database) lives under LARAVEL_STORAGE (default: storage/ beside this app),
// so the app itself can sit in a read-only directory. bin/setup creates it.

$storage = getenv('LARAVEL_STORAGE') ?: dirname(__DIR__) . '/storage';
// Laravel reads these from the environment to place its cache files (by default under
// bootstrap/cache/, which would have to be writable).
foreach ([
    'APP_SERVICES_CACHE' => 'services.php',
    'APP_PACKAGES_CACHE' => 'packages.php',
    'APP_CONFIG_CACHE' => 'config.php',
    'APP_ROUTES_CACHE' => 'routes-v7.php',
    'APP_EVENTS_CACHE' => 'events.php',
] as $variable => $file) {
    if (getenv($variable) === false) {
        putenv("$variable=$storage/bootstrap/$file");
    }
}

$app = new Illuminate\Foundation\Application(dirname(__DIR__));
$app->useStoragePath($storage);

$app->singleton(Illuminate\Contracts\Http\Kernel::class, App\Http\Kernel::class);
$app->singleton(Illuminate\Contracts\Console\Kernel::class, App\Console\Kernel::class);
$app->singleton(Illuminate\Contracts\Debug\ExceptionHandler::class, App\Exceptions\Handler::class);

return $app;
