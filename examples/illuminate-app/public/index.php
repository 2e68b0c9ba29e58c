<?php
// Classic mode: the app boots for every request (askr serve --root public).
$kernel = require __DIR__ . '/../bootstrap/app.php';
$request = Illuminate\Http\Request::capture();
$kernel->handle($request)->send();
