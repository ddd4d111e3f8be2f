"""The embedded default's rate limits: in-process counts, the same rules as Redis."""

from __future__ import annotations

import bisect
import time

from limits.aio.storage import MemoryStorage

from agent_common.rate_limits.base import RequestLimiter, StreamSlots

SWEEP_EVERY_S = 1.0


class SweptMemoryStorage(MemoryStorage):
    """The `limits` library's in-process storage, its expired hits swept on the event loop at most
    every `sweep_every_s`. The library's own sweep starts again at every hit once the last is done,
    and hops to a thread for each key, holding that key's lock across the hop: two thread
    round trips a request, each the GIL changing hands (about 1.5 ms of CPU a request at 50
    streams, docs/benchmarks.md), to bisect a list."""

    def __init__(self, sweep_every_s: float = SWEEP_EVERY_S) -> None:
        super().__init__()
        self._sweep_every_s = sweep_every_s
        self._next_sweep = 0.0

    async def _MemoryStorage__schedule_expiry(self) -> None:  # the library's hook, called at every hit
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + self._sweep_every_s
            self.sweep()

    def sweep(self) -> None:
        """Forget hits whose window has passed, and keys with none left (no await: no lock is held)."""
        now = time.time()
        for key, events in list(self.events.items()):
            expired_from = bisect.bisect_left(events, -now, key=lambda event: -event.expiry)  # newest first
            del events[expired_from:]
            if not events:
                del self.events[key]
                self.locks.pop(key, None)
        for key, expires_at in list(self.expirations.items()):
            if expires_at <= now:
                self.storage.pop(key, None)
                del self.expirations[key]
                self.locks.pop(key, None)


class MemoryRequestLimiter(RequestLimiter):
    def __init__(self, sweep_every_s: float = SWEEP_EVERY_S) -> None:
        super().__init__(SweptMemoryStorage(sweep_every_s))


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
