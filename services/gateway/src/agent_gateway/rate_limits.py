"""Rate limits: requests per minute per user and per client IP, and what a refusal says.

The counting is `agent_common.rate_limits` (a moving window of the `limits`
library, in Redis for replicas, so every replica sees the same count); open
streams per user are `StreamSlots` from the same place. The gateway decides
only what is limited, by how much, and the 429's headers.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItemPerMinute

from agent_common.rate_limits import RequestLimiter
from agent_gateway.settings import RateLimitSettings


@dataclass(frozen=True)
class LimitExceeded:
    """A refused hit, with what its 429 says."""

    limit: int
    remaining: int
    reset_after_s: int

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_after_s),
            "Retry-After": str(self.reset_after_s),
        }


class RequestLimits:
    """Requests per minute, per user and per client IP."""

    def __init__(self, settings: RateLimitSettings, limiter: RequestLimiter) -> None:
        self._limiter = limiter
        self._per_user = RateLimitItemPerMinute(settings.user_per_minute)
        self._per_ip = RateLimitItemPerMinute(settings.ip_per_minute)

    async def hit_user(self, tenant: str, user_id: str) -> LimitExceeded | None:
        """Count one request of the user; `None` when it is within the limit."""
        return await self._hit(self._per_user, "user", tenant, user_id)

    async def hit_ip(self, client_ip: str) -> LimitExceeded | None:
        """Count one request from the client IP; `None` when it is within the limit."""
        return await self._hit(self._per_ip, "ip", client_ip)

    async def _hit(self, item: RateLimitItemPerMinute, *identifiers: str) -> LimitExceeded | None:
        if await self._limiter.hit(item, *identifiers):
            return None
        # The window's figures only for a refusal's headers: reading them walks the window's
        # hits, a second round trip that an allowed request (nearly every one) does not need.
        stats = await self._limiter.window(item, *identifiers)
        return LimitExceeded(item.amount, max(0, stats.remaining), max(1, math.ceil(stats.reset_time - time.time())))
