<?php
// The app's routes. $router, $app, $events and $views come from bootstrap/app.php.
use Illuminate\Http\Request;

$router->get('/', function () use ($views) {
    return $views->make('layout', ['title' => 'Home', 'body' => $views->make('home')]);
})->name('home');

// The "framework page": a route parameter, a service from the container, a middleware-like
// header, a view inside a layout.
$router->get('/hello/{name?}', function (Request $request, App\Catalog $catalog, string $name = 'world') use ($views, $events) {
    $events->dispatch('page.rendered', ['hello']);
    $body = $views->make('hello', [
        'name' => $name,
        'items' => $catalog->items(),
        'greeting' => $request->query('greeting', 'Hello'),
    ]);
    return response_page($views->make('layout', ['title' => "Hello $name", 'body' => $body]));
})->where('name', '[A-Za-z0-9_-]+')->name('hello');

// Probes: each leaves something in the framework on purpose, /probe/state reports what a
// request can see. In worker mode none of it may survive into the next request.
$router->get('/probe/bind/{value}', function (string $value) use ($app) {
    $app->instance('probe.instance', $value);                       // a request-scoped instance
    $app->bind('probe.binding', fn () => "bound:$value");           // a binding
    $app->scoped('probe.scoped', fn () => new ArrayObject([$value])); // a scoped singleton
    $app->make('probe.scoped');
    return ['bound' => $value];
});
$router->get('/probe/share/{value}', function (string $value) use ($views) {
    $views->share('flash', $value);                                 // a view shared variable
    return ['shared' => $value];
});
$router->get('/probe/listen/{value}', function (string $value) use ($events) {
    $events->listen('page.rendered', function () use ($value) {     // a per-request listener
        header("X-Leaked-Listener: $value");
    });
    return ['listening' => $value];
});
$router->get('/probe/state', function (Request $request) use ($app, $views, $events) {
    $route = $request->route();
    return [
        'route' => $route->getName(),
        'route_parameters' => $route->parameters(),
        'request_is_current' => $app->make('request') === $request,
        'query' => $request->query(),
        'instance' => $app->bound('probe.instance') ? $app->make('probe.instance') : null,
        'binding' => $app->bound('probe.binding') ? $app->make('probe.binding') : null,
        'scoped' => $app->bound('probe.scoped') ? $app->make('probe.scoped')->getArrayCopy() : null,
        'page_last' => $app->bound('page.last') ? $app->make('page.last') : null,
        'shared' => array_keys(array_diff_key($views->getShared(), ['__env' => 1, 'app' => 1])),
        'flash' => $views->make('flash')->render(),
        'listeners' => count($events->getListeners('page.rendered')),
        'worker' => $_SERVER['ASKR_WORKER'] ?? null,
        'pid' => getmypid(),
    ];
})->name('probe.state');
$router->get('/probe/other/{id}', function (string $id) use ($app) {
    return ['id' => $id, 'instance' => $app->bound('probe.instance') ? $app->make('probe.instance') : null];
});

function response_page($view): Illuminate\Http\Response
{
    return new Illuminate\Http\Response($view->render(), 200, ['Content-Type' => 'text/html; charset=UTF-8']);
}
