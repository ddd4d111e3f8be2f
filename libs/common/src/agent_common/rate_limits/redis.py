"""Rate limits in Redis, on the process's client, so every replica counts the same hits.

- `ratelimit/...`: the `limits` library's moving windows (one Lua script drops
  expired hits, checks the count and records the hit atomically);
- `streams:{<tenant>/<user>}`: a sorted set of stream ids scored by lease expiry.
"""

from __future__ import annotations

import asyncio
from typing import Any

from limits.aio.storage import RedisStorage
from redis.asyncio import Redis

from agent_common.rate_limits.base import RequestLimiter, StreamSlots


class RedisRequestLimiter(RequestLimiter):
    """The moving window in Redis, on the process's client, which rides through an outage of
    Redis by sending a command again (`transports/redis_ride_through.py`), a dead pooled
    connection after a restart included.

    A hit is not made safe to send twice: should the first attempt have been counted (its
    reply lost), the window holds one extra hit for the caller, for one window. That is
    cheaper than an attempt id per request on the hottest path, and errs on the side the
    limit is for.
    """

    def __init__(self, redis: Redis) -> None:
        super().__init__(_StorageOnTheProcessClient(redis))


class _StorageOnTheProcessClient(RedisStorage):
    """`limits`' Redis storage on the process's own client, so its hits go with the process's
    other commands (`transports/redis_multiplexed.py`) instead of a client of its own on the
    pool. Set where the library's cluster and sentinel storages set theirs."""

    def __init__(self, client: Redis) -> None:
        self._client = client
        super().__init__("async+redis://", implementation="redispy", key_prefix="ratelimit")

    def configure_bridge(self) -> None:
        bridge: Any = self.bridge  # redis-py's bridge: `storage` is the client its scripts are registered on
        bridge.storage = self._client
        bridge.connection_getter = lambda _readonly: self._client


# KEYS: the user's slots. ARGV: stream id, limit, lease ms. Redis's own clock, so replicas agree.
# A stream that holds its slot already keeps it: an acquire sent twice (riding through an outage)
# is not refused by the slot its first attempt took.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
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
