"""The embedded default's owners: in-process, with the same expiry as Redis."""

from __future__ import annotations

import time

from agent_common.sessions.owners.base import Kind, OwnerStore


class MemoryOwnerStore(OwnerStore):
    def __init__(self) -> None:
        self._owners: dict[tuple[Kind, str], tuple[str, float]] = {}

    async def claim(self, kind: Kind, item_id: str, owner: str, ttl_s: float) -> bool:
        now = time.monotonic()
        for key in [k for k, (_, exp) in self._owners.items() if exp < now]:
            del self._owners[key]
        current = self._owners.get((kind, item_id))
        if current is not None and current[0] != owner:
            return False
        self._owners[(kind, item_id)] = (owner, now + ttl_s)
        return True

    async def claim_new(self, kind: Kind, item_id: str, owner: str, ttl_s: float) -> bool:
        if await self.owner_of(kind, item_id) is not None:
            return False
        self._owners[(kind, item_id)] = (owner, time.monotonic() + ttl_s)
        return True

    async def owner_of(self, kind: Kind, item_id: str) -> str | None:
        current = self._owners.get((kind, item_id))
        if current is None or current[1] < time.monotonic():
            return None
        return current[0]
