"""The `BudgetStore` contract, run against every implementation (`test_budget_store.py`)."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import pytest
from pydantic import ValidationError

from agent_common.budgets import Budget, BudgetStore, Spend, SpendSnapshot


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
            request_id="r1", tenant=tenant, key_id="k1", tokens=100, cost=Decimal("0.0015"), period="2026-12"
        )
        assert first == SpendSnapshot(tenant=Spend(Decimal("0.0015"), 100), key=Spend(Decimal("0.0015"), 100))
        await budgets.record(
            request_id="r2", tenant=tenant, key_id=None, tokens=50, cost=Decimal("0.25"), period="2026-12"
        )
        spent = await budgets.spent(tenant, "k1", "2026-12")
        assert spent == SpendSnapshot(tenant=Spend(Decimal("0.2515"), 150), key=Spend(Decimal("0.0015"), 100))
        assert (await budgets.spent(tenant, None, "2026-12")).key is None

    async def test_a_redelivered_request_is_counted_once(self, budgets: BudgetStore) -> None:
        tenant = new_tenant()
        spend = {"tenant": tenant, "key_id": "k1", "tokens": 10, "cost": Decimal("1"), "period": "2026-12"}
        assert await budgets.record(request_id="r1", **spend) is not None  # type: ignore[arg-type]
        assert await budgets.record(request_id="r1", **spend) is None  # type: ignore[arg-type]
        assert (await budgets.spent(tenant, "k1", "2026-12")).key == Spend(Decimal("1"), 10)

    async def test_months_are_counted_apart(self, budgets: BudgetStore) -> None:
        tenant = new_tenant()
        for period in ("2026-11", "2026-12"):
            await budgets.record(
                request_id="same-id", tenant=tenant, key_id=None, tokens=7, cost=Decimal("2"), period=period
            )
        assert (await budgets.spent(tenant, None, "2026-11")).tenant == Spend(Decimal("2"), 7)
        assert (await budgets.spent(tenant, None, "2026-12")).tenant == Spend(Decimal("2"), 7)
        assert (await budgets.spent(tenant, None, "2027-01")).tenant == Spend()

    async def test_concurrent_spend_sums_exactly(self, budgets: BudgetStore) -> None:
        tenant = new_tenant()
        cost = Decimal("0.000001234")  # no float adds these up exactly
        in_flight = asyncio.Semaphore(20)  # within the test client's pool

        async def spend(n: int) -> None:
            async with in_flight:
                await budgets.record(
                    request_id=f"r{n % 150}", tenant=tenant, key_id="k", tokens=3, cost=cost, period="2026-12"
                )

        await asyncio.gather(*(spend(n) for n in range(300)))  # each request id twice
        spent = await budgets.spent(tenant, "k", "2026-12")
        assert spent.tenant == spent.key == Spend(cost * 150, 450)

    async def test_a_warning_is_given_once_a_period(self, budgets: BudgetStore) -> None:
        tenant = new_tenant()
        answers = await asyncio.gather(*(budgets.first_warning(tenant, "2026-12") for _ in range(5)))
        assert sorted(answers) == [False, False, False, False, True]
        assert await budgets.first_warning(f"{tenant}/k1", "2026-12") is True
        assert await budgets.first_warning(tenant, "2027-01") is True


def test_a_budget_is_in_dollars_or_in_tokens() -> None:
    with pytest.raises(ValidationError):
        Budget(tenant="t", monthly_usd=Decimal("1"), monthly_tokens=1)
    with pytest.raises(ValidationError):
        Budget(tenant="t")
    with pytest.raises(ValidationError):
        Budget(tenant="t", monthly_tokens=10, warn_at=1.5)
