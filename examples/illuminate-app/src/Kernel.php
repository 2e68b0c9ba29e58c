<?php
// Turns a request into a response through the router, and (worker mode) puts the
// framework back into its booted state after each request.
namespace App;

use Illuminate\Http\Request;
use Illuminate\Routing\Router;
use Symfony\Component\HttpFoundation\Response;

final class Kernel
{
    public function __construct(
        public readonly Application $app,
        public readonly Router $router,
        public readonly Events $events,
        public readonly Views $views,
    ) {
    }

    public function handle(Request $request): Response
    {
        $this->app->instance('request', $request);
        try {
            $response = $this->router->dispatch($request);
        } catch (\Illuminate\Http\Exceptions\HttpResponseException $e) {
            $response = $e->getResponse();
        } catch (\Symfony\Component\HttpKernel\Exception\HttpExceptionInterface $e) {
            $response = $this->error($e->getStatusCode(), $e->getHeaders());
        } catch (\Throwable $e) {
            // A bug in a route: log it and answer 500; the worker goes on serving.
            error_log(sprintf('%s: %s in %s:%d', get_class($e), $e->getMessage(), $e->getFile(), $e->getLine()));
            $response = $this->error(500, []);
        }
        $response->headers->set('X-Powered-By', 'illuminate-app');
        return $response;
    }

    private function error(int $status, array $headers): Response
    {
        return new \Illuminate\Http\Response($this->views->make('error', ['status' => $status])->render(), $status, $headers);
    }

    /** Worker mode: forget everything the request left in the framework. */
    public function reset(): void
    {
        $this->app->resetToBoot();
        $this->events->resetToBoot();
        $this->views->resetToBoot();
    }
}
