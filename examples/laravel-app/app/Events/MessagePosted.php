<?php

namespace App\Events;

use App\Models\Message;
use Illuminate\Broadcasting\Channel;
use Illuminate\Broadcasting\PrivateChannel;
use Illuminate\Contracts\Broadcasting\ShouldBroadcastNow;
use Illuminate\Foundation\Events\Dispatchable;

/**
 * A new message, broadcast to the page's live list (public channel "messages") and to its
 * author's private channel when the author is signed in. With BROADCAST_DRIVER=askr it
 * goes out through Askr's /askr/events; with the default "null" driver, nowhere.
 */
class MessagePosted implements ShouldBroadcastNow
{
    use Dispatchable;

    public function __construct(public Message $message, public ?int $userId = null)
    {
    }

    public function broadcastOn()
    {
        $channels = [new Channel('messages')];
        if ($this->userId !== null) {
            $channels[] = new PrivateChannel('user.' . $this->userId);
        }
        return $channels;
    }

    public function broadcastAs()
    {
        return 'message.posted';
    }

    public function broadcastWith()
    {
        return ['id' => $this->message->id, 'author' => $this->message->author, 'body' => $this->message->body];
    }
}
