"""A month's figures from its usage entries and the price file: the totals, who and what
spent them (tenant, user, model, tool), day by day, the shares spent on retries, on the
secondary model and on runs that ended in error, and the runs that cost most with why.

Costs are recomputed from the price file at report time with the price valid on each
entry's date, so a corrected price file corrects the report; amounts stay `Decimal`.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from agent_common.usage import PriceBook, UsageEntry
from agent_common.usage.ledger import month_bounds
from agent_common.usage.paths import PATHS, PathThresholds, expensive_paths

ZERO = Decimal(0)
TOP_RUNS = 10
TOP_OFFENDERS = 5  # per expensive path


@dataclass
class Line:
    """One row of a breakdown: runs (or calls, for a model or a tool), tokens and cost."""

    key: str
    runs: int = 0
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated_tokens: int = 0
    failed: int = 0
    cost: Decimal = ZERO

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class ExpensiveRun:
    request_id: str
    tenant: str
    user_id: str
    at: datetime.datetime
    tokens: int
    cost: Decimal
    why: list[str]


@dataclass
class PathLine:
    """An expensive path over the month: the runs that took it, what they cost, the costliest of them."""

    path: str
    runs: int = 0
    cost: Decimal = ZERO
    top: list[tuple[str, Decimal]] = field(default_factory=list)  # (request id, cost), costliest first


@dataclass
class MonthFigures:
    month: str
    currency: str
    price_version: str
    total: Line
    by_tenant: list[Line]
    by_user: list[Line]  # keyed `tenant/user`: user ids are a tenant's own
    by_model: list[Line]
    by_tool: list[Line]
    by_day: list[Line]  # every day of the month, `YYYY-MM-DD`, quiet days at zero
    retry_cost: Decimal = ZERO
    secondary_cost: Decimal = ZERO
    error_cost: Decimal = ZERO
    tool_cost: Decimal = ZERO
    error_runs: int = 0
    unpriced: list[str] = field(default_factory=list)
    top_runs: list[ExpensiveRun] = field(default_factory=list)
    paths: list[PathLine] = field(default_factory=list)  # in `PATHS` order
    # Each day's model cost by model (`YYYY-MM-DD` -> model -> cost), for the chart.
    day_models: dict[str, dict[str, Decimal]] = field(default_factory=dict)

    def share(self, part: Decimal) -> Decimal | None:
        """`part` as a share of the month's cost (None when the month cost nothing)."""
        return part / self.total.cost if self.total.cost else None


def month_figures(
    month: str, entries: Iterable[UsageEntry], prices: PriceBook, thresholds: PathThresholds | None = None
) -> MonthFigures:
    start, end = month_bounds(month)
    entries = [e for e in entries if start <= e.at < end]
    total = Line("total")
    tenants: dict[str, Line] = defaultdict(lambda: Line(""))
    users: dict[str, Line] = defaultdict(lambda: Line(""))
    models: dict[str, Line] = defaultdict(lambda: Line(""))
    tools: dict[str, Line] = defaultdict(lambda: Line(""))
    days = {d: Line(d) for d in _days(start, end)}
    figures = MonthFigures(month, prices.currency, prices.version, total, [], [], [], [], [])
    unpriced: set[str] = set()
    costs: list[tuple[UsageEntry, Decimal]] = []
    for entry in entries:
        on = entry.at.astimezone(datetime.UTC).date()
        cost = prices.cost(entry)
        costs.append((entry, cost.total))
        unpriced |= cost.unpriced
        figures.retry_cost += cost.retries
        figures.secondary_cost += cost.secondary
        figures.tool_cost += cost.tools
        if entry.outcome == "error":
            figures.error_runs += 1
            figures.error_cost += cost.total
        estimated = sum(c.tokens for c in entry.model_calls if c.estimated)
        for line in (total, tenants[entry.tenant], users[f"{entry.tenant}/{entry.user_id}"], days[on.isoformat()]):
            line.runs += 1
            line.calls += len(entry.model_calls)
            line.prompt_tokens += entry.prompt_tokens
            line.completion_tokens += entry.completion_tokens
            line.estimated_tokens += estimated
            line.failed += entry.outcome == "error"
            line.cost += cost.total
        day_models = figures.day_models.setdefault(on.isoformat(), defaultdict(Decimal))
        for call in entry.model_calls:
            day_models[call.model] += prices.call_cost(call, on) or ZERO
            model = models[call.model]
            model.calls += 1
            model.prompt_tokens += call.prompt_tokens
            model.completion_tokens += call.completion_tokens
            model.estimated_tokens += call.tokens if call.estimated else 0
            model.failed += call.error is not None
            model.cost += prices.call_cost(call, on) or ZERO
        for name in {c.model for c in entry.model_calls}:
            models[name].runs += 1
        for tool_call in entry.tool_calls:
            tool = tools[tool_call.tool]
            tool.calls += 1
            tool.failed += not tool_call.ok
            price = prices.tool_price(tool_call.tool, on)
            tool.cost += price.per_call if price else ZERO
        for name in {c.tool for c in entry.tool_calls}:
            tools[name].runs += 1
    figures.by_tenant = _ranked(tenants)
    figures.by_user = _ranked(users)
    figures.by_model = _ranked(models)
    figures.by_tool = _ranked(tools)
    figures.by_day = list(days.values())
    figures.unpriced = sorted(unpriced)
    thresholds = thresholds or PathThresholds()
    figures.top_runs = _expensive(costs, thresholds)
    figures.paths = _paths(costs, thresholds)
    return figures


def _days(start: datetime.datetime, end: datetime.datetime) -> list[str]:
    count = (end - start).days
    return [(start.date() + datetime.timedelta(days=n)).isoformat() for n in range(count)]


def _ranked(lines: dict[str, Line]) -> list[Line]:
    for key, line in lines.items():
        line.key = key
    return sorted(lines.values(), key=lambda line: (-line.cost, -line.tokens, line.key))


def _expensive(costs: Sequence[tuple[UsageEntry, Decimal]], thresholds: PathThresholds) -> list[ExpensiveRun]:
    """The month's costliest runs (by cost, then tokens), each with the expensive paths it took."""
    top = sorted(costs, key=lambda pair: (-pair[1], -pair[0].tokens, pair[0].request_id))[:TOP_RUNS]
    return [
        ExpensiveRun(
            entry.request_id, entry.tenant, entry.user_id, entry.at, entry.tokens, cost, why(entry, thresholds)
        )
        for entry, cost in top
    ]


def _paths(costs: Sequence[tuple[UsageEntry, Decimal]], thresholds: PathThresholds) -> list[PathLine]:
    lines = {path: PathLine(path) for path in PATHS}
    for entry, cost in costs:
        for path in expensive_paths(entry, thresholds):
            line = lines[path]
            line.runs += 1
            line.cost += cost
            line.top.append((entry.request_id, cost))
    for line in lines.values():
        line.top = sorted(line.top, key=lambda pair: (-pair[1], pair[0]))[:TOP_OFFENDERS]
    return list(lines.values())


def why(entry: UsageEntry, thresholds: PathThresholds) -> list[str]:
    """What made a run expensive, for people: its paths, and an error ending (its cost bought no answer)."""
    reasons = list(expensive_paths(entry, thresholds).values())
    if entry.outcome == "error":
        reasons.append(f"ended in error ({entry.error_code})")
    return reasons
