"""Run state in Redis, shared by every orchestrator replica.

- `lease:{<key>}`          the owner working on a message, with a lease it renews, or `done`;
- `run-deadlines`          a sorted set of `<request id> <step>` by the time its tool results are due;
- `run:{<id>}:state`       the run's state as JSON, with a TTL;
- `run:{<id>}:results:<step>` a hash call_id -> outcome JSON, filled as the step's tool results arrive
  (per step: a later step may reuse a call id, and its count starts again).

`record_tool_result` is one MULTI/EXEC (HSETNX, HLEN, PEXPIRE), so however the
results of a step interleave across replicas, exactly one caller sees its own
write bring the count to `expected` and continues the run.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError
from redis.asyncio import Redis

from agent_orchestrator.runs.base import Lease, RunStore
from agent_orchestrator.runs.state import RunState

log = logging.getLogger("agent.orchestrator.runs")


def _state_key(request_id: str) -> str:
    return f"run:{{{request_id}}}:state"


def _results_key(request_id: str, step: int) -> str:
    return f"run:{{{request_id}}}:results:{step}"


def _lease_key(key: str) -> str:
    return f"lease:{{{key}}}"


DEADLINES_KEY = "run-deadlines"
_DONE = "\x00done"

# KEYS[1] lease; ARGV owner, lease ms, done marker. Returns taken / held / done.
_BEGIN = """
local held = redis.call('GET', KEYS[1])
if not held then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 'taken'
end
if held == ARGV[3] then return 'done' end
return 'held'
"""
# KEYS[1] lease; ARGV owner, lease ms. 1 when renewed.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
# KEYS[1] the deadlines set; ARGV now, limit. Members whose time has come, removed: ZREM decides who got one.
_TAKE_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
if #due > 0 then redis.call('ZREM', KEYS[1], unpack(due)) end
return due
"""


def _ms(ttl_s: float) -> int:
    return max(1, int(ttl_s * 1000))


class RedisRunStore(RunStore):
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def begin(self, key: str, owner: str, lease_s: float) -> Lease:
        found = await self._redis.eval(_BEGIN, 1, _lease_key(key), owner, _ms(lease_s), _DONE)
        return Lease(_text(found))

    async def renew(self, key: str, owner: str, lease_s: float) -> bool:
        return bool(await self._redis.eval(_RENEW, 1, _lease_key(key), owner, _ms(lease_s)))

    async def finish(self, key: str, ttl_s: float) -> None:
        await self._redis.set(_lease_key(key), _DONE, px=_ms(ttl_s))

    async def schedule_deadline(self, request_id: str, step: int, due_at: float) -> None:
        await self._redis.zadd(DEADLINES_KEY, {f"{request_id} {step}": due_at})

    async def take_due_deadlines(self, now: float, limit: int = 100) -> list[tuple[str, int]]:
        due = await self._redis.eval(_TAKE_DUE, 1, DEADLINES_KEY, now, limit)
        taken: list[tuple[str, int]] = []
        for member in due:
            request_id, _, step = _text(member).partition(" ")
            if step.isdigit():
                taken.append((request_id, int(step)))
        return taken

    async def save(self, state: RunState, ttl_s: float) -> None:
        await self._redis.set(_state_key(state.request_id), state.model_dump_json(), px=_ms(ttl_s))

    async def load(self, request_id: str) -> RunState | None:
        raw = await self._redis.get(_state_key(request_id))
        if raw is None:
            return None
        try:
            return RunState.model_validate_json(raw)
        except ValidationError:
            log.error("unreadable run state; treating the run as gone", extra={"request_id": request_id})
            return None

    async def delete(self, request_id: str) -> None:
        # Results hashes expire on their own TTL; the state is what makes a run live.
        await self._redis.delete(_state_key(request_id))

    async def record_tool_result(
        self, request_id: str, step: int, call_id: str, outcome_json: str, expected: int, ttl_s: float
    ) -> tuple[bool, bool]:
        key = _results_key(request_id, step)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, call_id, outcome_json)
            pipe.hlen(key)
            pipe.pexpire(key, _ms(ttl_s))
            added, count, _ = await pipe.execute()
        is_new = bool(added)
        return is_new, is_new and int(count) == expected

    async def tool_results(self, request_id: str, step: int) -> dict[str, str]:
        raw = await self._redis.hgetall(_results_key(request_id, step))
        return {_text(k): _text(v) for k, v in raw.items()}

    async def ping(self) -> bool:
        return bool(await self._redis.ping())


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
