"""The embedded default's owners: in-process, with the same expiry as Redis.

An expired record counts as none at once; the records themselves are swept out at most
once a second (`SWEEP_EVERY_S`), not on every claim: a walk over every record on every
claim made each turn's cost grow with the runs of the last twenty minutes."""

from __future__ import annotations

import time

from agent_common.sessions.owners.base import LISTED_KINDS, MAX_LISTED, Kind, Owned, OwnerStore

SWEEP_EVERY_S = 1.0


class MemoryOwnerStore(OwnerStore):
    def __init__(self) -> None:
        # (kind, id) -> (owner, monotonic expiry, wall-clock time of the latest claim)
        self._owners: dict[tuple[Kind, str], tuple[str, float, float]] = {}
        self._swept_at = time.monotonic()

    async def claim(self, kind: Kind, item_id: str, owner: str, ttl_s: float) -> bool:
        now = time.monotonic()
        self._sweep(now)
        current = self._owners.get((kind, item_id))
        if current is not None and current[0] != owner and current[1] >= now:
            return False
        self._owners[(kind, item_id)] = (owner, now + ttl_s, time.time())
        return True

    async def claim_new(self, kind: Kind, item_id: str, owner: str, ttl_s: float) -> bool:
        if await self.owner_of(kind, item_id) is not None:
            return False
        self._owners[(kind, item_id)] = (owner, time.monotonic() + ttl_s, time.time())
        return True

    async def owner_of(self, kind: Kind, item_id: str) -> str | None:
        current = self._owners.get((kind, item_id))
        if current is None or current[1] < time.monotonic():
            return None
        return current[0]

    async def owned(self, kind: Kind, owner: str) -> list[Owned]:
        if kind not in LISTED_KINDS:
            return []
        now = time.monotonic()
        found = [
            Owned(item_id, claimed_at)
            for (k, item_id), (who, exp, claimed_at) in self._owners.items()
            if k == kind and who == owner and exp >= now
        ]
        return sorted(found, key=lambda o: o.claimed_at, reverse=True)[:MAX_LISTED]

    def _sweep(self, now: float) -> None:
        if now - self._swept_at < SWEEP_EVERY_S:
            return
        self._swept_at = now
        for key in [k for k, (_, exp, _) in self._owners.items() if exp < now]:
            del self._owners[key]
