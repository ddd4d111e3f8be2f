"""Session memory in Redis: one list of turns per session, bounded on every write.

`session:{<id>}:turns` holds the turns as JSON, oldest first. An append is one
Lua script: push, trim to the last `max_turns`, drop the oldest while the
turns' estimated tokens exceed `max_tokens` (the newest always stays), and
refresh the TTL; so the list never outgrows its caps, whatever replicas
append at once, and an idle session expires as a whole. A request's turn is
appended once: the script skips a turn whose request is in the list already, so
an append sent again (riding through an outage of Redis) adds nothing.
"""

from __future__ import annotations

import json
import logging

from pydantic import ValidationError
from redis.asyncio import Redis

from agent_common.sessions.base import SessionStore, Turn

log = logging.getLogger("agent.sessions")

# KEYS[1] the turns; ARGV turn JSON, max turns, max tokens (0: none), TTL ms, the turn's request id as
# its JSON says it. A plain search: a user's text holding that key would be escaped (\"request_id\").
_APPEND = """
for _, raw in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if string.find(raw, ARGV[5], 1, true) then
    redis.call('PEXPIRE', KEYS[1], ARGV[4])
    return 0
  end
end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
local budget = tonumber(ARGV[3])
if budget > 0 then
  local turns = redis.call('LRANGE', KEYS[1], 0, -1)
  local total = 0
  local costs = {}
  for i, raw in ipairs(turns) do
    local ok, turn = pcall(cjson.decode, raw)
    local cost = (ok and tonumber(turn['tokens'])) or 0
    costs[i] = cost
    total = total + cost
  end
  local dropped = 0
  while total > budget and (#turns - dropped) > 1 do
    dropped = dropped + 1
    total = total - costs[dropped]
  end
  if dropped > 0 then redis.call('LTRIM', KEYS[1], dropped, -1) end
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
"""


def _turns_key(session_id: str) -> str:
    return f"session:{{{session_id}}}:turns"


class RedisSessionStore(SessionStore):
    def __init__(self, redis: Redis, *, max_turns: int, ttl_s: float, max_tokens: int | None = None) -> None:
        if max_turns < 1:
            raise ValueError("max_turns must be at least 1")
        self._redis = redis
        self._max_turns = max_turns
        self._max_tokens = max_tokens or 0
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
        stored = turn if turn.tokens else turn.model_copy(update={"tokens": turn.cost()})
        await self._redis.eval(
            _APPEND,
            1,
            _turns_key(session_id),
            stored.model_dump_json(exclude_none=True),  # a turn of a whole answer keeps its old shape
            self._max_turns,
            self._max_tokens,
            self._ttl_ms,
            f'"request_id":{json.dumps(stored.request_id, ensure_ascii=False)}',
        )

    async def ping(self) -> bool:
        return bool(await self._redis.ping())
