"""Builds the transports a service runs on from its settings.

With `BUS_BACKEND=memory` and no `REDIS_URL` everything is in-process: the
embedded default, one process. With Kafka, state and run events must be shared
between processes, so Redis is required.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent_common.bus import Bus, MemoryBus
from agent_common.run_events import MemoryRunEventChannel, RunEventChannel
from agent_common.sessions import MemorySessionStore, SessionStore
from agent_common.settings import BusSettings, RedisSettings

if TYPE_CHECKING:
    from redis.asyncio import Redis


class ConfigurationError(RuntimeError):
    """The settings cannot work together; the message says how to fix them."""


def redis_client(settings: RedisSettings) -> Redis | None:
    if settings.url is None:
        return None
    from redis.asyncio import BlockingConnectionPool, Redis

    # A blocking pool makes a burst wait for a free connection instead of
    # failing with MaxConnectionsError.
    pool = BlockingConnectionPool.from_url(
        settings.url.get_secret_value(),
        max_connections=settings.max_connections,
        timeout=settings.pool_timeout_s,
        health_check_interval=15,
        socket_connect_timeout=2.0,
        socket_timeout=settings.socket_timeout_s,
    )
    return Redis(connection_pool=pool)


def check_mode(bus: BusSettings, redis: RedisSettings) -> None:
    if bus.backend == "kafka" and redis.url is None:
        raise ConfigurationError(
            "BUS_BACKEND=kafka runs services in separate processes, which share run state and "
            "run events through Redis: set REDIS_URL (e.g. redis://127.0.0.1:6379/0)."
        )


def build_bus(settings: BusSettings, *, client_id: str) -> Bus:
    if settings.backend == "memory":
        return MemoryBus()
    from agent_common.bus.kafka import KafkaBus

    return KafkaBus(settings.kafka_bootstrap_servers, client_id=client_id, create_topics=settings.create_topics)


def build_run_events(redis: Redis | None) -> RunEventChannel:
    if redis is None:
        return MemoryRunEventChannel()
    from agent_common.run_events.redis import RedisRunEventChannel

    return RedisRunEventChannel(redis)


def build_session_store(
    redis: Redis | None, *, max_turns: int, ttl_s: int, max_tokens: int | None = None
) -> SessionStore:
    if redis is None:
        return MemorySessionStore(max_turns=max_turns, ttl_s=ttl_s, max_tokens=max_tokens)
    from agent_common.sessions.redis import RedisSessionStore

    return RedisSessionStore(redis, max_turns=max_turns, ttl_s=ttl_s, max_tokens=max_tokens)
