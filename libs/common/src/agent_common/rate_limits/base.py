"""The rate-limit interfaces: a moving-window request counter and leased stream slots.

Requests per window use the `limits` library's moving window, exact (no burst of
twice the limit across a window edge, as a fixed window allows). Open streams are
a count of things in progress, not of events in a window, which `limits` does not
model: a small semaphore with leases, so a holder that dies frees its slot when
the lease runs out.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from limits import RateLimitItem
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.util import WindowStats

__all__ = ["RequestLimiter", "StreamSlots", "WindowStats"]


class RequestLimiter:
    """Counts hits per identifiers in a moving window, on a `limits` storage."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._limiter = MovingWindowRateLimiter(storage)

    async def hit(self, item: RateLimitItem, *identifiers: str) -> bool:
        """Count one hit; False when the window is already full (the hit is then not counted)."""
        return await self._limiter.hit(item, *identifiers)

    async def window(self, item: RateLimitItem, *identifiers: str) -> WindowStats:
        """The window's remaining hits and reset time (walks the window: only worth it for a refusal)."""
        return await self._limiter.get_window_stats(item, *identifiers)


class StreamSlots(ABC):
    """At most `limit` open streams per user, each slot held under a lease."""

    def __init__(self, limit: int, lease_s: float) -> None:
        self.limit = limit
        self._lease_ms = max(1000, int(lease_s * 1000))

    @abstractmethod
    async def acquire(self, user_key: str, stream_id: str) -> bool: ...

    @abstractmethod
    async def release(self, user_key: str, stream_id: str) -> None: ...
