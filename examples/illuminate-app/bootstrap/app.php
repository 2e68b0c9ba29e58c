<?php
// Boots the app: Debian's Illuminate components (php-illuminate-*), the container, the
// event dispatcher, the router with its routes and the view factory with plain-PHP
// templates. Returns the App\Kernel. Runs once per request in classic mode
// (public/index.php) and once per worker in worker mode (public/worker.php).
declare(strict_types=1);

require_once 'Illuminate/Container/autoload.php';   // from /usr/share/php (include_path)
require_once 'Illuminate/Events/autoload.php';
require_once 'Illuminate/Routing/autoload.php';
require_once 'Illuminate/Http/autoload.php';
require_once 'Illuminate/View/autoload.php';
require_once 'Illuminate/Filesystem/autoload.php';

spl_autoload_register(function (string $class): void {
    if (str_starts_with($class, 'App\\')) {
        require __DIR__ . '/../src/' . str_replace('\\', '/', substr($class, 4)) . '.php';
    }
});

use Illuminate\Filesystem\Filesystem;
use Illuminate\Http\Request;
use Illuminate\Routing\Router;
use Illuminate\View\Engines\EngineResolver;
use Illuminate\View\Engines\PhpEngine;
use Illuminate\View\FileViewFinder;

$app = new App\Application();
App\Application::setInstance($app);
$app->instance('app', $app);
$app->alias('request', Request::class);

$events = new App\Events($app);
$app->instance('events', $events);

$files = new Filesystem();
$engines = new EngineResolver();
$engines->register('php', fn () => new PhpEngine($files));
$views = new App\Views($engines, new FileViewFinder($files, [__DIR__ . '/../views']), $events);
$views->setContainer($app);
$views->share('appName', 'Illuminate on Askr');
$app->instance('view', $views);

$app->singleton(App\Catalog::class);

$router = new Router($events, $app);
$app->instance('router', $router);
require __DIR__ . '/../routes/web.php';
$router->getRoutes()->refreshNameLookups();

// A listener registered at boot: it stays for every request.
$events->listen('page.rendered', function (string $page) use ($app): void {
    $app->instance('page.last', $page);
});

$app->markBooted();
$events->markBooted();
$views->markBooted();

return new App\Kernel($app, $router, $events, $views);
