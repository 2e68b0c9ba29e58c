<?php

namespace App\Support;

/**
 * A deliberate leak, for `askr serve --paranoid` to find (tests/e2e/laravel_app_test.cpp):
 * a static property that /debug/leak appends to and nothing resets. Static state lives as
 * long as the worker does; this is the kind of state --paranoid names.
 */
final class RecentPages
{
    public static array $visited = [];
}
