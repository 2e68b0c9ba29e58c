<?php

return [
    // "askr": events reach /askr/events (the server needs --broadcast); "null": nowhere.
    'default' => env('BROADCAST_DRIVER', 'null'),
    'connections' => [
        'askr' => ['driver' => 'askr', 'token_ttl' => 3600],
        'null' => ['driver' => 'null'],
        'log' => ['driver' => 'log'],
    ],
];
