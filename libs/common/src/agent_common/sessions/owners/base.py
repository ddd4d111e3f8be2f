"""Who owns a session or a run: the user who created it, and only that user.

`claim` is one atomic step: it records the owner when there is none, refreshes
the record's TTL when the caller is the owner, and refuses anyone else. The
gateway answers a refused caller 404, exactly as for an unknown id, so nobody
learns that someone else's session exists.

Each owner's sessions are listed too (`owned`), newest claim first, for a page
that shows a user their conversations; the list is kept beside the owner
records, expires with them, and is held to them when read. Runs are not listed:
nothing reads such a list, and keeping it cost every turn a write (in Redis, a
round trip of its own).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

Kind = Literal["session", "run"]

# What `owned` lists: a caller's sessions; a run is only ever looked up by its id.
LISTED_KINDS: frozenset[Kind] = frozenset({"session"})
# The sessions listed per owner at most: the newest are kept.
MAX_LISTED = 200


@dataclass(frozen=True)
class Owned:
    item_id: str
    claimed_at: float
    """When the owner last claimed it (a turn began), in seconds since the epoch."""


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

    @abstractmethod
    async def owned(self, kind: Kind, owner: str) -> list[Owned]:
        """What `owner` still owns of `kind`, by the latest claim, newest first (at most `MAX_LISTED`);
        always empty for a kind not in `LISTED_KINDS`."""
