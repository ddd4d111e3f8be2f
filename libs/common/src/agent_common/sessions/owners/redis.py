"""Owners in Redis: `session:{<id>}:owner` and `run:{<id>}:owner`, beside the data they guard.

Both claims are safe to send twice (the pool rides through an outage of Redis by sending a
command again): `claim` sets or refreshes the caller's own ownership, and `claim_new` keeps
its attempt id beside the owner for a while (`...:owner:claim`), so its repeat is told the
id is the caller's new one, not one the caller used before.
"""

from __future__ import annotations

from redis.asyncio import Redis

from agent_common.resilience.retried_writes import ATTEMPT_KEPT_S, attempt_id
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
# KEYS: owner key, attempt key. ARGV: owner, ttl_ms, attempt id, attempt kept ms. 1 when the id was free.
_CLAIM_NEW = """
if redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then
  redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
  return 1
end
if redis.call('GET', KEYS[2]) == ARGV[3] then return 1 end
return 0
"""


class RedisOwnerStore(OwnerStore):
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._claim = redis.register_script(_CLAIM)
        self._claim_new = redis.register_script(_CLAIM_NEW)

    async def claim(self, kind: Kind, item_id: str, owner: str, ttl_s: float) -> bool:
        key = _owner_key(kind, item_id)
        return bool(await self._claim(keys=[key], args=[owner, max(1, int(ttl_s * 1000))]))

    async def claim_new(self, kind: Kind, item_id: str, owner: str, ttl_s: float) -> bool:
        key = _owner_key(kind, item_id)
        args: list[str | int] = [owner, max(1, int(ttl_s * 1000)), attempt_id(), ATTEMPT_KEPT_S * 1000]
        return bool(await self._claim_new(keys=[key, f"{key}:claim"], args=args))

    async def owner_of(self, kind: Kind, item_id: str) -> str | None:
        raw = await self._redis.get(_owner_key(kind, item_id))
        if raw is None:
            return None
        return raw.decode() if isinstance(raw, bytes) else str(raw)


def _owner_key(kind: Kind, item_id: str) -> str:
    return f"{kind}:{{{item_id}}}:owner"
