"""The embedded default's rate limits: in-process counts, the same rules as Redis."""

from __future__ import annotations

import time

from limits.aio.storage import MemoryStorage

from agent_common.rate_limits.base import RequestLimiter, StreamSlots


class MemoryRequestLimiter(RequestLimiter):
    def __init__(self) -> None:
        super().__init__(MemoryStorage())


class MemoryStreamSlots(StreamSlots):
    def __init__(self, limit: int, lease_s: float) -> None:
        super().__init__(limit, lease_s)
        self._held: dict[str, dict[str, float]] = {}

    async def acquire(self, user_key: str, stream_id: str) -> bool:
        now = time.monotonic()
        held = {k: exp for k, exp in self._held.get(user_key, {}).items() if exp > now}
        if len(held) >= self.limit:
            self._held[user_key] = held
            return False
        held[stream_id] = now + self._lease_ms / 1000
        self._held[user_key] = held
        return True

    async def release(self, user_key: str, stream_id: str) -> None:
        held = self._held.get(user_key, {})
        held.pop(stream_id, None)
        if not held:
            self._held.pop(user_key, None)
