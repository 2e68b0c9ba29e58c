<?php
// Boots a Laravel app for a sidecar (queue.php, scheduler.php): the console kernel, as
// `php artisan` does, with Askr's service provider registered when the app does not list
// it. Returns the application. APP_BASE_PATH names the app (the folder holding
// bootstrap/app.php), as for worker.php.

use Illuminate\Contracts\Console\Kernel as ConsoleKernel;

$base = getenv('APP_BASE_PATH') ?: null;
if ($base === null || !is_file($base . '/bootstrap/app.php')) {
    fwrite(STDERR, "askr laravel sidecar: no Laravel app found; set APP_BASE_PATH to the app's folder "
        . "(the one holding bootstrap/app.php), e.g. --php-env APP_BASE_PATH=/srv/app\n");
    exit(1);
}
require is_file($base . '/vendor/autoload.php') ? $base . '/vendor/autoload.php' : $base . '/autoload.php';
require_once __DIR__ . '/autoload.php';

/** @var \Illuminate\Foundation\Application $app */
$app = require $base . '/bootstrap/app.php';
$app->make(ConsoleKernel::class)->bootstrap();
if (!$app->getProvider(Askr\Laravel\AskrServiceProvider::class)) {
    $app->register(Askr\Laravel\AskrServiceProvider::class);
}
return $app;
