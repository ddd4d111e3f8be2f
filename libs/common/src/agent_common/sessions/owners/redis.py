"""Owners in Redis: `session:{<id>}:owner` and `run:{<id>}:owner`, beside the data they guard.

Both claims are safe to send twice (the pool rides through an outage of Redis by sending a
command again): `claim` sets or refreshes the caller's own ownership, and `claim_new` keeps
its attempt id beside the owner for a while (`...:owner:claim`), so its repeat is told the
id is the caller's new one, not one the caller used before.

Each owner's list of sessions is a sorted set, `owned:{<owner>}:session`, scored by the
time of the latest claim (runs are not listed: `LISTED_KINDS`). It is written after the
claim, not in its script (the two keys live in different cluster slots), in the same
pipeline: one round trip. A member whose owner record expired or changed is dropped when
the list is read, so the list never shows what the owner no longer owns. Writing it twice
is writing it once (ZADD of the same member, trims and expiries).
"""

from __future__ import annotations

import time

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from agent_common.resilience.retried_writes import ATTEMPT_KEPT_S, attempt_id
from agent_common.sessions.owners.base import LISTED_KINDS, MAX_LISTED, Kind, Owned, OwnerStore

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
        key, ttl_ms = _owner_key(kind, item_id), max(1, int(ttl_s * 1000))
        return await self._claimed(self._claim, [key], [owner, ttl_ms], kind, item_id, owner, ttl_ms)

    async def claim_new(self, kind: Kind, item_id: str, owner: str, ttl_s: float) -> bool:
        key, ttl_ms = _owner_key(kind, item_id), max(1, int(ttl_s * 1000))
        args: list[str | int] = [owner, ttl_ms, attempt_id(), ATTEMPT_KEPT_S * 1000]
        return await self._claimed(self._claim_new, [key, f"{key}:claim"], args, kind, item_id, owner, ttl_ms)

    async def _claimed(
        self,
        script: AsyncScript,
        keys: list[str],
        args: list[str | int],
        kind: Kind,
        item_id: str,
        owner: str,
        ttl_ms: int,
    ) -> bool:
        """The claim, and for a listed kind its listing, in one round trip: listed first and taken
        off again should the claim be refused (rare: someone else's id). A reader never sees the
        refused one (`owned` keeps only what its owner record confirms); the one cost is the
        refused caller's own: at `MAX_LISTED` its oldest listed session is trimmed by it."""
        if kind not in LISTED_KINDS:
            return bool(await script(keys=keys, args=args))
        listed = _owned_key(kind, owner)
        async with self._redis.pipeline(transaction=False) as pipe:
            # EVALSHA itself: a pipeline of `Script` calls would ask SCRIPT EXISTS on every execute.
            pipe.evalsha(script.sha, len(keys), *keys, *args)
            pipe.zadd(listed, {item_id: time.time()})
            pipe.zremrangebyrank(listed, 0, -MAX_LISTED - 1)
            # The list outlives none of its members' records: the newest claim's TTL is its own.
            pipe.pexpire(listed, ttl_ms, gt=True)
            pipe.pexpire(listed, ttl_ms, nx=True)
            claimed, *writes = await pipe.execute(raise_on_error=False)
        if isinstance(claimed, NoScriptError):  # Redis restarted or flushed its scripts: loaded and run again
            claimed = await script(keys=keys, args=args)
        for result in (claimed, *writes):
            if isinstance(result, Exception):
                raise result
        if not claimed:
            await self._redis.zrem(listed, item_id)
        return bool(claimed)

    async def owned(self, kind: Kind, owner: str) -> list[Owned]:
        if kind not in LISTED_KINDS:
            return []
        key = _owned_key(kind, owner)
        listed: list[tuple[bytes | str, float]] = await self._redis.zrevrange(  # type: ignore[assignment]
            key, 0, MAX_LISTED - 1, withscores=True
        )
        ids = [m.decode() if isinstance(m, bytes) else str(m) for m, _ in listed]
        current = [await self.owner_of(kind, item_id) for item_id in ids]
        gone = [item_id for item_id, who in zip(ids, current, strict=True) if who != owner]
        if gone:
            await self._redis.zrem(key, *gone)
        return [
            Owned(item_id, score)
            for (item_id, who), (_, score) in zip(zip(ids, current, strict=True), listed, strict=True)
            if who == owner
        ]

    async def owner_of(self, kind: Kind, item_id: str) -> str | None:
        raw = await self._redis.get(_owner_key(kind, item_id))
        if raw is None:
            return None
        return raw.decode() if isinstance(raw, bytes) else str(raw)


def _owner_key(kind: Kind, item_id: str) -> str:
    return f"{kind}:{{{item_id}}}:owner"


def _owned_key(kind: Kind, owner: str) -> str:
    return f"owned:{{{owner}}}:{kind}"
