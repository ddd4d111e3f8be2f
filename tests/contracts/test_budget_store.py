"""The budget store's contract: in memory, in the embedded default's file, and in Redis."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from redis.asyncio import Redis

from agent_common.budgets import Budget, BudgetStore, MemoryBudgetStore, Spend
from agent_common.budgets.redis import RedisBudgetStore
from tests.contracts.budget_store import BudgetStoreContract, test_a_budget_is_in_dollars_or_in_tokens

__all__ = ["test_a_budget_is_in_dollars_or_in_tokens"]


class TestMemoryBudgetStore(BudgetStoreContract):
    @pytest.fixture
    def budgets(self) -> BudgetStore:
        return MemoryBudgetStore()


class TestFileBudgetStore(BudgetStoreContract):
    @pytest.fixture
    def budgets(self, tmp_path: Path) -> BudgetStore:
        return MemoryBudgetStore(tmp_path / "budgets.json")


@pytest.mark.redis
class TestRedisBudgetStore(BudgetStoreContract):
    @pytest.fixture
    def budgets(self, empty_redis_db: Redis) -> BudgetStore:
        return RedisBudgetStore(empty_redis_db)


async def test_the_file_is_shared_by_the_command_line_and_a_running_server(tmp_path: Path) -> None:
    server, command_line = MemoryBudgetStore(tmp_path / "b.json"), MemoryBudgetStore(tmp_path / "b.json")
    await server.record(request_id="r1", tenant="acme", key_id=None, tokens=5, cost=Decimal("1"), period="2026-12")
    await command_line.set(Budget(tenant="acme", monthly_usd=Decimal("3")))
    assert [b.scope for b in await server.applying("acme", None)] == ["acme"]
    assert (await command_line.spent("acme", None, "2026-12")).tenant == Spend(Decimal("1"), 5)


@pytest.mark.redis
async def test_counters_expire_after_their_month_and_a_margin(empty_redis_db: Redis) -> None:
    store = RedisBudgetStore(empty_redis_db)
    await store.record(request_id="r1", tenant="acme", key_id=None, tokens=5, cost=Decimal("1"), period="2026-11")
    expiry = await empty_redis_db.expiretime("budget:{acme}:spend:2026-11")
    counted = await empty_redis_db.expiretime("budget:{acme}:counted:2026-11")
    # 2026-12-01T00:00Z plus 35 days
    assert expiry == counted == 1796083200 + 35 * 86400
