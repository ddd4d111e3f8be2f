"""The one place that picks a process's transports from its settings.

With `BUS_BACKEND=memory` and no `REDIS_URL` everything is in-process: the
embedded default, one process. With Kafka, state and run events must be shared
between processes, so Redis is required.
"""

from __future__ import annotations

from pathlib import Path

from agent_common.bus import Bus, MemoryBus
from agent_common.sessions import SessionBounds
from agent_common.settings import BusSettings, RedisSettings
from agent_common.transports.base import ConfigurationError, Transports
from agent_common.transports.memory import MemoryTransports


def check_mode(bus: BusSettings, redis: RedisSettings) -> None:
    if bus.backend == "kafka" and redis.url is None:
        raise ConfigurationError(
            "BUS_BACKEND=kafka runs services in separate processes, which share run state and "
            "run events through Redis: set REDIS_URL (e.g. redis://127.0.0.1:6379/0)."
        )


def open_transports(
    bus: BusSettings | None,
    redis: RedisSettings | None,
    *,
    client_id: str,
    sessions: SessionBounds | None = None,
    keys_file: Path | None = None,
    budgets_file: Path | None = None,
) -> Transports:
    """The transports the settings ask for; enter the result to start them (`async with`).

    `bus=None` is an in-process bus; `redis=None` is a process that shares no state
    (the tool runner, the indexer) or the embedded default: its state stays in memory.
    Given Redis settings, Kafka without `REDIS_URL` is a configuration error. Without Redis, API
    keys and budgets live in `keys_file` and `budgets_file` (budgets in memory without one).
    """
    if bus is not None and redis is not None:
        check_mode(bus, redis)
    bounds = sessions or SessionBounds()
    carrier = _bus(bus, client_id)
    if redis is None or redis.url is None:
        return MemoryTransports(carrier, sessions=bounds, keys_file=keys_file, budgets_file=budgets_file)
    from agent_common.transports.redis import RedisTransports, redis_client

    return RedisTransports(carrier, redis_client(redis), sessions=bounds)


def _bus(settings: BusSettings | None, client_id: str) -> Bus:
    if settings is None or settings.backend == "memory":
        return MemoryBus()
    from agent_common.bus.kafka import KafkaBus

    return KafkaBus(
        settings.kafka_bootstrap_servers,
        client_id=client_id,
        create_topics=settings.create_topics,
        ride_through_s=settings.ride_through_s,
        member_name=settings.kafka_member_name,
    )
