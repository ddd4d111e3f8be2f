"""The rate limiter under a burst: more concurrent requests than Redis connections
wait their turn for a connection; none is refused for want of one. (2x the pool's
200 connections then; the shared pool's default is 100, so 4x now.)"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from agent_common.rate_limits.redis import RedisRequestLimiter
from agent_common.settings import RedisSettings
from agent_common.transports.redis import redis_client
from agent_gateway.rate_limits import RequestLimits
from agent_gateway.settings import RateLimitSettings

pytestmark = pytest.mark.redis


async def test_a_burst_larger_than_the_connection_pool_is_counted_not_refused(redis_url: str) -> None:
    shared = redis_client(RedisSettings(url=redis_url))  # the process's one pool, as the gateway's transports open it
    limits = RequestLimits(RateLimitSettings(user_per_minute=400, ip_per_minute=400), RedisRequestLimiter(shared))
    ip = f"198.51.100.{uuid.uuid4().int % 250}"
    verdicts = await asyncio.gather(*(limits.hit_ip(ip) for _ in range(400)))  # 2x the pool's 200 connections
    assert verdicts == [None] * 400
    refused = await limits.hit_ip(ip)  # every one of the 400 was counted
    assert refused is not None and refused.remaining == 0 and refused.limit == 400
    assert refused.headers()["Retry-After"] == str(refused.reset_after_s) and 1 <= refused.reset_after_s <= 60
    await shared.aclose()
