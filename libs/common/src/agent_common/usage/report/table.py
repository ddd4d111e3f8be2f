"""The report for spreadsheets: one CSV, one row per figure, `section` saying which breakdown.

Sections: `total`, `tenant`, `user` (`tenant/user`), `model`, `tool`, `day`, `path` (the
expensive paths: runs that took each and their cost), and `share`
(retries, secondary, errors, tools: their cost and share of the month). Amounts are the
exact decimals, never rounded."""

from __future__ import annotations

import csv
import io

from agent_common.usage.report.figures import Line, MonthFigures

COLUMNS = ("month", "section", "key", "runs", "calls", "failed", "prompt_tokens", "completion_tokens", "cost", "share")


def render(figures: MonthFigures) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)

    def line(section: str, row: Line) -> None:
        writer.writerow(
            (
                figures.month,
                section,
                row.key,
                row.runs,
                row.calls,
                row.failed,
                row.prompt_tokens,
                row.completion_tokens,
                row.cost,
                "",
            )
        )

    line("total", figures.total)
    for section, rows in (
        ("tenant", figures.by_tenant),
        ("user", figures.by_user),
        ("model", figures.by_model),
        ("tool", figures.by_tool),
        ("day", figures.by_day),
    ):
        for row in rows:
            line(section, row)
    for path in figures.paths:
        writer.writerow((figures.month, "path", path.path, path.runs, "", "", "", "", path.cost, ""))
    for key, cost in (
        ("retries", figures.retry_cost),
        ("secondary", figures.secondary_cost),
        ("errors", figures.error_cost),
        ("tools", figures.tool_cost),
    ):
        share = figures.share(cost)
        writer.writerow((figures.month, "share", key, "", "", "", "", "", cost, "" if share is None else share))
    return out.getvalue()
