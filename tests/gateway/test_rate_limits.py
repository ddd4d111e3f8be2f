"""The gateway's request limits: what is counted per user and per IP, and what a refusal's 429 says."""

from __future__ import annotations

from agent_common.rate_limits import MemoryRequestLimiter
from agent_gateway.rate_limits import LimitExceeded, RequestLimits
from agent_gateway.settings import RateLimitSettings


def limits(user: int = 2, ip: int = 3) -> RequestLimits:
    return RequestLimits(RateLimitSettings(user_per_minute=user, ip_per_minute=ip), MemoryRequestLimiter())


async def test_a_user_past_the_limit_is_refused_with_the_window_in_the_headers() -> None:
    limiter = limits(user=2)
    assert [await limiter.hit_user("t", "alice") for _ in range(2)] == [None, None]
    refused = await limiter.hit_user("t", "alice")
    assert isinstance(refused, LimitExceeded)
    assert (refused.limit, refused.remaining) == (2, 0) and 1 <= refused.reset_after_s <= 60
    assert refused.headers() == {
        "X-RateLimit-Limit": "2",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(refused.reset_after_s),
        "Retry-After": str(refused.reset_after_s),
    }


async def test_users_of_different_tenants_and_ips_are_counted_apart() -> None:
    limiter = limits(user=1, ip=1)
    assert await limiter.hit_user("t1", "alice") is None
    assert await limiter.hit_user("t2", "alice") is None
    assert await limiter.hit_ip("alice") is None  # an IP's count is not a user's
    assert await limiter.hit_ip("198.51.100.1") is None
    assert await limiter.hit_ip("198.51.100.1") is not None
