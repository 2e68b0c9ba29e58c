<?php

use Illuminate\Support\Facades\Broadcast;

// A user's own private channel: only that user gets a token for it.
Broadcast::channel('user.{id}', function ($user, $id) {
    return (int) $user->id === (int) $id;
});
