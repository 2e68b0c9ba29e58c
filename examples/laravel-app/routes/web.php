<?php

use App\Http\Controllers\AuthController;
use App\Http\Controllers\MessageController;
use App\Http\Controllers\ProductController;
use Illuminate\Support\Facades\Route;

Route::get('/', [ProductController::class, 'index'])->name('products.index');
Route::get('/products/{product}', [ProductController::class, 'show'])->name('products.show');

Route::get('/messages', [MessageController::class, 'create'])->name('messages.create');
Route::post('/messages', [MessageController::class, 'store'])->name('messages.store');

Route::middleware('guest')->group(function () {
    Route::get('/login', [AuthController::class, 'showLogin'])->name('login');
    Route::post('/login', [AuthController::class, 'login']);
});
Route::middleware('auth')->group(function () {
    Route::get('/dashboard', [AuthController::class, 'dashboard'])->name('dashboard');
    Route::post('/note', [AuthController::class, 'saveNote']);
    Route::post('/logout', [AuthController::class, 'logout'])->name('logout');
});

// An uncaught exception: Laravel's 500 page (APP_DEBUG off), and the worker goes on.
Route::get('/boom', function () {
    throw new RuntimeException('boom: a deliberate failure');
});

// A deliberate leak for --paranoid to name (App\Support\RecentPages::$visited grows).
Route::get('/debug/leak', function () {
    \App\Support\RecentPages::$visited[] = request()->fullUrl();
    return 'pages remembered: ' . count(\App\Support\RecentPages::$visited);
});
