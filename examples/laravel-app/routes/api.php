<?php

use App\Models\Message;
use App\Models\Product;
use App\Models\Visit;
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
        'pid' => getmypid(),
    ];
});
