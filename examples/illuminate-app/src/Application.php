<?php
// The app's container. It remembers what was registered while the app booted, so that
// in worker mode everything a request adds (instances, bindings, aliases, scoped
// instances) can be dropped before the next request: resetToBoot().
namespace App;

use Illuminate\Container\Container;

final class Application extends Container
{
    private array $booted = [];

    /** Records the container as it is after boot: the state every request starts from. */
    public function markBooted(): void
    {
        $this->booted = [
            'bindings' => $this->bindings,
            'instances' => $this->instances,
            'aliases' => $this->aliases,
            'abstractAliases' => $this->abstractAliases,
            'extenders' => $this->extenders,
            'tags' => $this->tags,
            'contextual' => $this->contextual,
            'reboundCallbacks' => $this->reboundCallbacks,
            'methodBindings' => $this->methodBindings,
            'resolved' => $this->resolved,
        ];
    }

    /** Drops what requests added: scoped instances, new bindings, instances and aliases. */
    public function resetToBoot(): void
    {
        $this->forgetScopedInstances();
        foreach ($this->booted as $property => $value) {
            $this->$property = $value;
        }
        $this->scopedInstances = [];
        static::setInstance($this);
    }
}
