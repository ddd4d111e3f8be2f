"""The distributed mode's transports: state and run events in Redis, from one pool.

Every store, the run-event channel and the rate limiter share the process's one
connection pool, the stores' single commands batched on one of its connections
(`redis_multiplexed.py`); leaving the transports closes it after the bus and the channel
have stopped. Every command on the pool rides through an outage of Redis shorter
than `REDIS_RIDE_THROUGH_S` (`redis_ride_through.py`).
"""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis

from agent_common.auth import ApiKeyStore
from agent_common.auth.redis_store import RedisApiKeyStore
from agent_common.budgets import BudgetStore
from agent_common.budgets.redis import RedisBudgetStore
from agent_common.bus import Bus
from agent_common.rate_limits import RequestLimiter, StreamSlots
from agent_common.rate_limits.redis import RedisRequestLimiter, RedisStreamSlots
from agent_common.run_events import RunEventChannel
from agent_common.run_events.redis import RedisRunEventChannel
from agent_common.run_store import RunStore
from agent_common.run_store.redis import RedisRunStore
from agent_common.sessions import SessionBounds, SessionStore
from agent_common.sessions.owners import OwnerStore
from agent_common.sessions.owners.redis import RedisOwnerStore
from agent_common.sessions.redis import RedisSessionStore
from agent_common.settings import RedisSettings
from agent_common.transports.base import Transports
from agent_common.transports.redis_connections import send_in_the_callers_task
from agent_common.transports.redis_multiplexed import MultiplexedRedis
from agent_common.transports.redis_ride_through import RedisRideThrough


def redis_client(settings: RedisSettings) -> Redis:
    """A client on a new pool for `settings.url` (which must be set); no connection is made yet."""
    if settings.url is None:
        raise ValueError("REDIS_URL is not set")
    # A blocking pool makes a burst wait for a free connection instead of failing
    # with MaxConnectionsError.
    pool = BlockingConnectionPool.from_url(
        settings.url.get_secret_value(),
        max_connections=settings.max_connections,
        timeout=settings.pool_timeout_s,
        health_check_interval=15,
        socket_connect_timeout=2.0,
        socket_timeout=settings.socket_timeout_s,
        retry=RedisRideThrough(settings.ride_through_s),
    )
    return MultiplexedRedis(connection_pool=send_in_the_callers_task(pool))


def ride_through_of(redis: Redis) -> RedisRideThrough | None:
    """The pool's `RedisRideThrough`, when the client was made by `redis_client`."""
    retry = redis.get_retry()
    return retry if isinstance(retry, RedisRideThrough) else None


class RedisTransports(Transports):
    def __init__(self, bus: Bus, redis: Redis, *, sessions: SessionBounds) -> None:
        super().__init__(bus, sessions=sessions)
        self.redis = redis
        self._ride_through = ride_through_of(redis)

    @property
    def api_keys_location(self) -> str:
        return "Redis (REDIS_URL)"

    def stream_slots(self, limit: int, lease_s: float) -> StreamSlots:
        return RedisStreamSlots(self.redis, limit, lease_s)

    async def ping(self) -> bool:
        return bool(await self.redis.ping())

    def _open_run_events(self) -> RunEventChannel:
        bound = None if self._ride_through is None else self._ride_through.bound_s
        return RedisRunEventChannel(self.redis, outage_bound_s=bound)

    def _open_sessions(self) -> SessionStore:
        bounds = self.session_bounds
        return RedisSessionStore(
            self.redis, max_turns=bounds.max_turns, ttl_s=bounds.ttl_s, max_tokens=bounds.max_tokens
        )

    def _open_owners(self) -> OwnerStore:
        return RedisOwnerStore(self.redis)

    def _open_api_keys(self) -> ApiKeyStore:
        return RedisApiKeyStore(self.redis)

    def _open_request_limiter(self) -> RequestLimiter:
        return RedisRequestLimiter(self.redis)

    def _open_run_store(self) -> RunStore:
        ride = self._ride_through
        return RedisRunStore(self.redis, recent_outage=None if ride is None else ride.outage_within)

    def _open_budgets(self) -> BudgetStore:
        return RedisBudgetStore(self.redis)

    async def aclose(self) -> None:
        await self.redis.aclose()
