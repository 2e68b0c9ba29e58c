<?php
// Askr's PHP classes without composer: Askr\Cache\SimpleCache (PSR-16 on askr_cache_*()).
// With composer, the same PSR-4 mapping: "Askr\\": "integrations/php/src/".
if (is_file('/usr/share/php/Psr/SimpleCache/autoload.php')) {
    require_once '/usr/share/php/Psr/SimpleCache/autoload.php';  // Debian's php-psr-simple-cache
}

spl_autoload_register(static function (string $class): void {
    if (str_starts_with($class, 'Askr\\Cache\\')) {
        $file = __DIR__ . '/src/Cache/' . str_replace('\\', '/', substr($class, strlen('Askr\\Cache\\'))) . '.php';
        if (is_file($file)) {
            require $file;
        }
    }
});
