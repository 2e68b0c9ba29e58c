<?php

return [
    'default' => env('CACHE_DRIVER', 'file'),
    'stores' => [
        'array' => ['driver' => 'array', 'serialize' => false],
        'file' => ['driver' => 'file', 'path' => storage_path('framework/cache/data')],
        'database' => ['driver' => 'database', 'table' => 'cache', 'connection' => null],
        // Askr's cache: shared by every worker (and servers sharing [cache] redis).
        'askr' => ['driver' => 'askr'],
    ],
    'prefix' => 'laravel_cache',
];
