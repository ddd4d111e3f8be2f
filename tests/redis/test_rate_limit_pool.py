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
    limits = RequestLimits(RateLimitSettings(user_per_minute=400, ip_per_minute=400), redis_url)
    ip = f"198.51.100.{uuid.uuid4().int % 250}"
    verdicts = await asyncio.gather(*(limits.hit_ip(ip) for _ in range(400)))  # 2x the pool's 200 connections
    assert verdicts == [None] * 400
    refused = await limits.hit_ip(ip)  # every one of the 400 was counted
    assert refused is not None and refused.remaining == 0 and refused.limit == 400
    assert refused.headers()["Retry-After"] == str(refused.reset_after_s) and 1 <= refused.reset_after_s <= 60
