"""Who owns a session or a run: the user who created it, and only that user.

`claim` is one atomic step: it records the owner when there is none, refreshes
the record's TTL when the caller is the owner, and refuses anyone else. The
gateway answers a refused caller 404, exactly as for an unknown id, so nobody
learns that someone else's session exists.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Literal

from redis.asyncio import Redis

Kind = Literal["session", "run"]

# KEYS: owner key. ARGV: owner, ttl_ms. 1 when the caller owns it (now or already), 0 otherwise.
_CLAIM = """
local current = redis.call('GET', KEYS[1])
if not current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""


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


class MemoryOwnerStore(OwnerStore):
    """The embedded default's owners: in-process, with the same expiry."""

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


class RedisOwnerStore(OwnerStore):
    """`session:{<id>}:owner` and `run:{<id>}:owner`, beside the data they guard."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._claim = redis.register_script(_CLAIM)

    async def claim(self, kind: Kind, item_id: str, owner: str, ttl_s: float) -> bool:
        key = _owner_key(kind, item_id)
        return bool(await self._claim(keys=[key], args=[owner, max(1, int(ttl_s * 1000))]))

    async def claim_new(self, kind: Kind, item_id: str, owner: str, ttl_s: float) -> bool:
        return bool(await self._redis.set(_owner_key(kind, item_id), owner, px=max(1, int(ttl_s * 1000)), nx=True))

    async def owner_of(self, kind: Kind, item_id: str) -> str | None:
        raw = await self._redis.get(_owner_key(kind, item_id))
        if raw is None:
            return None
        return raw.decode() if isinstance(raw, bytes) else str(raw)


def _owner_key(kind: Kind, item_id: str) -> str:
    return f"{kind}:{{{item_id}}}:owner"
