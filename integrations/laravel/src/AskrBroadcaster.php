<?php
namespace Askr\Laravel;

use Illuminate\Broadcasting\Broadcasters\Broadcaster;
use Illuminate\Broadcasting\Broadcasters\UsePusherChannelConventions;
use Symfony\Component\HttpKernel\Exception\AccessDeniedHttpException;

/**
 * The `askr` broadcaster: broadcast(new OrderShipped($order)) and ShouldBroadcast events
 * reach the browsers subscribed at /askr/events through askr_broadcast(), on every worker
 * (and every server sharing [broadcast] redis). config/broadcasting.php:
 *   'connections' => ['askr' => ['driver' => 'askr', 'token_ttl' => 3600]]
 * Each event goes to each of its channels as one event-stream event named after the
 * Laravel event (broadcastAs()), whose data is {"event": NAME, "data": PAYLOAD}.
 * Private and presence channels are Askr private channels (their names start with
 * "private-" and "presence-"): the auth route (/broadcasting/auth, Broadcast::routes())
 * answers an authorized user with an Askr token for the channel, {"token": "..."}, which
 * the page passes as /askr/events?channel=private-orders.1&token=...
 */
final class AskrBroadcaster extends Broadcaster
{
    use UsePusherChannelConventions;

    public function __construct(private int $tokenTtl = 3600)
    {
    }

    public function auth($request)
    {
        $channelName = $this->normalizeChannelName($request->channel_name);
        if (empty($request->channel_name) ||
            ($this->isGuardedChannel($request->channel_name) && !$this->retrieveUser($request, $channelName))) {
            throw new AccessDeniedHttpException();
        }
        return parent::verifyUserCanAccessChannel($request, $channelName);
    }

    public function validAuthenticationResponse($request, $result)
    {
        return ['token' => askr_broadcast_token([$request->channel_name], $this->tokenTtl)];
    }

    public function broadcast(array $channels, $event, array $payload = [])
    {
        $socket = $payload['socket'] ?? null;
        unset($payload['socket']);
        $data = json_encode(['event' => $event, 'data' => $payload, 'socket' => $socket],
            JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_THROW_ON_ERROR);
        foreach ($this->formatChannels($channels) as $channel) {
            askr_broadcast($channel, $data, $event);
        }
    }
}
