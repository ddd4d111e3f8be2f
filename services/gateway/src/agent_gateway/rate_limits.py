"""Rate limits: requests per minute per user and per client IP, and open streams per user.

Requests per minute use the `limits` library's moving window: in Redis it is
one Lua script that drops expired hits, checks the count and records the hit
atomically, so every replica sees and enforces the same count (no local
counter). A moving window is exact: no burst of twice the limit across a
window edge, as a fixed window allows.

Open streams are a count of things in progress, not of events in a window,
which `limits` does not model: a small semaphore with leases (a Redis sorted
set, one Lua script to acquire), so a replica that dies holding a slot frees it
when the lease runs out.
"""

from __future__ import annotations

import asyncio
import math
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from agent_gateway.settings import RateLimitSettings


@dataclass(frozen=True)
class LimitExceeded:
    """A refused hit, with what its 429 says."""

    limit: int
    remaining: int
    reset_after_s: int

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_after_s),
            "Retry-After": str(self.reset_after_s),
        }


class RequestLimits:
    """Requests per minute, per user and per client IP."""

    def __init__(self, settings: RateLimitSettings, redis_url: str | None) -> None:
        storage: Storage
        if redis_url:
            # One retry on a dropped connection: after a Redis restart every pooled connection
            # is dead, and the first command on each would otherwise fail the request.
            # (Passed through to redis-py, whose types `limits` does not declare.)
            # A blocking pool: a burst waits a moment for a free connection instead of failing
            # (redis-py's default pool refuses the 101st concurrent command; `make bench` found it).
            # The retry belongs to the pool's connections: a dead one (after a Redis restart) is
            # replaced and the command sent again.
            pool = BlockingConnectionPool.from_url(
                redis_url,
                max_connections=200,
                timeout=5.0,
                retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=2),
                retry_on_error=[RedisConnectionError, RedisTimeoutError],
            )
            reconnect: dict[str, Any] = {"connection_pool": pool}
            storage = RedisStorage(f"async+{redis_url}", implementation="redispy", key_prefix="ratelimit", **reconnect)
        else:
            storage = MemoryStorage()
        self._storage = storage
        self._limiter = MovingWindowRateLimiter(storage)
        self._per_user = RateLimitItemPerMinute(settings.user_per_minute)
        self._per_ip = RateLimitItemPerMinute(settings.ip_per_minute)

    async def hit_user(self, tenant: str, user_id: str) -> LimitExceeded | None:
        """Count one request of the user; `None` when it is within the limit."""
        return await self._hit(self._per_user, "user", tenant, user_id)

    async def hit_ip(self, client_ip: str) -> LimitExceeded | None:
        """Count one request from the client IP; `None` when it is within the limit."""
        return await self._hit(self._per_ip, "ip", client_ip)

    async def _hit(self, item: RateLimitItemPerMinute, *identifiers: str) -> LimitExceeded | None:
        if await self._limiter.hit(item, *identifiers):
            return None
        # The window's figures only for a refusal's headers: reading them walks the window's
        # hits, a second round trip that an allowed request (nearly every one) does not need.
        stats = await self._limiter.get_window_stats(item, *identifiers)
        return LimitExceeded(item.amount, max(0, stats.remaining), max(1, math.ceil(stats.reset_time - time.time())))


class StreamSlots(ABC):
    """At most `limit` open streams per user, each slot held under a lease."""

    def __init__(self, limit: int, lease_s: float) -> None:
        self.limit = limit
        self._lease_ms = max(1000, int(lease_s * 1000))

    @abstractmethod
    async def acquire(self, user_key: str, stream_id: str) -> bool: ...

    @abstractmethod
    async def release(self, user_key: str, stream_id: str) -> None: ...


class MemoryStreamSlots(StreamSlots):
    def __init__(self, limit: int, lease_s: float) -> None:
        super().__init__(limit, lease_s)
        self._held: dict[str, dict[str, float]] = {}

    async def acquire(self, user_key: str, stream_id: str) -> bool:
        now = time.monotonic()
        held = {k: exp for k, exp in self._held.get(user_key, {}).items() if exp > now}
        if len(held) >= self.limit:
            self._held[user_key] = held
            return False
        held[stream_id] = now + self._lease_ms / 1000
        self._held[user_key] = held
        return True

    async def release(self, user_key: str, stream_id: str) -> None:
        held = self._held.get(user_key, {})
        held.pop(stream_id, None)
        if not held:
            self._held.pop(user_key, None)


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
    """`streams:{<tenant>/<user>}`: a sorted set of stream ids scored by lease expiry."""

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
