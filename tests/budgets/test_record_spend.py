"""`record_spend`, the ledger writer's hook: each run's spend counted once in its own month,
the gauge and the once-a-month warning following it."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from agent_common.budgets import Budget, MemoryBudgetStore, Spend, SpendCounter, SpendSnapshot, month_of, period_end
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


async def test_a_run_s_spend_does_not_rewrite_the_budgets_file_and_every_id_is_kept(tmp_path: Path) -> None:
    """Each run's spend goes to the spend file; the budgets file, which `agent budgets set` edits,
    is written only when budgets change (it was rewritten whole at every run: 525 µs of CPU)."""
    path = tmp_path / "budgets.json"
    store = MemoryBudgetStore(path)
    await store.set(Budget(tenant="hooli", monthly_usd=Decimal(100)))
    counter = SpendCounter(store)
    await record(counter, "req_000000", cost="0.001", at=AT)
    written = path.stat().st_mtime_ns, path.stat().st_size, path.read_bytes()
    for n in range(1, COUNTED_KEPT + 100):
        await record(counter, f"req_{n:06d}", cost="0.001", at=AT)
    assert (path.stat().st_mtime_ns, path.stat().st_size, path.read_bytes()) == written
    await record(counter, "req_000000", cost="0.001", at=AT)  # the month's first, redelivered at its end
    spent = await MemoryBudgetStore(path).spent("hooli", "k1", "2026-11")
    assert spent.tenant == Spend(Decimal("0.001") * (COUNTED_KEPT + 100), 10 * (COUNTED_KEPT + 100))


async def test_the_spend_a_budgets_file_of_an_earlier_release_holds_is_carried_over_once(tmp_path: Path) -> None:
    path = tmp_path / "budgets.json"
    earlier = {
        "budgets": {"hooli": {"tenant": "hooli", "monthly_usd": "10"}},
        "periods": {
            "2026-11": {
                "spend": {"hooli": [2_000_000_000, 40], "hooli/k1": [500_000_000, 10]},
                "counted": ["req_a", "req_b"],
                "warned": ["hooli"],
            }
        },
    }
    path.write_text(json.dumps(earlier))
    server, command_line = MemoryBudgetStore(path), MemoryBudgetStore(path)
    assert (await command_line.spent("hooli", "k1", "2026-11")) == SpendSnapshot(
        tenant=Spend(Decimal(2), 40), key=Spend(Decimal("0.5"), 10)
    )
    counter = SpendCounter(server)
    await record(counter, "req_b", cost="1", at=AT)  # counted before the upgrade: not again
    await record(counter, "req_c", cost="1", at=AT)
    for store in (server, command_line, MemoryBudgetStore(path)):
        assert (await store.spent("hooli", None, "2026-11")).tenant == Spend(Decimal(3), 50)
    kept = json.loads(path.read_text())
    assert kept["periods"]["2026-11"] == {"spend": {}, "counted": [], "warned": ["hooli"]}
    assert [b.scope for b in await server.budgets()] == ["hooli"]
    path.write_text(json.dumps(earlier))  # as if the process had died before rewriting the file
    assert (await MemoryBudgetStore(path).spent("hooli", None, "2026-11")).tenant == Spend(Decimal(3), 50)
