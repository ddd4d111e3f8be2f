"""`agent cost-report --month YYYY-MM [--out DIR]`: the monthly cost report on demand
(`agent_common.usage.report`; the same command the monthly CronJob runs)."""

from __future__ import annotations

import argparse

from agent_common.usage import report


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = commands.add_parser(
        "cost-report",
        help="Write a month's cost report (Markdown, CSV, chart) from the usage ledger.",
        description=report.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_arguments(cmd)
    cmd.set_defaults(handler=report.run)
