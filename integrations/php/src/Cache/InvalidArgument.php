<?php
namespace Askr\Cache;

use Psr\SimpleCache\InvalidArgumentException;

/** A key, TTL or list PSR-16 does not allow. */
final class InvalidArgument extends \InvalidArgumentException implements InvalidArgumentException
{
}
