"""The bad release, and a healthy one: a canary orchestrator joins the platform, Prometheus
scrapes it (labelled `track="canary"`, `rollouts_pod_template_hash="canary"`), and the rollout's
AnalysisTemplate(s) are run against the game day's Prometheus (`analysis.py`) while the
traffic goes on. The bad release holds a stale model key for both endpoints, so every run it
takes fails (`MODEL_MISCONFIGURED`); the analysis must decide "roll back" within its window.
The healthy one is the same build with the right settings; the analysis must decide "promote".
Either way the canary is then taken away: rolled back, or (promoted) handed over to the stable
replicas, so the day goes on as it was."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gameday.analysis import Decision, analyse, load_metrics
from gameday.faults import Detection, Fault, Outcome, RunContext, judge, wait_recovered

__all__ = ["Release", "run_release"]

CANARY = "orchestrator-canary"
CANARY_LABELS = {"track": "canary", "rollouts_pod_template_hash": "canary"}
STALE_KEY = "stale-release-key"


@dataclass(frozen=True)
class Release:
    template: Path
    args: Mapping[str, str]
    healthy: bool

    @property
    def name(self) -> str:
        return "release-healthy" if self.healthy else "release-bad"

    @property
    def expected(self) -> Decision:
        return Decision.PROMOTE if self.healthy else Decision.ROLL_BACK


def _window_s(metrics_interval: list[tuple[float, float, int | None]], time_scale: float) -> float:
    """Long enough for every metric to take its `count` (ten measurements when it has none)."""
    return max(initial + (count or 10) * interval for initial, interval, count in metrics_interval) + max(
        10.0, 60 / time_scale
    )


async def run_release(ctx: RunContext, release: Release) -> Outcome:
    day = ctx.day
    what = (
        "a canary orchestrator with the right settings"
        if release.healthy
        else "a canary orchestrator whose release holds a stale model key (every run it takes fails)"
    )
    fault = Fault(release.name, what, (), _nothing, _nothing, 0.0)
    began = time.time()
    if not release.template.is_file():
        outcome = judge(ctx, fault, began, began, began, None, began, [])
        outcome.failures = [f"no AnalysisTemplate at {release.template}"]
        return outcome
    monitoring = day.monitoring
    metrics = load_metrics(
        release.template, release.args, time_scale=monitoring.time_scale, floor_s=4 * monitoring.scrape_s
    )
    window = _window_s([(m.initial_delay_s, m.interval_s, m.count) for m in metrics], monitoring.time_scale)
    fault.max_hold_s = window
    primary = day.platform.processes["orchestrator-1"].env["MODEL_BASE_URL"]
    settings = (
        {}
        if release.healthy
        else {"MODEL_API_KEY": STALE_KEY, "MODEL_SECONDARY_BASE_URL": primary, "MODEL_SECONDARY_API_KEY": STALE_KEY}
    )
    day.start_extra(CANARY, "orchestrator-1", settings, CANARY_LABELS)
    verdict = await analyse(metrics, monitoring.query, window_s=window)
    detection = Detection(f"analysis: {verdict.decision}", "rollout", began + verdict.decided_after_s)
    day.stop_extra(CANARY)
    ended = time.time()
    recovered = await wait_recovered(ctx, ended)
    outcome = judge(ctx, fault, began, ended, recovered, detection, recovered or time.time(), [])
    outcome.details.update(
        {
            "template": str(release.template),
            "decision": str(verdict.decision),
            "expected_decision": str(release.expected),
            "reason": verdict.reason,
            "decided_after_s": verdict.decided_after_s,
            "window_s": round(window, 1),
            "queries": {m.name: m.query for m in metrics},
            "measurements": [m.__dict__ for m in verdict.measurements],
        }
    )
    if verdict.decision is not release.expected:
        outcome.failures.append(f"the analysis decided {verdict.decision!s}, not {release.expected!s}")
    return outcome


async def _nothing() -> None:
    return None
