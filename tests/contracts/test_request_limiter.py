"""The request limiter's contract, in memory and in Redis (the `limits` library's moving window)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from limits import RateLimitItemPerSecond
from redis.asyncio import Redis

from agent_common.rate_limits import MemoryRequestLimiter, RequestLimiter
from agent_common.rate_limits.memory import SweptMemoryStorage
from agent_common.rate_limits.redis import RedisRequestLimiter
from tests.contracts.request_limiter import RequestLimiterContract


class TestMemoryRequestLimiter(RequestLimiterContract):
    @pytest.fixture
    def limiter(self) -> RequestLimiter:
        return MemoryRequestLimiter()


@pytest.mark.redis
class TestRedisRequestLimiter(RequestLimiterContract):
    @pytest.fixture
    def limiter(self, redis_client: Redis) -> RequestLimiter:
        return RedisRequestLimiter(redis_client)


async def test_the_memory_limiter_forgets_passed_hits_on_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Its storage's sweep replaces the library's (a thread hop per key at every hit): a library
    release that stopped calling it would show here as a thread, or as hits never forgotten."""
    threads: list[object] = []
    real_to_thread = asyncio.to_thread

    async def to_thread(func: Callable[..., object], /, *args: object, **kwargs: object) -> object:
        threads.append(func)
        return await real_to_thread(func, *args, **kwargs)

    monkeypatch.setattr(asyncio, "to_thread", to_thread)
    limiter = MemoryRequestLimiter(sweep_every_s=0)
    second = RateLimitItemPerSecond(5)
    for _ in range(3):
        assert await limiter.hit(second, "user", "gone-soon")
    await asyncio.sleep(1.1)  # their window has passed
    assert await limiter.hit(second, "user", "still-here")
    for _ in range(5):
        await asyncio.sleep(0)  # a sweep task, had the library started one
    storage = limiter.storage
    assert isinstance(storage, SweptMemoryStorage)
    assert [key for key in storage.events if "gone-soon" in key] == []
    assert [key for key in storage.events if "still-here" in key] != []
    assert threads == []
