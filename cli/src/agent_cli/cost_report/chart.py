"""The report's chart: the month's cost day by day (stacked by model) above its cost by
tenant, as one PNG drawn by matplotlib (no display: the Agg backend)."""

from __future__ import annotations

from pathlib import Path

from agent_cli.cost_report.figures import MonthFigures
from agent_common.usage import PriceBook, UsageEntry

TOP_TENANTS = 10


def draw(figures: MonthFigures, entries: list[UsageEntry], prices: PriceBook, path: Path) -> None:
    import datetime

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = [d.key for d in figures.by_day]
    models = [m.key for m in figures.by_model]
    per_model = {m: [0.0] * len(days) for m in models}
    index = {d: i for i, d in enumerate(days)}
    for entry in entries:
        on = entry.at.astimezone(datetime.UTC).date()
        if on.isoformat() not in index:
            continue
        for call in entry.model_calls:
            cost = prices.call_cost(call, on)
            if cost is not None:
                per_model[call.model][index[on.isoformat()]] += float(cost)
    fig, (trend, tenants) = plt.subplots(2, 1, figsize=(11, 8), gridspec_kw={"height_ratios": [3, 2]})
    bottom = [0.0] * len(days)
    labels = [d[-2:] for d in days]
    for model in models:
        trend.bar(labels, per_model[model], bottom=bottom, label=model)
        bottom = [b + v for b, v in zip(bottom, per_model[model], strict=True)]
    trend.set_title(f"Model cost by day, {figures.month} ({figures.currency})")
    trend.set_xlabel("day")
    if models:
        trend.legend(loc="upper left", fontsize="small")
    top = figures.by_tenant[:TOP_TENANTS][::-1]
    tenants.barh([t.key for t in top], [float(t.cost) for t in top])
    tenants.set_title(f"Cost by tenant (top {TOP_TENANTS}, {figures.currency})")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)
