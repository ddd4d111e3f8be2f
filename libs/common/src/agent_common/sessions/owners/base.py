"""Who owns a session or a run: the user who created it, and only that user.

`claim` is one atomic step: it records the owner when there is none, refreshes
the record's TTL when the caller is the owner, and refuses anyone else. The
gateway answers a refused caller 404, exactly as for an unknown id, so nobody
learns that someone else's session exists.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Literal

Kind = Literal["session", "run"]


class OwnerStore(ABC):
    @abstractmethod
    async def claim(self, kind: Kind, item_id: str, owner: str, ttl_s: float) -> bool:
        """Own `item_id` (new, or already ours); False when someone else owns it."""

    @abstractmethod
    async def claim_new(self, kind: Kind, item_id: str, owner: str, ttl_s: float) -> bool:
        """Own `item_id` only if nobody (the caller included) owns it yet: ids that must be used once."""

    @abstractmethod
    async def owner_of(self, kind: Kind, item_id: str) -> str | None: ...

    async def owned_by(self, kind: Kind, item_id: str, owner: str) -> bool:
        return await self.owner_of(kind, item_id) == owner
