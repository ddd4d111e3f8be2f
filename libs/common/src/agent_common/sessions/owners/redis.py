"""Owners in Redis: `session:{<id>}:owner` and `run:{<id>}:owner`, beside the data they guard."""

from __future__ import annotations

from redis.asyncio import Redis

from agent_common.sessions.owners.base import Kind, OwnerStore

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


class RedisOwnerStore(OwnerStore):
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
