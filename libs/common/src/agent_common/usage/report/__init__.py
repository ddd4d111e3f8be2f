"""The monthly cost report: a month's cost from the usage ledger, as `agent cost-report`
runs it on demand and the monthly CronJob (`python -m agent_common.usage.report`, in the
orchestrator's image) on the 1st.

Reads the ledger the settings name (`USAGE_LEDGER_URL`, else the embedded default's file
`USAGE_LEDGER_PATH`) and the price file (`USAGE_PRICES_FILE`), and writes three files:
`cost-report-<month>.md` (for people), `.csv` (every figure, for spreadsheets) and `.svg`
(the chart). Without `--month`, the month before the current one (UTC). See docs/cost.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import sys
from pathlib import Path

from agent_common.usage import PriceFileInvalid, UsageEntry, UsageSettings, load_prices
from agent_common.usage.ledger import LedgerUnavailable, month_bounds, open_ledger
from agent_common.usage.report import chart, markdown, table
from agent_common.usage.report.figures import MonthFigures, month_figures

__all__ = ["add_arguments", "previous_month", "run", "write_report"]


def previous_month(month: str) -> str:
    start, _ = month_bounds(month)
    return (start - datetime.timedelta(days=1)).strftime("%Y-%m")


def _month(value: str) -> str:
    try:
        month_bounds(value)
    except ValueError:
        raise argparse.ArgumentTypeError("a month as YYYY-MM, e.g. 2026-11") from None
    return value


def write_report(
    month: str, entries: list[UsageEntry], previous: list[UsageEntry], settings: UsageSettings, out: Path
) -> tuple[MonthFigures, list[Path]]:
    """The month's figures, and the files written into `out` (created if need be)."""
    prices = load_prices(settings.prices_file)
    now = month_figures(month, entries, prices, settings.path_thresholds())
    before = month_figures(previous_month(month), previous, prices, settings.path_thresholds())
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"cost-report-{month}"
    svg, md, csv = stem.with_suffix(".svg"), stem.with_suffix(".md"), stem.with_suffix(".csv")
    chart.draw(now, svg)
    md.write_text(markdown.render(now, before, svg.name), encoding="utf-8")
    csv.write_text(table.render(now), encoding="utf-8")
    return now, [md, csv, svg]


async def _entries(settings: UsageSettings, month: str) -> tuple[list[UsageEntry], list[UsageEntry], str]:
    async with open_ledger(settings) as ledger:
        return await ledger.month(month), await ledger.month(previous_month(month)), ledger.location


def run(args: argparse.Namespace) -> int:
    """Write the report `args` asks for (`add_arguments`); the process's exit code."""
    settings = UsageSettings()
    month = args.month or previous_month(datetime.datetime.now(datetime.UTC).strftime("%Y-%m"))
    try:
        entries, previous, where = asyncio.run(_entries(settings, month))
        figures, files = write_report(month, entries, previous, settings, Path(args.out))
    except (LedgerUnavailable, PriceFileInvalid) as exc:
        sys.stderr.write(f"cost report: {exc}\n")
        return 1
    cost = markdown.money(figures.total.cost, figures.currency)
    sys.stderr.write(f"{month}: {figures.total.runs} run(s), {cost}, read from {where}\n")
    sys.stdout.write("".join(f"{path}\n" for path in files))
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--month", type=_month, help="YYYY-MM (UTC); default: the previous month.")
    parser.add_argument("--out", default="cost-reports", help="Folder to write the files into (default: cost-reports).")
