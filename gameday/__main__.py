"""`python -m gameday`: the quarterly game day (every scenario, the project's rules as they are);
`--short` is the test tier's two scenarios on rules scaled down (`--time-scale`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gameday.run import (
    ALL_SCENARIOS,
    DEFAULT_TEMPLATE,
    SHORT_SCENARIOS,
    SHORT_TIME_SCALE,
    Options,
    results_dir,
    run_game_day,
    say,
    summary,
)


def _arg(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected name=value, got {text!r}")
    return name, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gameday", description=__doc__)
    parser.add_argument("--short", action="store_true", help=f"only {', '.join(SHORT_SCENARIOS)}, rules scaled")
    parser.add_argument("--scenario", action="append", choices=ALL_SCENARIOS, help="run these (repeatable)")
    parser.add_argument(
        "--time-scale",
        type=float,
        help=f"divide every `for:` and range window by this (default 1; --short {SHORT_TIME_SCALE:g})",
    )
    parser.add_argument(
        "--analysis-template", type=Path, default=DEFAULT_TEMPLATE, help="the rollout's AnalysisTemplate(s)"
    )
    parser.add_argument("--analysis-arg", type=_arg, action="append", default=[], help="name=value for {{args.name}}")
    parser.add_argument("--clients", type=int, default=4, help="steady clients (default 4)")
    parser.add_argument(
        "--results", type=Path, default=results_dir(), help="where the report goes (GAMEDAY_RESULTS_DIR)"
    )
    args = parser.parse_args(argv)
    scenarios = args.scenario or (SHORT_SCENARIOS if args.short else ALL_SCENARIOS)
    scale = args.time_scale or (SHORT_TIME_SCALE if args.short else 1.0)
    options = Options(
        scenarios=scenarios,
        time_scale=scale,
        results=args.results,
        analysis_template=args.analysis_template,
        analysis_args=dict(args.analysis_arg),
        clients=args.clients,
        indexer=not args.short,
    )
    result = run_game_day(options)
    say(summary(result))
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
