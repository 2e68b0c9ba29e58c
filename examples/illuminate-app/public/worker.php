<?php
// Worker mode: the app boots once per worker, then serves requests until the server says
// stop (askr serve --root public --worker public/worker.php). With --cow the boot runs
// once per generation in the zygote, and askr_cow_ready() forks the workers from there.
$kernel = require __DIR__ . '/../bootstrap/app.php';
// Warm-up: one request through the router, the views and the response classes loads and
// compiles what every first request would (about 20 ms here). With --cow it happens
// once, in the template, instead of in every forked worker.
$kernel->handle(Illuminate\Http\Request::create('/hello/warm-up'));
$kernel->reset();
askr_cow_ready();  // no-op without --cow

$handler = static function () use ($kernel): void {
    $request = Illuminate\Http\Request::capture();
    $response = $kernel->handle($request);
    $response->send();
};
while (askr_handle_request($handler)) {
    $kernel->reset();  // the framework back to its booted state, before the next request
}
