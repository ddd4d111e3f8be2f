"""The budget store's contract: in memory, in the embedded default's file, and in Redis."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from redis.asyncio import Redis

from agent_common.budgets import Budget, BudgetStore, MemoryBudgetStore, Spend, period_end
from agent_common.budgets.redis import RedisBudgetStore
from tests.contracts.budget_store import THIS_MONTH, BudgetStoreContract, test_a_budget_is_in_dollars_or_in_tokens

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
    await server.record(request_id="r1", tenant="acme", key_id=None, tokens=5, cost=Decimal("1"), period=THIS_MONTH)
    await command_line.set(Budget(tenant="acme", monthly_usd=Decimal("3")))
    assert [b.scope for b in await server.applying("acme", None)] == ["acme"]
    assert (await command_line.spent("acme", None, THIS_MONTH)).tenant == Spend(Decimal("1"), 5)


@pytest.mark.redis
async def test_counters_expire_after_their_month_and_a_margin(empty_redis_db: Redis) -> None:
    store = RedisBudgetStore(empty_redis_db)
    await store.record(request_id="r1", tenant="acme", key_id=None, tokens=5, cost=Decimal("1"), period=THIS_MONTH)
    expiry = await empty_redis_db.expiretime(f"budget:{{acme}}:spend:{THIS_MONTH}")
    counted = await empty_redis_db.expiretime(f"budget:{{acme}}:counted:{THIS_MONTH}")
    # 00:00 UTC on the 1st of next month, plus 35 days
    assert expiry == counted == int(period_end(THIS_MONTH).timestamp()) + 35 * 86400
