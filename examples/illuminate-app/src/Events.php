<?php
// The event dispatcher; listeners registered while handling a request are forgotten
// before the next one (resetToBoot()), listeners registered at boot stay.
namespace App;

use Illuminate\Events\Dispatcher;

final class Events extends Dispatcher
{
    private array $booted = [];

    public function markBooted(): void
    {
        $this->booted = [$this->listeners, $this->wildcards];
    }

    public function resetToBoot(): void
    {
        [$this->listeners, $this->wildcards] = $this->booted;
        $this->wildcardsCache = [];
    }
}
