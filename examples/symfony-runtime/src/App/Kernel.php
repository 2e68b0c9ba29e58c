<?php
// A small Symfony app without the framework bundle: HttpKernel, EventDispatcher and
// Routing (Debian's php-symfony-* 5.4). Services that keep per-request state are reset
// in terminate(), as Symfony's services_resetter does.
namespace App;

use Symfony\Component\EventDispatcher\EventDispatcher;
use Symfony\Component\HttpFoundation\JsonResponse;
use Symfony\Component\HttpFoundation\Request;
use Symfony\Component\HttpFoundation\RequestStack;
use Symfony\Component\HttpFoundation\Response;
use Symfony\Component\HttpKernel\Controller\ArgumentResolver;
use Symfony\Component\HttpKernel\Controller\ControllerResolver;
use Symfony\Component\HttpKernel\Event\ExceptionEvent;
use Symfony\Component\HttpKernel\EventListener\RouterListener;
use Symfony\Component\HttpKernel\Exception\HttpExceptionInterface;
use Symfony\Component\HttpKernel\HttpKernel;
use Symfony\Component\HttpKernel\HttpKernelInterface;
use Symfony\Component\HttpKernel\KernelEvents;
use Symfony\Component\HttpKernel\TerminableInterface;
use Symfony\Component\Routing\Matcher\UrlMatcher;
use Symfony\Component\Routing\RequestContext;
use Symfony\Component\Routing\Route;
use Symfony\Component\Routing\RouteCollection;

final class Kernel implements HttpKernelInterface, TerminableInterface
{
    private HttpKernel $kernel;
    private RequestStack $requests;
    private Visits $visits;
    private int $handled = 0;
    private string $bootedAt;

    public function __construct(private string $environment, private bool $debug)
    {
        $this->bootedAt = (string)getmypid();
        $this->visits = new Visits();
        $routes = new RouteCollection();
        $routes->add('hello', new Route('/hello/{name}', ['_controller' => [$this, 'hello'], 'name' => 'world']));
        $routes->add('state', new Route('/state', ['_controller' => [$this, 'state']]));
        $this->requests = new RequestStack();
        $events = new EventDispatcher();
        $events->addSubscriber(new RouterListener(new UrlMatcher($routes, new RequestContext()), $this->requests));
        $events->addListener(KernelEvents::EXCEPTION, static function (ExceptionEvent $event): void {
            $e = $event->getThrowable();
            $status = $e instanceof HttpExceptionInterface ? $e->getStatusCode() : 500;
            $event->setResponse(new Response("<h1>$status</h1>\n", $status));
        });
        $this->kernel = new HttpKernel($events, new ControllerResolver(), $this->requests, new ArgumentResolver());
    }

    public function handle(Request $request, int $type = self::MAIN_REQUEST, bool $catch = true): Response
    {
        ++$this->handled;
        return $this->kernel->handle($request, $type, $catch);
    }

    public function terminate(Request $request, Response $response): void
    {
        $this->kernel->terminate($request, $response);
        $this->visits->reset();
    }

    public function hello(Request $request, string $name): Response
    {
        $this->visits->add($name);
        $html = sprintf("<!doctype html>\n<title>Hello %s</title>\n<h1>Hello, %s!</h1>\n<p>%s environment, %s mode.</p>\n",
            htmlspecialchars($name), htmlspecialchars($name), htmlspecialchars($this->environment),
            isset($_SERVER['ASKR_WORKER']) ? 'worker' : 'classic');
        return new Response($html);
    }

    public function state(Request $request): JsonResponse
    {
        $this->visits->add('state');
        return new JsonResponse([
            'handled' => $this->handled,           // grows in worker mode: the kernel booted once
            'boot_pid' => $this->bootedAt,
            'pid' => getmypid(),
            'visits' => $this->visits->all(),      // only this request's: reset after every request
            'request_stack' => $this->requests->getMainRequest() === $request,
            'runtime_mode' => $_SERVER['APP_RUNTIME_MODE'] ?? null,
            'query' => $request->query->all(),
        ]);
    }
}
