"""The report for people: one Markdown page, the month against the previous one first."""

from __future__ import annotations

from decimal import Decimal

from agent_common.usage.report.figures import Line, MonthFigures

TOP_USERS = 20


def money(amount: Decimal, currency: str) -> str:
    return f"{amount.quantize(Decimal('0.0001'))} {currency}"


def percent(share: Decimal | None) -> str:
    return "-" if share is None else f"{(share * 100).quantize(Decimal('0.1'))} %"


def change(now: Decimal | int, before: Decimal | int) -> str:
    if not before:
        return "new" if now else "-"
    return f"{(Decimal(now) - Decimal(before)) * 100 / Decimal(before):+.1f} %"


def _table(title: str, lines: list[Line], currency: str, *, calls: bool = False, limit: int | None = None) -> str:
    head = (
        "| | runs | calls | prompt tokens | completion tokens | cost | share |"
        if calls
        else ("| | runs | prompt tokens | completion tokens | cost | share |")
    )
    rule = "|---|" + "---:|" * (head.count("|") - 2)
    total = sum((line.cost for line in lines), Decimal(0))
    rows = []
    for line in lines[:limit]:
        share = percent(line.cost / total if total else None)
        middle = f"{line.runs} | {line.calls} |" if calls else f"{line.runs} |"
        rows.append(
            f"| {line.key} | {middle} {line.prompt_tokens} | {line.completion_tokens} | "
            f"{money(line.cost, currency)} | {share} |"
        )
    more = f"\n\n{len(lines) - limit} more in the CSV." if limit is not None and len(lines) > limit else ""
    body = "\n".join(rows) if rows else "| (none) |"
    return f"## {title}\n\n{head}\n{rule}\n{body}{more}\n"


def render(now: MonthFigures, before: MonthFigures, chart: str | None) -> str:
    c = now.currency
    parts = [
        f"# Cost report {now.month}\n",
        f"Prices: version `{now.price_version}`, in {c}; costs are estimates from the price file, "
        f"computed with the price valid on each run's date. Previous month: {before.month}.\n",
    ]
    if now.unpriced:
        parts.append(
            f"**Unpriced** (counted as costing nothing; add them to the price file): {', '.join(now.unpriced)}\n"
        )
    rows = [
        ("cost", money(now.total.cost, c), money(before.total.cost, c), change(now.total.cost, before.total.cost)),
        ("runs", str(now.total.runs), str(before.total.runs), change(now.total.runs, before.total.runs)),
        ("tokens", str(now.total.tokens), str(before.total.tokens), change(now.total.tokens, before.total.tokens)),
        (
            "cost per run",
            money(now.total.cost / now.total.runs if now.total.runs else Decimal(0), c),
            money(before.total.cost / before.total.runs if before.total.runs else Decimal(0), c),
            "",
        ),
        ("runs ended in error", str(now.error_runs), str(before.error_runs), change(now.error_runs, before.error_runs)),
    ]
    parts.append(
        f"## The month against {before.month}\n\n| | {now.month} | {before.month} | change |\n|---|---:|---:|---:|\n"
        + "\n".join(f"| {a} | {b} | {d} | {e} |" for a, b, d, e in rows)
        + "\n"
    )
    estimated = Decimal(now.total.estimated_tokens) / now.total.tokens if now.total.tokens else None
    shares = [
        ("retried model calls (failed, then tried again)", now.retry_cost),
        ("the secondary model (fallbacks)", now.secondary_cost),
        ("runs that ended in error", now.error_cost),
        ("tool calls", now.tool_cost),
    ]
    parts.append(
        "## Where it went\n\n| | cost | share of the month |\n|---|---:|---:|\n"
        + "".join(f"| {what} | {money(cost, c)} | {percent(now.share(cost))} |\n" for what, cost in shares)
        + f"\nTokens estimated by the platform (the provider sent no usage): {percent(estimated)} of the month's.\n"
    )
    if chart:
        parts.append(f"![cost by day and by tenant]({chart})\n")
    parts.append(_table("By tenant", now.by_tenant, c))
    parts.append(_table("By user", now.by_user, c, limit=TOP_USERS))
    parts.append(_table("By model", now.by_model, c, calls=True))
    tools = [f"| {t.key} | {t.runs} | {t.calls} | {t.failed} | {money(t.cost, c)} |" for t in now.by_tool] or [
        "| (none) |"
    ]
    parts.append(
        "## By tool\n\n| | runs | calls | failed | cost |\n|---|---:|---:|---:|---:|\n" + "\n".join(tools) + "\n"
    )
    days = [f"| {d.key} | {d.runs} | {d.tokens} | {money(d.cost, c)} |" for d in now.by_day]
    parts.append("## Day by day\n\n| day | runs | tokens | cost |\n|---|---:|---:|---:|\n" + "\n".join(days) + "\n")
    paths = [
        f"| {p.path} | {p.runs} | {percent(Decimal(p.runs) / now.total.runs if now.total.runs else None)} | "
        f"{money(p.cost, c)} | {', '.join(f'`{rid}` ({money(cost, c)})' for rid, cost in p.top) or '-'} |"
        for p in now.paths
    ]
    parts.append(
        "## Expensive paths\n\nRuns that took a path that makes a run cost more (docs/cost.md#expensive-paths); "
        "a run may take several, so the rows overlap.\n\n"
        "| path | runs | share of runs | cost of those runs | costliest (request ids) |\n|---|---:|---:|---:|---|\n"
        + "\n".join(paths)
        + "\n"
    )
    top = [
        f"| `{r.request_id}` | {r.tenant}/{r.user_id} | {r.at:%Y-%m-%d %H:%M} | {r.tokens} | {money(r.cost, c)} | "
        f"{'; '.join(r.why) or '-'} |"
        for r in now.top_runs
    ] or ["| (none) |"]
    parts.append(
        "## The costliest runs, and why\n\n| request id | tenant/user | ended (UTC) | tokens | cost | why |\n"
        "|---|---|---|---:|---:|---|\n" + "\n".join(top) + "\n"
    )
    return "\n".join(parts)
