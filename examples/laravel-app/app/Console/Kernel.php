<?php

namespace App\Console;

use App\Jobs\RecordVisit;
use Illuminate\Console\Scheduling\Schedule;
use Illuminate\Foundation\Console\Kernel as ConsoleKernel;

class Kernel extends ConsoleKernel
{
    /** The scheduled tasks (php artisan schedule:run, every minute). */
    protected function schedule(Schedule $schedule)
    {
        // Messages older than a week are pruned every day.
        $schedule->command('messages:prune')->daily();
        // A heartbeat, queued on the database queue every minute.
        $schedule->job(new RecordVisit('scheduler'))->everyMinute();
    }

    protected function commands()
    {
        require base_path('routes/console.php');
    }
}
