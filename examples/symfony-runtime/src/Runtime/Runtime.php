<?php
// A Symfony Runtime for Askr: in a worker script (askr serve --worker public/index.php),
// an HttpKernelInterface app is served by Runner (a loop on askr_handle_request());
// everything else (classic mode, console commands) is left to SymfonyRuntime.
//
// Select it with composer.json: "extra": {"runtime": {"class": "Askr\\SymfonyRuntime\\Runtime"}}
// or the APP_RUNTIME environment variable. Options (APP_RUNTIME_OPTIONS or
// composer.json "extra.runtime"): "askr_loop_max" = requests per run of the script
// (default 0: until the server says stop; Askr's --max-requests recycles the worker).
namespace Askr\SymfonyRuntime;

use Symfony\Component\HttpKernel\HttpKernelInterface;
use Symfony\Component\Runtime\RunnerInterface;
use Symfony\Component\Runtime\SymfonyRuntime;

class Runtime extends SymfonyRuntime
{
    public function getRunner(?object $application): RunnerInterface
    {
        if ($application instanceof HttpKernelInterface && isset($_SERVER['ASKR_WORKER'])) {
            return new Runner($application, (int)($this->options['askr_loop_max'] ?? 0));
        }
        return parent::getRunner($application);
    }
}
