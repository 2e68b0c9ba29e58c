<?php
// Per-request state held by a long-lived service: reset after every request (in a full
// Symfony app: implement Symfony\Contracts\Service\ResetInterface, tag kernel.reset).
namespace App;

final class Visits
{
    private array $names = [];

    public function add(string $name): void
    {
        $this->names[] = $name;
    }

    public function all(): array
    {
        return $this->names;
    }

    public function reset(): void
    {
        $this->names = [];
    }
}
