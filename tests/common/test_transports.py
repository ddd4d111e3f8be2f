"""`agent_common.transports`: the one choice of memory or Redis, one Redis pool, and the start/stop order."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from agent_common.bus import MemoryBus
from agent_common.rate_limits.redis import RedisRequestLimiter
from agent_common.run_events import MemoryRunEventChannel
from agent_common.run_store import MemoryRunStore
from agent_common.sessions import SessionBounds
from agent_common.settings import BusSettings, RedisSettings
from agent_common.transports import ConfigurationError, MemoryTransports, open_transports
from agent_common.transports.redis import RedisTransports


def test_kafka_without_redis_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="set REDIS_URL"):
        open_transports(BusSettings(backend="kafka"), RedisSettings(url=None), client_id="t")


def test_a_process_that_shares_no_state_needs_no_redis_even_over_kafka() -> None:
    transports = open_transports(BusSettings(backend="kafka"), None, client_id="tool-runner")
    assert isinstance(transports, MemoryTransports)
    assert not isinstance(transports.bus, MemoryBus)


def test_without_redis_everything_is_in_memory() -> None:
    transports = open_transports(None, None, client_id="embedded", sessions=SessionBounds(3, 60))
    assert isinstance(transports, MemoryTransports) and isinstance(transports.bus, MemoryBus)
    assert isinstance(transports.run_events, MemoryRunEventChannel)
    assert isinstance(transports.run_store, MemoryRunStore)
    assert transports.sessions is transports.sessions  # one store per process: the gateway reads what runs wrote


async def test_with_redis_every_store_and_the_limiter_share_one_pool() -> None:
    settings = RedisSettings(url=SecretStr("redis://127.0.0.1:1/0"))
    transports = open_transports(BusSettings(backend="memory"), settings, client_id="gateway")
    assert isinstance(transports, RedisTransports)
    pool = transports.redis.connection_pool
    limiter = transports.request_limiter
    assert isinstance(limiter, RedisRequestLimiter)
    assert limiter.storage.bridge.storage.connection_pool is pool  # type: ignore[attr-defined]
    stores = (transports.sessions, transports.owners, transports.api_keys, transports.stream_slots(1, 60))
    for store in (*stores, transports.run_store, transports.run_events):
        assert store._redis is transports.redis  # type: ignore[attr-defined]
    await transports.aclose()


class _Recorded(MemoryTransports):
    def __init__(self, calls: list[str]) -> None:
        super().__init__(_RecordedBus(calls), sessions=SessionBounds())
        self.calls = calls

    def _open_run_events(self) -> MemoryRunEventChannel:
        return _RecordedChannel(self.calls)

    async def aclose(self) -> None:
        self.calls.append("pool closed")


class _RecordedBus(MemoryBus):
    def __init__(self, calls: list[str]) -> None:
        super().__init__()
        self.calls = calls

    async def start(self) -> None:
        self.calls.append("bus started")
        await super().start()

    async def stop(self) -> None:
        self.calls.append("bus stopped")
        await super().stop()


class _RecordedChannel(MemoryRunEventChannel):
    def __init__(self, calls: list[str]) -> None:
        super().__init__()
        self.calls = calls

    async def start(self) -> None:
        self.calls.append("events started")

    async def stop(self) -> None:
        self.calls.append("events stopped")


async def test_entering_starts_the_channel_then_the_bus_and_leaving_stops_them_in_reverse() -> None:
    transports = _Recorded([])
    assert transports.run_events is not None  # asked for before entering, as a process builds its parts
    async with transports:
        assert transports.calls == ["events started", "bus started"]
    assert transports.calls[2:] == ["bus stopped", "events stopped", "pool closed"]


async def test_a_channel_nobody_asked_for_is_never_started() -> None:
    transports = _Recorded([])
    async with transports:
        pass
    assert transports.calls == ["bus started", "bus stopped", "pool closed"]
