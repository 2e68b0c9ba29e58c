<?php
// A worker script without a framework: boot once, then serve requests in a loop.
//   askr serve --root examples/worker-plain/public --worker examples/worker-plain/public/worker.php
//
// Everything above the loop runs once per worker (or, with --cow, once per generation in
// the zygote, before askr_cow_ready()). Keep request data out of globals and statics:
// the handler gets a fresh $_GET, $_POST, $_SERVER, ... for every request.

// Boot: load configuration, build lookup tables, compile templates...
$config = ['title' => 'Plain worker', 'greetings' => ['en' => 'Hello', 'fr' => 'Bonjour', 'de' => 'Hallo']];
$booted_at = date(DATE_ATOM);

function page(array $config, string $greeting, string $name, string $booted_at): string
{
    $h = fn (string $s): string => htmlspecialchars($s, ENT_QUOTES);
    return "<!doctype html>\n<title>{$h($config['title'])}</title>\n"
        . "<h1>{$h($greeting)}, {$h($name)}!</h1>\n"
        . "<p>This worker booted at {$h($booted_at)} (pid " . getmypid() . ").</p>\n";
}

askr_cow_ready();  // with --cow: the workers are forked from here; otherwise a no-op

$handler = static function () use ($config, $booted_at): void {
    $path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
    if ($path === '/health') {
        header('Content-Type: text/plain');
        echo "ok\n";
        return;
    }
    $lang = $_GET['lang'] ?? 'en';
    $greeting = $config['greetings'][$lang] ?? $config['greetings']['en'];
    $name = (string)($_GET['name'] ?? 'world');
    echo page($config, $greeting, $name, $booted_at);
};

// askr_handle_request() returns false when the worker must stop (shutdown, reload,
// --max-requests): the loop ends and the script can clean up.
while (askr_handle_request($handler)) {
    gc_collect_cycles();  // between requests, not during them
}
