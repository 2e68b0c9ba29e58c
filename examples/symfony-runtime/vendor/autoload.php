<?php
// Stands in for Composer's vendor/autoload.php: Debian's php-symfony-* autoloaders from
// /usr/share/php, and this example's classes.
require_once 'Symfony/Component/HttpKernel/autoload.php';
require_once 'Symfony/Component/Routing/autoload.php';
require_once 'Symfony/Component/Runtime/autoload.php';
require_once 'Symfony/Component/EventDispatcher/autoload.php';
spl_autoload_register(static function (string $class): void {
    foreach (['Askr\\SymfonyRuntime\\' => 'Runtime/', 'App\\' => 'App/'] as $prefix => $dir) {
        if (str_starts_with($class, $prefix)) {
            require dirname(__DIR__) . '/src/' . $dir . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
        }
    }
});
