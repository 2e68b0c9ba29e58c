<?php
// The view factory; data shared with every view during a request (share()) is dropped
// before the next one, data shared at boot stays.
namespace App;

use Illuminate\View\Factory;

final class Views extends Factory
{
    private array $bootShared = [];

    public function markBooted(): void
    {
        $this->bootShared = $this->shared;
    }

    public function resetToBoot(): void
    {
        $this->flushState();  // sections, stacks, render count
        $this->shared = $this->bootShared;
        $this->share('__env', $this);
    }
}
