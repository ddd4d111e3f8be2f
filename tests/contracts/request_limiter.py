"""The `RequestLimiter` contract, run against every implementation (`test_request_limiter.py`)."""

from __future__ import annotations

import time
import uuid

from limits import RateLimitItemPerMinute

from agent_common.rate_limits import RequestLimiter


class RequestLimiterContract:
    """Subclasses provide the `limiter` fixture: the limiter under test."""

    async def test_hits_within_the_limit_pass_and_the_next_is_refused(self, limiter: RequestLimiter) -> None:
        item, who = RateLimitItemPerMinute(3), uuid.uuid4().hex
        assert [await limiter.hit(item, "user", who) for _ in range(4)] == [True, True, True, False]

    async def test_a_full_window_says_when_it_frees(self, limiter: RequestLimiter) -> None:
        item, who = RateLimitItemPerMinute(2), uuid.uuid4().hex
        for _ in range(3):
            await limiter.hit(item, "ip", who)
        stats = await limiter.window(item, "ip", who)
        assert stats.remaining == 0
        assert time.time() < stats.reset_time <= time.time() + 61

    async def test_identifiers_are_counted_apart(self, limiter: RequestLimiter) -> None:
        item = RateLimitItemPerMinute(1)
        assert await limiter.hit(item, "user", uuid.uuid4().hex) is True
        assert await limiter.hit(item, "user", uuid.uuid4().hex) is True

    async def test_an_untouched_window_is_whole(self, limiter: RequestLimiter) -> None:
        item = RateLimitItemPerMinute(5)
        assert (await limiter.window(item, "user", uuid.uuid4().hex)).remaining == 5
