"""Session memory in Redis: one list of turns per session, bounded on every write.

`session:{<id>}:turns` holds the turns as JSON, oldest first. An append pushes,
trims to the last `max_turns` and refreshes the TTL in one MULTI/EXEC, so the
list never outgrows its cap and an idle session expires as a whole.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError
from redis.asyncio import Redis

from agent_common.sessions.base import SessionStore, Turn

log = logging.getLogger("agent.sessions")


def _turns_key(session_id: str) -> str:
    return f"session:{{{session_id}}}:turns"


class RedisSessionStore(SessionStore):
    def __init__(self, redis: Redis, *, max_turns: int, ttl_s: float) -> None:
        if max_turns < 1:
            raise ValueError("max_turns must be at least 1")
        self._redis = redis
        self._max_turns = max_turns
        self._ttl_ms = max(1, int(ttl_s * 1000))

    async def history(self, session_id: str) -> list[Turn]:
        turns: list[Turn] = []
        for raw in await self._redis.lrange(_turns_key(session_id), 0, -1):
            try:
                turns.append(Turn.model_validate_json(raw))
            except ValidationError:
                log.warning("skipping an unreadable turn in session history", extra={"session_id": session_id})
        return turns

    async def append(self, session_id: str, turn: Turn) -> None:
        key = _turns_key(session_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, turn.model_dump_json())
            pipe.ltrim(key, -self._max_turns, -1)
            pipe.pexpire(key, self._ttl_ms)
            await pipe.execute()

    async def ping(self) -> bool:
        return bool(await self._redis.ping())
