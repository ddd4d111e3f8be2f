"""The request limiter's contract, in memory and in Redis (the `limits` library's moving window)."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from agent_common.rate_limits import MemoryRequestLimiter, RequestLimiter
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
