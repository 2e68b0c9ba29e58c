<?php
// The app's autoloader, in place of composer's vendor/autoload.php: Debian's Laravel
// framework (php-laravel-framework, with its dependencies' autoloaders) and a PSR-4
// loader for the app's own namespaces.
require_once '/usr/share/php/Illuminate/autoload.php';
// Askr's integration (the `askr` cache store), from this repository's integrations/.
require_once __DIR__ . '/../../integrations/laravel/autoload.php';

spl_autoload_register(static function (string $class): void {
    static $prefixes = [
        'App\\' => __DIR__ . '/app/',
        'Database\\Seeders\\' => __DIR__ . '/database/seeders/',
    ];
    foreach ($prefixes as $prefix => $dir) {
        if (str_starts_with($class, $prefix)) {
            $file = $dir . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
            if (is_file($file)) {
                require $file;
            }
            return;
        }
    }
});
