"""The budget store's contract: in memory, in the embedded default's file, and in Redis."""

from __future__ import annotations

import asyncio
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


async def test_spends_that_come_together_are_each_counted_once_and_kept_in_the_file(tmp_path: Path) -> None:
    server = MemoryBudgetStore(tmp_path / "b.json")
    ids = [f"r{i}" for i in range(40)] + ["r0", "r1"]  # two redelivered while others are being counted

    async def spend(request_id: str) -> object:
        return await server.record(
            request_id=request_id, tenant="acme", key_id="k1", tokens=2, cost=Decimal("0.5"), period=THIS_MONTH
        )

    answers = await asyncio.gather(*(spend(i) for i in ids))
    assert sum(answer is None for answer in answers) == 2
    for store in (server, MemoryBudgetStore(tmp_path / "b.json")):  # as the file holds it, too
        spent = await store.spent("acme", "k1", THIS_MONTH)
        assert spent.tenant == spent.key == Spend(Decimal("20"), 80)


@pytest.mark.redis
async def test_counters_expire_after_their_month_and_a_margin(empty_redis_db: Redis) -> None:
    store = RedisBudgetStore(empty_redis_db)
    await store.record(request_id="r1", tenant="acme", key_id=None, tokens=5, cost=Decimal("1"), period=THIS_MONTH)
    expiry = await empty_redis_db.expiretime(f"budget:{{acme}}:spend:{THIS_MONTH}")
    counted = await empty_redis_db.expiretime(f"budget:{{acme}}:counted:{THIS_MONTH}")
    # 00:00 UTC on the 1st of next month, plus 35 days
    assert expiry == counted == int(period_end(THIS_MONTH).timestamp()) + 35 * 86400
