"""Rate limits in Redis, on the process's shared pool, so every replica counts the same hits.

- `ratelimit/...`: the `limits` library's moving windows (one Lua script drops
  expired hits, checks the count and records the hit atomically);
- `streams:{<tenant>/<user>}`: a sorted set of stream ids scored by lease expiry.
"""

from __future__ import annotations

import asyncio
from typing import Any

from limits import RateLimitItem
from limits.aio.storage import RedisStorage
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from agent_common.rate_limits.base import RequestLimiter, StreamSlots, WindowStats


class RedisRequestLimiter(RequestLimiter):
    """The moving window in Redis, retried on a dead connection.

    After a Redis restart every pooled connection is dead, and the first command on
    each would otherwise fail its request: a failed connection is dropped by redis-py,
    so trying again reconnects. Only the limiter retries (the shared pool does not):
    a counted hit sent twice costs at most one extra hit in a window, while other
    commands on the pool (the run-event publish) must never be sent twice.
    """

    def __init__(self, redis: Redis) -> None:
        # `limits` takes the pool through to redis-py (whose types it does not declare).
        shared: dict[str, Any] = {"connection_pool": redis.connection_pool}
        super().__init__(RedisStorage("async+redis://", implementation="redispy", key_prefix="ratelimit", **shared))
        self._retry = Retry(
            ExponentialBackoff(cap=0.5, base=0.05),
            retries=2,
            supported_errors=(RedisConnectionError, RedisTimeoutError),
        )

    async def hit(self, item: RateLimitItem, *identifiers: str) -> bool:
        return await self._retry.call_with_retry(
            lambda: super(RedisRequestLimiter, self).hit(item, *identifiers), _noop
        )

    async def window(self, item: RateLimitItem, *identifiers: str) -> WindowStats:
        return await self._retry.call_with_retry(
            lambda: super(RedisRequestLimiter, self).window(item, *identifiers), _noop
        )


async def _noop(_: Exception) -> None:
    """redis-py has already dropped the failed connection; the next try takes a fresh one."""


# KEYS: the user's slots. ARGV: stream id, limit, lease ms. Redis's own clock, so replicas agree.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""


class RedisStreamSlots(StreamSlots):
    def __init__(self, redis: Redis, limit: int, lease_s: float) -> None:
        super().__init__(limit, lease_s)
        self._redis = redis
        self._acquire = redis.register_script(_ACQUIRE)

    async def acquire(self, user_key: str, stream_id: str) -> bool:
        return bool(await self._acquire(keys=[_slots_key(user_key)], args=[stream_id, self.limit, self._lease_ms]))

    async def release(self, user_key: str, stream_id: str) -> None:
        # Shielded: a client that hangs up as its stream ends gets the stream's clean-up
        # cancelled (and anyio cancels every await left in it), which left the slot held
        # until its lease ran out, and dropped the Redis connection mid-command.
        await asyncio.shield(self._redis.zrem(_slots_key(user_key), stream_id))


def _slots_key(user_key: str) -> str:
    return f"streams:{{{user_key}}}"
