<?php
// Scheduler sidecar for a Laravel 8 to 12 app: `schedule:run`, which Askr's built-in cron
// starts once a minute at second 0 in a fresh sidecar (never two at once).
//   askr serve --root /srv/app/public \
//       --scheduler-script integrations/laravel/scheduler.php --php-env APP_BASE_PATH=/srv/app
// Several servers: with CACHE_DRIVER=askr and [cache] redis shared by them, onOneServer()
// tasks run on one server per minute (the `askr` store's locks decide).

use Illuminate\Contracts\Console\Kernel as ConsoleKernel;

$app = require __DIR__ . '/boot.php';
$status = $app->make(ConsoleKernel::class)->call('schedule:run');
echo rtrim($app->make(ConsoleKernel::class)->output());
exit($status);
