"""Fixtures the contract suites' Redis subclasses share: a client on the session's real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def empty_redis_db(redis_url: str) -> AsyncIterator[Redis]:
    """A database of its own, emptied first: for stores whose keys are global (the API-key index)."""
    client = Redis.from_url(redis_url.rsplit("/", 1)[0] + "/13")
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()
