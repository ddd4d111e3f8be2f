"""A Redis client on the session's real Redis server, for each test; a Redis of the test's own
that keeps its data, for the tests that crash or pause it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from agent_common.run_events.redis import RedisRunEventChannel
from agent_common.settings import RedisSettings
from agent_common.transports.redis import redis_client
from tests.support.services import RedisServer, start_durable_redis


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Redis]:
    c = Redis.from_url(redis_url)
    yield c
    await c.aclose()


@pytest.fixture
def durable_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own that keeps every acknowledged write across a crash."""
    server = start_durable_redis(tmp_path)
    yield server
    server.stop()


@pytest.fixture
async def publisher(redis_url: str) -> AsyncIterator[RedisRunEventChannel]:
    """The orchestrator's side: its own client as the transports make it, so events cross a real
    connection, batched as a process sends them."""
    c = redis_client(RedisSettings(url=redis_url))
    yield RedisRunEventChannel(c)
    await c.aclose()
