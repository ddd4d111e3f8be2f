"""`record_spend`, the ledger writer's hook: each run's spend counted once in its own month,
the gauge and the once-a-month warning following it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from agent_common.budgets import Budget, MemoryBudgetStore, Spend, SpendCounter, month_of, period_end
from agent_common.budgets.memory import COUNTED_KEPT

AT = dt.datetime(2026, 11, 30, 23, 59, 59, tzinfo=dt.UTC)


def warnings_given() -> float:
    return REGISTRY.get_sample_value("security_events_total", {"event": "budget", "reason": "warn_share"}) or 0.0


def used_ratio(tenant: str) -> float | None:
    return REGISTRY.get_sample_value("budget_used_ratio", {"tenant": tenant})


async def record(counter: SpendCounter, request_id: str, *, cost: str, at: dt.datetime) -> None:
    await counter.record_spend(request_id=request_id, tenant="hooli", key_id="k1", tokens=10, cost=Decimal(cost), at=at)


async def test_a_redelivered_entry_is_counted_once() -> None:
    store = MemoryBudgetStore()
    counter = SpendCounter(store)
    await record(counter, "req_1", cost="1.5", at=AT)
    await record(counter, "req_1", cost="1.5", at=AT)
    spent = await store.spent("hooli", "k1", "2026-11")
    assert spent.tenant == spent.key == Spend(Decimal("1.5"), 10)


async def test_spend_counts_in_the_month_of_the_entry_not_of_its_delivery() -> None:
    store = MemoryBudgetStore()
    await record(SpendCounter(store), "req_1", cost="1", at=AT.astimezone(dt.timezone(dt.timedelta(hours=9))))
    assert (await store.spent("hooli", None, "2026-11")).tenant == Spend(Decimal("1"), 10)
    assert (await store.spent("hooli", None, "2026-12")).tenant == Spend()


async def test_the_warning_is_given_once_a_month_and_the_gauge_follows(caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryBudgetStore()
    await store.set(Budget(tenant="hooli", monthly_usd=Decimal("10"), warn_at=0.5))
    counter = SpendCounter(store)
    now = dt.datetime.now(dt.UTC)
    before = warnings_given()
    await record(counter, "req_1", cost="4", at=now)
    assert used_ratio("hooli") == pytest.approx(0.4)
    assert warnings_given() == before
    await record(counter, "req_2", cost="2", at=now)
    await record(counter, "req_3", cost="3", at=now)
    assert used_ratio("hooli") == pytest.approx(0.9)
    assert warnings_given() == before + 1
    [told] = [r for r in caplog.records if r.getMessage() == "budget nearly spent"]
    assert (told.budget, told.used, told.limit) == ("hooli", "6", "10")  # type: ignore[attr-defined]
    next_month = period_end(month_of(now)) + dt.timedelta(days=1)
    await record(counter, "req_4", cost="1", at=next_month)
    await record(counter, "req_5", cost="5", at=next_month)
    assert warnings_given() == before + 2


async def test_a_ratio_of_a_month_that_has_ended_reads_zero() -> None:
    store = MemoryBudgetStore()
    await store.set(Budget(tenant="pied-piper", monthly_tokens=100))
    await SpendCounter(store).record_spend(
        request_id="req_1", tenant="pied-piper", key_id=None, tokens=120, cost=Decimal(0), at=AT
    )
    assert used_ratio("pied-piper") == 0.0  # November's 1.2, and November is over
    now = dt.datetime.now(dt.UTC)
    await SpendCounter(store).record_spend(
        request_id="req_2", tenant="pied-piper", key_id=None, tokens=30, cost=Decimal(0), at=now
    )
    assert used_ratio("pied-piper") == pytest.approx(0.3)
    await SpendCounter(store).record_spend(
        request_id="req_3", tenant="pied-piper", key_id=None, tokens=1, cost=Decimal(0), at=AT
    )
    assert used_ratio("pied-piper") == pytest.approx(0.3)  # a late November entry does not set it back


async def test_the_embedded_file_keeps_the_newest_ids_only_and_stays_small(tmp_path: Path) -> None:
    """Each run's spend rewrites the file: a month of runs must not make it, and every write, grow."""
    path = tmp_path / "budgets.json"
    counter = SpendCounter(MemoryBudgetStore(path))
    for n in range(COUNTED_KEPT):
        await record(counter, f"req_{n:06d}", cost="0.001", at=AT)
    full = path.stat().st_size
    for n in range(COUNTED_KEPT, COUNTED_KEPT + 500):
        await record(counter, f"req_{n:06d}", cost="0.001", at=AT)
    await record(counter, f"req_{COUNTED_KEPT + 499:06d}", cost="0.001", at=AT)  # the newest, redelivered
    spent = await MemoryBudgetStore(path).spent("hooli", "k1", "2026-11")
    assert spent.tenant == Spend(Decimal("0.001") * (COUNTED_KEPT + 500), 10 * (COUNTED_KEPT + 500))
    assert path.stat().st_size <= full + 16  # the totals' digits, not another id
