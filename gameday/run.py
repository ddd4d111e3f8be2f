"""One game day from start to end: the platform and its monitoring up, steady traffic, a
baseline, every scenario in turn, then the report. `run_game_day(Options(...))` returns the
outcomes and where the report was written; `python -m gameday` is its command line."""

from __future__ import annotations

import asyncio
import os
import platform as host
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gameday.faults import Outcome, RunContext, run_fault, settle
from gameday.measures import baseline_of
from gameday.platform import GameDayPlatform, open_platform
from gameday.release import RELEASES, Release, ReleaseKind, run_release
from gameday.report import table, write_report
from gameday.scenarios import SCENARIOS
from gameday.traffic import Traffic

__all__ = [
    "ALL_SCENARIOS",
    "SHORT_SCENARIOS",
    "SHORT_TIME_SCALE",
    "GameDay",
    "Options",
    "results_dir",
    "run_game_day",
    "say",
    "summary",
]

ROOT = Path(__file__).resolve().parents[1]
ALL_SCENARIOS = (*SCENARIOS, *RELEASES)
SHORT_SCENARIOS = ("secret-rotated", "pod-orchestrator")
SHORT_TIME_SCALE = 30.0  # the short run's rules: `for: 1m` waits 2 s, a 5m window is 10 s
DEFAULT_TEMPLATE = ROOT / "deploy" / "rollouts" / "analysis-template.yaml"


def results_dir() -> Path:
    return Path(os.environ.get("GAMEDAY_RESULTS_DIR", ROOT / "gameday" / "results"))


@dataclass
class Options:
    scenarios: Sequence[str] = ALL_SCENARIOS
    time_scale: float = 1.0
    results: Path = field(default_factory=results_dir)
    analysis_template: Path = DEFAULT_TEMPLATE
    analysis_args: dict[str, str] = field(default_factory=dict)
    clients: int = 4
    keep_work: bool = False
    indexer: bool = True  # the short run leaves it out: no scenario of its touches it

    @property
    def scrape_s(self) -> float:
        """The short run's scrape and evaluation interval (the full run keeps prometheus.yml's)."""
        return 1.0

    @property
    def baseline_s(self) -> float:
        return max(10.0, 60 / self.time_scale)

    @property
    def recovery_window_s(self) -> float:
        return max(6.0, 30 / self.time_scale)

    @property
    def recovery_timeout_s(self) -> float:
        return max(45.0, 300 / self.time_scale)

    @property
    def quiet_timeout_s(self) -> float:
        return max(20.0, 900 / self.time_scale)


@dataclass
class GameDay:
    outcomes: list[Outcome]
    report: dict[str, Path]

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outcomes)


def run_game_day(options: Options) -> GameDay:
    unknown = [s for s in options.scenarios if s not in ALL_SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenario(s) {unknown}; known: {', '.join(ALL_SCENARIOS)}")
    work = options.results / "work"
    shutil.rmtree(work, ignore_errors=True)
    starting = time.monotonic()
    with open_platform(work, time_scale=options.time_scale, scrape_s=options.scrape_s, indexer=options.indexer) as day:
        say(f"gameday: the platform and its monitoring are up ({time.monotonic() - starting:.0f} s)")
        result = asyncio.run(_run(day, options))
    if not options.keep_work:
        # The logs stay (what an operator reads after a failure); the data stores go.
        for data in ("kafka", "redis", "monitoring/prometheus-data", "monitoring/alertmanager-data", "documents"):
            shutil.rmtree(work / data, ignore_errors=True)
    return result


async def _run(day: GameDayPlatform, options: Options) -> GameDay:
    outcomes: list[Outcome] = []
    async with Traffic(day.platform, day.upstream_url, clients=options.clients) as traffic:
        started = time.time()
        await asyncio.sleep(options.baseline_s)
        while not traffic.samples:  # noqa: ASYNC110 - a slow start: one answer at least before judging
            await asyncio.sleep(1)
        baseline = baseline_of(list(traffic.samples))
        ctx = RunContext(
            day, traffic, baseline, options.recovery_window_s, options.recovery_timeout_s, options.quiet_timeout_s
        )
        for name in options.scenarios:
            say(f"gameday: {name}...")
            try:
                if name in RELEASES:
                    release = Release(options.analysis_template, options.analysis_args, ReleaseKind(name))
                    outcome = await run_release(ctx, release)
                else:
                    outcome = await run_fault(ctx, SCENARIOS[name](ctx))
            except Exception as exc:  # one broken scenario is a failed one; the day and its report go on
                outcome = broken(name, exc)
            say(f"gameday: {name}: {'pass' if outcome.passed else 'FAIL ' + '; '.join(outcome.failures)}")
            outcomes.append(outcome)
            # What is known so far, written after each scenario: a day cut short keeps its report.
            write_report(options.results, outcomes, list(traffic.samples), baseline, started, _setup(day, options))
    for outcome in outcomes:
        settle(outcome, traffic.samples)
    paths = write_report(options.results, outcomes, traffic.samples, baseline, started, _setup(day, options))
    return GameDay(outcomes, paths)


def _setup(day: GameDayPlatform, options: Options) -> dict[str, object]:
    return {
        "scenarios": list(options.scenarios),
        "time_scale": options.time_scale,
        "scrape_interval_s": day.monitoring.scrape_s,
        "clients": options.clients,
        "indexer": options.indexer,
        "recovery_window_s": options.recovery_window_s,
        "cores": os.cpu_count(),
        "python": host.python_version(),
        "analysis_template": str(options.analysis_template),
    }


def broken(name: str, exc: Exception) -> Outcome:
    now = time.time()
    client = {"requests": 0, "affected": 0, "errors_by_code": {}, "fallbacks_shown": 0, "lost": 0}
    failure = f"the scenario itself failed: {type(exc).__name__}: {exc}"
    return Outcome(name, "(did not run to its end)", now, now, None, [], None, client, now, [failure])


def say(line: str) -> None:
    """Progress and the final table, for the person running the game day."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def summary(result: GameDay) -> str:
    return f"{table(result.outcomes)}\n\nreport: {result.report['md']}"
