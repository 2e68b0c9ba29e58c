<?php
// Serves an HttpKernelInterface app from a worker script: boot once (the runtime already
// built the kernel), then one handle()/send()/terminate() per request. Modelled on the
// FrankenPHP runner of runtime/frankenphp-symfony.
namespace Askr\SymfonyRuntime;

use Symfony\Component\HttpFoundation\Request;
use Symfony\Component\HttpKernel\HttpKernelInterface;
use Symfony\Component\HttpKernel\TerminableInterface;
use Symfony\Component\Runtime\RunnerInterface;

class Runner implements RunnerInterface
{
    public function __construct(private HttpKernelInterface $kernel, private int $loopMax = 0)
    {
    }

    public function run(): int
    {
        // Environment variables loaded at boot (Dotenv) stay; the request's own
        // variables (HTTP_*) come fresh with every request.
        $server = array_filter($_SERVER, static fn (string $key) => !str_starts_with($key, 'HTTP_'), ARRAY_FILTER_USE_KEY);
        $server['APP_RUNTIME_MODE'] = 'web=1&worker=1';

        if (\function_exists('askr_cow_ready')) {
            askr_cow_ready();  // --cow: the workers are forked from the booted kernel
        }
        $request = $response = null;
        $handler = function () use ($server, &$request, &$response): void {
            $_SERVER += $server;
            $request = Request::createFromGlobals();
            $response = $this->kernel->handle($request);
            $response->send();
        };
        $loops = 0;
        do {
            $more = askr_handle_request($handler);
            if ($this->kernel instanceof TerminableInterface && $request && $response) {
                $this->kernel->terminate($request, $response);  // after the client has its response
            }
            $request = $response = null;
            gc_collect_cycles();
        } while ($more && (0 === $this->loopMax || ++$loops < $this->loopMax));

        return 0;
    }
}
