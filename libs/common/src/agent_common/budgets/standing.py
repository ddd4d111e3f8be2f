"""Where a caller stands against its budgets, and what is told when it nears or passes one.

Both the gateway (before a turn, to refuse it at 100 %) and the ledger writer (after a run's
spend is recorded) come here, so the gauge and the once-a-period warning follow spend
whichever side sees it first.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from agent_common.budgets.base import Budget, BudgetStore, SpendSnapshot
from agent_common.budgets.periods import month_of, period_end
from agent_common.security_events import SecurityEvent, SecurityReason, record_security_event

__all__ = ["BUDGET_GAUGES", "BudgetUse", "SpendCounter", "standing"]

log = logging.getLogger("agent.budgets")


class BudgetGauges(Collector):
    """`budget_used_ratio{tenant}` and `budget_warn_ratio{tenant}`, for tenant budgets only (never keys
    or users: the series stay as few as the budgets an operator set).

    A collector rather than a `Gauge`: a ratio last seen in a month that has ended reads 0 at the
    next scrape, so a tenant idle since the 1st does not keep last month's alert firing."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[str, float, float]] = {}  # tenant -> (period, used ratio, warn share)

    def observe(self, tenant: str, period: str, ratio: float, warn_at: float) -> None:
        last = self._last.get(tenant)
        if last is None or period >= last[0]:  # a late entry of an earlier month does not set it back
            self._last[tenant] = (period, ratio, warn_at)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        month = month_of(dt.datetime.now(dt.UTC))
        used = GaugeMetricFamily(
            "budget_used_ratio",
            "Share of the tenant's monthly budget spent this month (1 = all of it).",
            labels=["tenant"],
        )
        warn = GaugeMetricFamily(
            "budget_warn_ratio",
            "The share of the tenant's monthly budget at which operators are warned.",
            labels=["tenant"],
        )
        for tenant, (period, ratio, warn_at) in sorted(self._last.items()):
            used.add_metric([tenant], ratio if period == month else 0.0)
            warn.add_metric([tenant], warn_at)
        yield used
        yield warn


BUDGET_GAUGES = BudgetGauges()
REGISTRY.register(BUDGET_GAUGES)


@dataclass(frozen=True)
class BudgetUse:
    """One budget and what was spent against it in the period."""

    budget: Budget
    used: Decimal | int
    ratio: float
    period: str

    @property
    def exceeded(self) -> bool:
        return self.ratio >= 1

    @property
    def nearly_spent(self) -> bool:
        return self.ratio >= self.budget.warn_at

    @property
    def resets_at(self) -> dt.datetime:
        return period_end(self.period)


def _uses(budgets: list[Budget], spend: SpendSnapshot, period: str) -> list[BudgetUse]:
    uses = []
    for budget in budgets:
        spent = spend.tenant if budget.key_id is None else spend.key
        if spent is not None:
            uses.append(BudgetUse(budget, budget.used(spent), budget.used_ratio(spent), period))
    return uses


async def _observe(store: BudgetStore, uses: list[BudgetUse]) -> None:
    """The gauge for tenant budgets; one warning a period for any budget past its warn share."""
    for use in uses:
        budget = use.budget
        if budget.key_id is None:
            BUDGET_GAUGES.observe(budget.tenant, use.period, use.ratio, budget.warn_at)
        if use.nearly_spent and await store.first_warning(budget.scope, use.period):
            record_security_event(SecurityEvent.BUDGET, SecurityReason.BUDGET_WARN_SHARE)
            log.warning(
                "budget nearly spent",
                extra={
                    "budget": budget.scope,
                    "period": use.period,
                    "unit": budget.unit,
                    "used": str(use.used),
                    "limit": str(budget.limit),
                    "warn_at": budget.warn_at,
                },
            )


async def standing(store: BudgetStore, tenant: str, key_id: str | None, at: dt.datetime) -> list[BudgetUse]:
    """The caller's budgets and their use this period (none without a budget: one read)."""
    budgets = await store.applying(tenant, key_id)
    if not budgets:
        return []
    period = month_of(at)
    uses = _uses(budgets, await store.spent(tenant, key_id, period), period)
    await _observe(store, uses)
    return uses


class SpendCounter:
    """The ledger writer's hook: `record_spend` after each new usage entry is stored."""

    def __init__(self, store: BudgetStore) -> None:
        self._store = store

    async def record_spend(
        self, *, request_id: str, tenant: str, key_id: str | None, tokens: int, cost: Decimal, at: dt.datetime
    ) -> None:
        """Count one run's spend against its tenant and key, once per request id."""
        period = month_of(at)
        totals = await self._store.record(
            request_id=request_id, tenant=tenant, key_id=key_id, tokens=tokens, cost=cost, period=period
        )
        if totals is None:
            return  # a redelivered entry, counted already
        budgets = await self._store.applying(tenant, key_id)
        await _observe(self._store, _uses(budgets, totals, period))
