"""The run store in Redis, shared by every orchestrator replica.

- `lease:{<key>}`          the owner running a chat request (`chat:<message id>`) or the step after
  a run's tool results (`step:<request id>:<step>`), with a lease it renews, or `done`;
- `lease:{<key>}:payload`  while that work is not done, what whoever takes it over needs (the chat
  request; the step's request id and number);
- `run-leases`             a sorted set of lease keys by the time each runs out, unless renewed
  (the index the takeover sweep reads: an expired key leaves no trace of its own);
- `session-turn:{<id>}`    the request id whose run holds the session's turn, until it ends;
- `run-deadlines`          a sorted set of `<request id> <step>` by the time its tool results are due;
- `run:{<id>}:state`       the run's state as JSON, with a TTL;
- `run:{<id>}:results:<step>` a hash call_id -> outcome JSON, filled as the step's tool results arrive
  (per step: a later step may reuse a call id, and its count starts again), and beside it
  `...:by`, call_id -> the attempt id of the write that recorded it;
- `lease:{<key>}:claim`, `run-leases:taken:<attempt>`, `run-deadlines:taken:<attempt>`: what a
  claim or a take answered, for a while, by its attempt id.

Claiming a run, renewing, finishing and taking over are each one Lua script
over the lease, its request, the index and the session's turn, so no replica
ever sees half of one. `ToolResults.record` is one MULTI/EXEC (HSETNX, HLEN, PEXPIRE), so however the
results of a step interleave across replicas, exactly one caller sees its own
write bring the count to `expected` and continues the run.

Every write here is safe to send twice (`agent_common.resilience.retried_writes`), since
the pool rides through an outage of Redis by sending a command again: renewing,
finishing, abandoning, ending a turn, saving a state and scheduling a deadline are the
same done twice; a claim, a take and a tool result's record carry an attempt id, so a
repeat of the attempt that was carried out gets the answer the first one got (a claim
`TAKEN`, not `HELD`; a take what it took; a record "new") rather than being taken for
another replica's.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from redis.asyncio import Redis

from agent_common.resilience.retried_writes import ATTEMPT_KEPT_S, attempt_id
from agent_common.run_store.base import (
    ClaimResult,
    RunClaims,
    RunStates,
    RunStore,
    SessionTurn,
    ToolDeadlines,
    ToolResults,
)


def _state_key(request_id: str) -> str:
    return f"run:{{{request_id}}}:state"


def _results_key(request_id: str, step: int) -> str:
    return f"run:{{{request_id}}}:results:{step}"


def _lease_key(key: str) -> str:
    return f"lease:{{{key}}}"


def _payload_key(key: str) -> str:
    return f"lease:{{{key}}}:payload"


def _turn_key(session_id: str) -> str:
    return f"session-turn:{{{session_id}}}"


DEADLINES_KEY = "run-deadlines"
LEASES_KEY = "run-leases"
_DONE = "\x00done"

# KEYS lease, payload, index, claim attempt[, session turn]; ARGV owner, lease ms, done marker, payload,
# keep ms, lease key, the lease's end (epoch s), attempt id, attempt kept ms[, request id].
# Returns taken / held / done / session_busy.
_CLAIM = """
local held = redis.call('GET', KEYS[1])
if held == ARGV[1] and redis.call('GET', KEYS[4]) == ARGV[8] then return 'taken' end
if held == ARGV[3] then return 'done' end
if held then return 'held' end
if KEYS[5] then
  local turn = redis.call('GET', KEYS[5])
  if turn and turn ~= ARGV[10] then return 'session_busy' end
  redis.call('SET', KEYS[5], ARGV[10], 'PX', ARGV[5])
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[5])
redis.call('SET', KEYS[4], ARGV[8], 'PX', ARGV[9])
redis.call('ZADD', KEYS[3], ARGV[7], ARGV[6])
return 'taken'
"""
# KEYS lease, index; ARGV owner, lease ms, lease key, the lease's end, done marker. 1 when renewed.
_RENEW = """
local held = redis.call('GET', KEYS[1])
if held and held ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
return 1
"""
# KEYS lease, payload, index; ARGV done marker, done ms, lease key.
_FINISH = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[3])
"""
# KEYS lease, index; ARGV owner, lease key. Due at once for the next sweep.
_ABANDON = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('ZADD', KEYS[2], 0, ARGV[2])
end
"""
# KEYS the index, what this attempt took; ARGV now, limit, owner, lease ms, the new lease's end, done
# marker, attempt kept ms. The taken entries, key then payload. The lease key, not the index, says whether
# work is live: an entry whose lease is live is moved to that lease's end; one that is done, or whose
# payload expired, is dropped. An attempt sent again gets what it took the first time.
_TAKE_EXPIRED = """
if redis.call('EXISTS', KEYS[2]) == 1 then return redis.call('LRANGE', KEYS[2], 0, -1) end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local taken = {}
for _, member in ipairs(due) do
  local lease = 'lease:{' .. member .. '}'
  local held = redis.call('GET', lease)
  local payload = redis.call('GET', lease .. ':payload')
  if held == ARGV[6] or (not held and not payload) then
    redis.call('ZREM', KEYS[1], member)
  elseif held then
    redis.call('ZADD', KEYS[1], tostring(tonumber(ARGV[1]) + redis.call('PTTL', lease) / 1000), member)
  else
    redis.call('SET', lease, ARGV[3], 'PX', ARGV[4])
    redis.call('ZADD', KEYS[1], ARGV[5], member)
    table.insert(taken, member)
    table.insert(taken, payload)
  end
end
if #taken > 0 then
  redis.call('RPUSH', KEYS[2], unpack(taken))
  redis.call('PEXPIRE', KEYS[2], ARGV[7])
end
return taken
"""
# KEYS session turn; ARGV request id.
_END_TURN = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
"""
# KEYS the deadlines set, what this attempt took; ARGV now, limit, attempt kept ms. Members whose time
# has come, removed: ZREM decides who got one. An attempt sent again gets what it took the first time.
_TAKE_DUE = """
if redis.call('EXISTS', KEYS[2]) == 1 then return redis.call('LRANGE', KEYS[2], 0, -1) end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
if #due > 0 then
  redis.call('ZREM', KEYS[1], unpack(due))
  redis.call('RPUSH', KEYS[2], unpack(due))
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
return due
"""
# KEYS the step's results, who recorded each; ARGV call id, outcome JSON, ttl ms, attempt id.
# Returns whether this attempt recorded it, and how many the step has.
_RECORD = """
local added = redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
if added == 1 then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
elseif redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[4] then
  added = 1
end
local count = redis.call('HLEN', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return {added, count}
"""


def _ms(ttl_s: float) -> int:
    return max(1, int(ttl_s * 1000))


_ATTEMPT_KEPT_MS = _ms(ATTEMPT_KEPT_S)

RecentOutage = Callable[[float], bool]
"""Whether this process found Redis unreachable within the last so many seconds."""


class RedisRunClaims(RunClaims):
    def __init__(self, redis: Redis, recent_outage: RecentOutage | None = None) -> None:
        self._redis = redis
        self._recent_outage = recent_outage

    async def claim(
        self, key: str, payload: str, owner: str, lease_s: float, keep_s: float, turn: SessionTurn | None = None
    ) -> ClaimResult:
        keys = [_lease_key(key), _payload_key(key), LEASES_KEY, f"{_lease_key(key)}:claim"]
        args: list[str | int | float] = [
            owner,
            _ms(lease_s),
            _DONE,
            payload,
            _ms(keep_s),
            key,
            time.time() + lease_s,
            attempt_id(),
            _ATTEMPT_KEPT_MS,
        ]
        if turn is not None:
            keys.append(_turn_key(turn.session_id))
            args.append(turn.request_id)
        return ClaimResult(_text(await self._redis.eval(_CLAIM, len(keys), *keys, *args)))

    async def claimed(self, key: str) -> bool:
        # The lease key holds its owner while the work runs, then the done marker.
        return bool(await self._redis.exists(_lease_key(key)))

    async def renew(self, key: str, owner: str, lease_s: float) -> bool:
        renewed = await self._redis.eval(
            _RENEW, 2, _lease_key(key), LEASES_KEY, owner, _ms(lease_s), key, time.time() + lease_s
        )
        return bool(renewed)

    async def finish(self, key: str, ttl_s: float) -> None:
        await self._redis.eval(_FINISH, 3, _lease_key(key), _payload_key(key), LEASES_KEY, _DONE, _ms(ttl_s), key)

    async def abandon(self, key: str, owner: str) -> None:
        await self._redis.eval(_ABANDON, 2, _lease_key(key), LEASES_KEY, owner, key)

    async def take_expired(self, owner: str, lease_s: float, limit: int) -> list[tuple[str, str]]:
        # A lease kept running out while nobody could reach Redis to renew it: not a sign that its
        # replica died. For one lease after this process last found Redis away, its live owner has
        # the time to renew it (a vanished or lapsed lease nobody took is taken back on renewal).
        if self._recent_outage is not None and self._recent_outage(lease_s):
            return []
        now = time.time()
        taken_key = f"{LEASES_KEY}:taken:{attempt_id()}"
        taken = await self._redis.eval(
            _TAKE_EXPIRED,
            2,
            LEASES_KEY,
            taken_key,
            now,
            limit,
            owner,
            _ms(lease_s),
            now + lease_s,
            _DONE,
            _ATTEMPT_KEPT_MS,
        )
        flat = [_text(item) for item in taken]
        return list(zip(flat[::2], flat[1::2], strict=True))

    async def end_turn(self, session_id: str, request_id: str) -> None:
        await self._redis.eval(_END_TURN, 1, _turn_key(session_id), request_id)


class RedisRunStates(RunStates):
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def save(self, request_id: str, state_json: str, ttl_s: float) -> None:
        await self._redis.set(_state_key(request_id), state_json, px=_ms(ttl_s))

    async def load(self, request_id: str) -> str | None:
        raw = await self._redis.get(_state_key(request_id))
        return None if raw is None else _text(raw)

    async def delete(self, request_id: str) -> None:
        # Results hashes expire on their own TTL; the state is what makes a run live.
        await self._redis.delete(_state_key(request_id))


class RedisToolResults(ToolResults):
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def record(
        self, request_id: str, step: int, call_id: str, outcome_json: str, expected: int, ttl_s: float
    ) -> tuple[bool, bool]:
        key = _results_key(request_id, step)
        added, count = await self._redis.eval(
            _RECORD, 2, key, f"{key}:by", call_id, outcome_json, _ms(ttl_s), attempt_id()
        )
        is_new = bool(added)
        return is_new, is_new and int(count) == expected

    async def of_step(self, request_id: str, step: int) -> dict[str, str]:
        raw = await self._redis.hgetall(_results_key(request_id, step))
        return {_text(k): _text(v) for k, v in raw.items()}


class RedisToolDeadlines(ToolDeadlines):
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def schedule(self, request_id: str, step: int, due_at: float) -> None:
        await self._redis.zadd(DEADLINES_KEY, {f"{request_id} {step}": due_at})

    async def take_due(self, now: float, limit: int = 100) -> list[tuple[str, int]]:
        taken_key = f"{DEADLINES_KEY}:taken:{attempt_id()}"
        due = await self._redis.eval(_TAKE_DUE, 2, DEADLINES_KEY, taken_key, now, limit, _ATTEMPT_KEPT_MS)
        taken: list[tuple[str, int]] = []
        for member in due:
            request_id, _, step = _text(member).partition(" ")
            if step.isdigit():
                taken.append((request_id, int(step)))
        return taken


class RedisRunStore(RunStore):
    """Every concern over one shared client (one connection pool per process)."""

    def __init__(self, redis: Redis, recent_outage: RecentOutage | None = None) -> None:
        super().__init__(
            RedisRunClaims(redis, recent_outage),
            RedisRunStates(redis),
            RedisToolResults(redis),
            RedisToolDeadlines(redis),
        )
        self._redis = redis

    async def ping(self) -> bool:
        return bool(await self._redis.ping())


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
