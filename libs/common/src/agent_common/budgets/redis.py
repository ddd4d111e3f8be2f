"""Budgets and spend in Redis, shared by every gateway replica and every ledger writer.

- `budgets`                               a hash, scope (`tenant` or `tenant/key`) -> budget (JSON);
  no TTL: budgets live until removed (the Redis must persist, as for API keys);
- `budget:{<tenant>}:spend:<YYYY-MM>`     a hash: `cost` (nano-dollars), `tokens`, and
  `key:<id>:cost`, `key:<id>:tokens` for each key that spent;
- `budget:{<tenant>}:counted:<YYYY-MM>`   a set of the request ids counted (the idempotency);
- `budget:{<tenant>}:warned:<YYYY-MM>`    a set of the scopes warned about.

A period's keys share the tenant's hash tag, so one script reaches them all, and expire
after the period plus a margin. Recording a spend is one Lua script (check the request
id, add, read the totals): exact whichever replica writes, and safe to send twice when
the pool rides through an outage of Redis.
"""

from __future__ import annotations

from decimal import Decimal

from redis.asyncio import Redis

from agent_common.budgets.base import Budget, BudgetStore, Spend, SpendSnapshot, scope_of, to_nanos
from agent_common.budgets.periods import counters_expire_at

_BUDGETS = "budgets"

# KEYS: counted set, spend hash. ARGV: request id, nano-dollars, tokens, key id or '', expiry (unix s).
# Returns nil for a request counted already, else the tenant's and the key's totals.
_RECORD = """
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then
  return false
end
redis.call('HINCRBY', KEYS[2], 'cost', ARGV[2])
redis.call('HINCRBY', KEYS[2], 'tokens', ARGV[3])
local fields = {'cost', 'tokens'}
if ARGV[4] ~= '' then
  local prefix = 'key:' .. ARGV[4] .. ':'
  redis.call('HINCRBY', KEYS[2], prefix .. 'cost', ARGV[2])
  redis.call('HINCRBY', KEYS[2], prefix .. 'tokens', ARGV[3])
  fields = {'cost', 'tokens', prefix .. 'cost', prefix .. 'tokens'}
end
redis.call('EXPIREAT', KEYS[1], ARGV[5])
redis.call('EXPIREAT', KEYS[2], ARGV[5])
return redis.call('HMGET', KEYS[2], unpack(fields))
"""

# KEYS: warned set. ARGV: scope, expiry (unix s).
_WARN = """
local added = redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIREAT', KEYS[1], ARGV[2])
return added
"""


def _key(tenant: str, kind: str, period: str) -> str:
    return f"budget:{{{tenant}}}:{kind}:{period}"


def _fields(key_id: str | None) -> list[str]:
    return ["cost", "tokens"] + ([] if key_id is None else [f"key:{key_id}:cost", f"key:{key_id}:tokens"])


def _snapshot(values: list[bytes | str | None], key_id: str | None) -> SpendSnapshot:
    numbers = [int(v or 0) for v in values]
    tenant = Spend.of(numbers[0], numbers[1])
    return SpendSnapshot(tenant=tenant, key=None if key_id is None else Spend.of(numbers[2], numbers[3]))


def _expiry(period: str) -> int:
    return int(counters_expire_at(period).timestamp())


class RedisBudgetStore(BudgetStore):
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._record = redis.register_script(_RECORD)
        self._warn = redis.register_script(_WARN)
        # Warnings this process knows were given: a budget past its warn share costs no round trip
        # per turn after its first (a handful of budgets a month).
        self._warned: set[tuple[str, str]] = set()

    async def set(self, budget: Budget) -> None:
        await self._redis.hset(_BUDGETS, budget.scope, budget.model_dump_json())

    async def remove(self, tenant: str, key_id: str | None = None) -> bool:
        return bool(await self._redis.hdel(_BUDGETS, scope_of(tenant, key_id)))

    async def budgets(self, tenant: str | None = None) -> list[Budget]:
        budgets = [Budget.model_validate_json(raw) for raw in (await self._redis.hvals(_BUDGETS))]
        chosen = [b for b in budgets if tenant is None or b.tenant == tenant]
        return sorted(chosen, key=lambda b: (b.tenant, b.key_id is not None, b.key_id or ""))

    async def applying(self, tenant: str, key_id: str | None) -> list[Budget]:
        scopes = [scope_of(tenant, None)] + ([] if key_id is None else [scope_of(tenant, key_id)])
        found: list[bytes | str | None] = await self._redis.hmget(_BUDGETS, scopes)
        return [Budget.model_validate_json(raw) for raw in found if raw is not None]

    async def spent(self, tenant: str, key_id: str | None, period: str) -> SpendSnapshot:
        values: list[bytes | str | None] = await self._redis.hmget(_key(tenant, "spend", period), _fields(key_id))
        return _snapshot(values, key_id)

    async def record(
        self, *, request_id: str, tenant: str, key_id: str | None, tokens: int, cost: Decimal, period: str
    ) -> SpendSnapshot | None:
        keys = [_key(tenant, "counted", period), _key(tenant, "spend", period)]
        args: list[str | int] = [request_id, to_nanos(cost), tokens, key_id or "", _expiry(period)]
        totals = await self._record(keys=keys, args=args)
        return None if totals is None else _snapshot(totals, key_id)

    async def first_warning(self, scope: str, period: str) -> bool:
        if (scope, period) in self._warned:
            return False
        tenant = scope.split("/", 1)[0]
        first = bool(await self._warn(keys=[_key(tenant, "warned", period)], args=[scope, _expiry(period)]))
        self._warned.add((scope, period))
        return first

    async def ping(self) -> bool:
        return bool(await self._redis.ping())


__all__ = ["RedisBudgetStore"]
