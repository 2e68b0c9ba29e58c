<?php

use App\Models\Message;
use App\Models\Product;
use App\Models\Visit;
use Illuminate\Support\Facades\Cache;
use Illuminate\Support\Facades\DB;
use Illuminate\Support\Facades\Route;

Route::get('/products', function () {
    return Product::orderBy('id')->get(['id', 'name', 'price', 'stock']);
});

Route::get('/products/{product}', function (Product $product) {
    return $product;
});

// Counts, for the queue and the scheduler: jobs waiting and visits recorded by jobs.
Route::get('/stats', function () {
    return [
        'products' => Product::count(),
        'messages' => Message::count(),
        'queued_jobs' => DB::table('jobs')->count(),
        'visits' => Visit::count(),
        'visits_by_source' => Visit::query()->selectRaw('source, count(*) as n')->groupBy('source')->pluck('n', 'source'),
        'pid' => getmypid(),
    ];
});

// The `askr` cache store: a slow value computed once for every worker (single-flight).
Route::get('/cache/remember', function () {
    $value = Cache::store('askr')->remember('slow-report', 60, function () {
        Cache::store('askr')->increment('slow-report-computed');
        usleep(300000);
        return ['computed_by' => getmypid(), 'token' => bin2hex(random_bytes(8))];
    });
    return ['value' => $value, 'computed' => Cache::store('askr')->get('slow-report-computed'), 'pid' => getmypid()];
});

// Cache::lock(): one request at a time in the critical section, whichever worker runs it.
Route::get('/cache/locked', function () {
    $cache = Cache::store('askr');
    return $cache->lock('critical-section', 10)->block(10, function () use ($cache) {
        $inside = $cache->increment('inside');
        usleep(50000);
        $cache->decrement('inside');
        return ['alone' => $inside === 1, 'pid' => getmypid()];
    });
});

// A lock's owner, restored by owner, and forced open.
Route::get('/cache/lock-owner', function () {
    $cache = Cache::store('askr');
    $lock = $cache->lock('owned', 30);
    $acquired = $lock->get();
    $second = $cache->lock('owned', 30)->get();
    $restored = $cache->restoreLock('owned', $lock->owner())->release();
    $again = $cache->lock('owned', 30);
    $again->get();
    $again->forceRelease();
    $free = $cache->lock('owned', 1)->get();
    return compact('acquired', 'second', 'restored', 'free');
});
