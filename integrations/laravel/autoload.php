<?php
// Askr's Laravel integration without composer: Askr\Laravel\ (src/) and Askr's PHP classes
// (../php). worker.php, queue.php and scheduler.php load it; an app in classic mode
// requires it from its own autoloader and lists Askr\Laravel\AskrServiceProvider in
// config/app.php. With composer, the PSR-4 mapping "Askr\\Laravel\\": "integrations/laravel/src/".
require_once __DIR__ . '/../php/autoload.php';

spl_autoload_register(static function (string $class): void {
    if (str_starts_with($class, 'Askr\\Laravel\\')) {
        $file = __DIR__ . '/src/' . str_replace('\\', '/', substr($class, strlen('Askr\\Laravel\\'))) . '.php';
        if (is_file($file)) {
            require $file;
        }
    }
});
