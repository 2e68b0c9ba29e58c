<?php

use App\Models\Message;
use Illuminate\Support\Facades\Artisan;

Artisan::command('messages:prune {--days=7}', function () {
    $count = Message::where('created_at', '<', now()->subDays((int) $this->option('days')))->delete();
    $this->info("Pruned $count message(s).");
})->purpose('Delete messages older than --days days');
