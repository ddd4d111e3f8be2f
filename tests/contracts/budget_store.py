"""The `BudgetStore` contract, run against every implementation (`test_budget_store.py`)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal

import pytest
from pydantic import ValidationError

from agent_common.budgets import Budget, BudgetStore, Spend, SpendSnapshot, month_of, period_end

# Months around today's: a store lets a month's counters go once it is well past, so a fixed
# month would stop being counted some day.
THIS_MONTH = month_of(dt.datetime.now(dt.UTC))
LAST_MONTH = month_of(dt.datetime.strptime(THIS_MONTH, "%Y-%m").replace(tzinfo=dt.UTC) - dt.timedelta(days=1))
NEXT_MONTH = month_of(period_end(THIS_MONTH))


def new_tenant() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


class BudgetStoreContract:
    """Subclasses provide the `budgets` fixture: the store under test, empty of budgets."""

    async def test_a_budget_is_set_listed_replaced_and_removed(self, budgets: BudgetStore) -> None:
        tenant = new_tenant()
        await budgets.set(Budget(tenant=tenant, monthly_usd=Decimal("50")))
        await budgets.set(Budget(tenant=tenant, key_id="k1", monthly_tokens=1000, warn_at=0.5))
        assert [(b.scope, b.limit) for b in await budgets.budgets(tenant)] == [
            (tenant, Decimal("50")),
            (f"{tenant}/k1", 1000),
        ]
        await budgets.set(Budget(tenant=tenant, monthly_usd=Decimal("75.5")))
        assert (await budgets.applying(tenant, None))[0].monthly_usd == Decimal("75.5")
        assert await budgets.remove(tenant) is True
        assert await budgets.remove(tenant) is False
        assert [b.scope for b in await budgets.budgets(tenant)] == [f"{tenant}/k1"]

    async def test_a_caller_is_held_to_its_tenants_and_its_keys_budgets(self, budgets: BudgetStore) -> None:
        tenant = new_tenant()
        await budgets.set(Budget(tenant=tenant, monthly_usd=Decimal("10")))
        await budgets.set(Budget(tenant=tenant, key_id="k1", monthly_tokens=500))
        assert [b.scope for b in await budgets.applying(tenant, "k1")] == [tenant, f"{tenant}/k1"]
        assert [b.scope for b in await budgets.applying(tenant, "k2")] == [tenant]
        assert await budgets.applying(new_tenant(), "k1") == []

    async def test_spend_is_counted_per_tenant_and_per_key(self, budgets: BudgetStore) -> None:
        tenant = new_tenant()
        first = await budgets.record(
            request_id="r1", tenant=tenant, key_id="k1", tokens=100, cost=Decimal("0.0015"), period=THIS_MONTH
        )
        assert first == SpendSnapshot(tenant=Spend(Decimal("0.0015"), 100), key=Spend(Decimal("0.0015"), 100))
        await budgets.record(
            request_id="r2", tenant=tenant, key_id=None, tokens=50, cost=Decimal("0.25"), period=THIS_MONTH
        )
        spent = await budgets.spent(tenant, "k1", THIS_MONTH)
        assert spent == SpendSnapshot(tenant=Spend(Decimal("0.2515"), 150), key=Spend(Decimal("0.0015"), 100))
        assert (await budgets.spent(tenant, None, THIS_MONTH)).key is None

    async def test_a_redelivered_request_is_counted_once(self, budgets: BudgetStore) -> None:
        tenant = new_tenant()
        spend = {"tenant": tenant, "key_id": "k1", "tokens": 10, "cost": Decimal("1"), "period": THIS_MONTH}
        assert await budgets.record(request_id="r1", **spend) is not None  # type: ignore[arg-type]
        assert await budgets.record(request_id="r1", **spend) is None  # type: ignore[arg-type]
        assert (await budgets.spent(tenant, "k1", THIS_MONTH)).key == Spend(Decimal("1"), 10)

    async def test_months_are_counted_apart(self, budgets: BudgetStore) -> None:
        tenant = new_tenant()
        for period in (LAST_MONTH, THIS_MONTH):
            await budgets.record(
                request_id="same-id", tenant=tenant, key_id=None, tokens=7, cost=Decimal("2"), period=period
            )
        assert (await budgets.spent(tenant, None, LAST_MONTH)).tenant == Spend(Decimal("2"), 7)
        assert (await budgets.spent(tenant, None, THIS_MONTH)).tenant == Spend(Decimal("2"), 7)
        assert (await budgets.spent(tenant, None, NEXT_MONTH)).tenant == Spend()

    async def test_concurrent_spend_sums_exactly(self, budgets: BudgetStore) -> None:
        tenant = new_tenant()
        cost = Decimal("0.000001234")  # no float adds these up exactly
        in_flight = asyncio.Semaphore(20)  # within the test client's pool

        async def spend(n: int) -> None:
            async with in_flight:
                await budgets.record(
                    request_id=f"r{n % 150}", tenant=tenant, key_id="k", tokens=3, cost=cost, period=THIS_MONTH
                )

        await asyncio.gather(*(spend(n) for n in range(300)))  # each request id twice
        spent = await budgets.spent(tenant, "k", THIS_MONTH)
        assert spent.tenant == spent.key == Spend(cost * 150, 450)

    async def test_a_warning_is_given_once_a_period(self, budgets: BudgetStore) -> None:
        tenant = new_tenant()
        answers = await asyncio.gather(*(budgets.first_warning(tenant, THIS_MONTH) for _ in range(5)))
        assert sorted(answers) == [False, False, False, False, True]
        assert await budgets.first_warning(f"{tenant}/k1", THIS_MONTH) is True
        assert await budgets.first_warning(tenant, NEXT_MONTH) is True


def test_a_budget_is_in_dollars_or_in_tokens() -> None:
    with pytest.raises(ValidationError):
        Budget(tenant="t", monthly_usd=Decimal("1"), monthly_tokens=1)
    with pytest.raises(ValidationError):
        Budget(tenant="t")
    with pytest.raises(ValidationError):
        Budget(tenant="t", monthly_tokens=10, warn_at=1.5)
