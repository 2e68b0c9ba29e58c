<?php
// Queue sidecar for a Laravel 8 to 12 app: Laravel's queue worker (queue:work) running in
// the sidecar's process, stopping between jobs once Askr asks (askr_sidecar_should_stop():
// shutdown, reload), so that no job is cut short or run twice because of Askr.
//   askr serve --root /srv/app/public --queue 2 \
//       --queue-script integrations/laravel/queue.php --php-env APP_BASE_PATH=/srv/app
// queue:work's options come from the environment PHP is given (--php-env NAME=VALUE):
//   QUEUE_WORK_CONNECTION (default: queue.default), QUEUE_WORK_QUEUE (comma-separated;
//   default: the connection's queue), QUEUE_WORK_TRIES (1), QUEUE_WORK_BACKOFF (0 s),
//   QUEUE_WORK_TIMEOUT (60 s), QUEUE_WORK_SLEEP (3 s), QUEUE_WORK_MEMORY (128 MB),
//   QUEUE_WORK_MAX_JOBS (0: no limit), QUEUE_WORK_MAX_TIME (0 s: no limit),
//   QUEUE_WORK_REST (0 s).
// Past max jobs, max time or memory the worker returns and Askr starts a fresh one.

use Illuminate\Queue\Events\JobFailed;
use Illuminate\Queue\Events\JobProcessed;
use Illuminate\Queue\Events\Looping;
use Illuminate\Queue\WorkerOptions;

$app = require __DIR__ . '/boot.php';

$setting = static fn (string $name, $default) => ($value = getenv('QUEUE_WORK_' . $name)) === false || $value === ''
    ? $default : $value;
$connection = $setting('CONNECTION', $app['config']->get('queue.default'));
$queue = $setting('QUEUE', $app['config']->get("queue.connections.$connection.queue", 'default'));

$options = new WorkerOptions(
    'default',
    (int) $setting('BACKOFF', 0),
    (int) $setting('MEMORY', 128),
    (int) $setting('TIMEOUT', 60),
    (int) $setting('SLEEP', 3),
    (int) $setting('TRIES', 1),
    false,                      // force: run even in maintenance mode
    false,                      // stop when empty
    (int) $setting('MAX_JOBS', 0),
    (int) $setting('MAX_TIME', 0),
    (int) $setting('REST', 0),
);

/** @var \Illuminate\Queue\Worker $worker */
$worker = $app->make('queue.worker');
if ($app->bound('cache')) {
    $worker->setCache($app['cache']->driver());  // queue:restart's signal, as queue:work reads it
}
// Before each job: once Askr wants the sidecar to stop, take no new job and quit.
$app['events']->listen(Looping::class, static function () use ($worker) {
    if (askr_sidecar_should_stop()) {
        $worker->shouldQuit = true;
        return false;
    }
});

// What queue:work prints, one line a job, to the server's log; each processed job counts
// in the sidecar's jobs_done (askr status, /api/status, the dashboard).
$app['events']->listen(JobProcessed::class, static function (JobProcessed $event) {
    askr_sidecar_job_done();
    echo 'processed ', $event->job->resolveName(), ' (', $event->job->getJobId(), ")\n";
});
$app['events']->listen(JobFailed::class, static function (JobFailed $event) {
    echo 'failed ', $event->job->resolveName(), ' (', $event->job->getJobId(), '): ', $event->exception->getMessage(), "\n";
});

echo "processing jobs from the [$queue] queue of the [$connection] connection\n";
$status = $worker->daemon($connection, $queue, $options);
echo "queue worker stopped (status $status)\n";
exit((int) $status);
