"""The rate limiter under a burst: more concurrent requests than Redis connections
wait their turn for a connection; none is refused for want of one."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from agent_gateway.rate_limits import RequestLimits
from agent_gateway.settings import RateLimitSettings

pytestmark = pytest.mark.redis


async def test_a_burst_larger_than_the_connection_pool_is_counted_not_refused(redis_url: str) -> None:
    limits = RequestLimits(RateLimitSettings(user_per_minute=10_000, ip_per_minute=10_000), redis_url)
    ip = f"198.51.100.{uuid.uuid4().int % 250}"
    verdicts = await asyncio.gather(*(limits.hit_ip(ip) for _ in range(400)))  # 2x the pool's 200 connections
    assert all(v.allowed for v in verdicts)
    assert min(v.remaining for v in verdicts) == 10_000 - 400
