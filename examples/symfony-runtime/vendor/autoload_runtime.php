<?php
// What Composer's symfony/runtime plugin generates as vendor/autoload_runtime.php (here
// written by hand: Debian does not run Composer), with "extra.runtime.class" set to
// Askr\SymfonyRuntime\Runtime.
if (true === (require_once __DIR__ . '/autoload.php') || empty($_SERVER['SCRIPT_FILENAME'])) {
    return;
}

$app = require $_SERVER['SCRIPT_FILENAME'];
if (!is_object($app)) {
    throw new TypeError(sprintf('Invalid return value: callable object expected, "%s" returned from "%s".',
        get_debug_type($app), $_SERVER['SCRIPT_FILENAME']));
}
$runtime = $_SERVER['APP_RUNTIME'] ?? $_ENV['APP_RUNTIME'] ?? Askr\SymfonyRuntime\Runtime::class;
// No .env file here (and no symfony/dotenv package): APP_ENV and APP_DEBUG come from the
// process environment (Askr's $_SERVER holds the request's CGI variables, like php-fpm's).
$runtime = new $runtime(($_SERVER['APP_RUNTIME_OPTIONS'] ?? $_ENV['APP_RUNTIME_OPTIONS'] ?? []) + [
    'project_dir' => dirname(__DIR__, 1),
    'disable_dotenv' => true,
    'env' => getenv('APP_ENV') ?: 'prod',
    'debug' => filter_var(getenv('APP_DEBUG') ?: '0', FILTER_VALIDATE_BOOLEAN),
]);
[$app, $args] = $runtime->getResolver($app)->resolve();
$app = $app(...$args);
exit($runtime->getRunner($app)->run());
