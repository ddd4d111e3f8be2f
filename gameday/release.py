"""The bad releases, and a healthy one: a canary orchestrator joins the platform, Prometheus
scrapes it (labelled `track="canary"`, `rollouts_pod_template_hash="canary"`), and the rollout's
AnalysisTemplate(s) are run against the game day's Prometheus (`analysis.py`) while the
traffic goes on and every orchestrator's `/ready` is probed as the kubelet probes it.

- bad: the release holds a stale model key for both endpoints, so every run it takes fails
  (`MODEL_MISCONFIGURED`); the analysis must decide "roll back" within its window.
- unready: the release's manifest names a Redis that is not there, so the canary never becomes
  ready; the analysis must decide "roll back", its readiness criterion failing, and no client's
  turn may be affected (the canary joins no consumer group before it is ready).
- healthy: the same build with the right settings; the analysis must decide "promote".

Either way the canary is then taken away: rolled back, or (promoted) handed over to the stable
replicas, so the day goes on as it was."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import httpx
import yaml

from gameday.analysis import Decision, analyse, load_metrics
from gameday.faults import Detection, Fault, Outcome, RunContext, judge, wait_recovered
from gameday.platform import GameDayPlatform
from gameday.policy import ORCHESTRATOR_MANIFEST
from tests.support.web import free_tcp_port

__all__ = ["RELEASES", "Release", "ReleaseKind", "run_release"]

CANARY = "orchestrator-canary"
CANARY_LABELS = {"track": "canary", "rollouts_pod_template_hash": "canary"}
STALE_KEY = "stale-release-key"


READINESS_METRIC = "readiness-failure-share"  # the template's criterion a never-ready canary must fail


class ReleaseKind(StrEnum):
    """In the order they run: each canary's signals stay in the analysis's windows for a while
    after it is gone, so the healthy one goes first and the one judged on run errors last."""

    HEALTHY = "release-healthy"
    UNREADY = "release-unready"
    BAD = "release-bad"


RELEASES = tuple(ReleaseKind)
WHAT = {
    ReleaseKind.BAD: "a canary orchestrator whose release holds a stale model key (every run it takes fails)",
    ReleaseKind.UNREADY: "a canary orchestrator whose release names a Redis that is not there (never ready)",
    ReleaseKind.HEALTHY: "a canary orchestrator with the right settings",
}


@dataclass(frozen=True)
class Release:
    template: Path
    args: Mapping[str, str]
    kind: ReleaseKind

    @property
    def name(self) -> str:
        return str(self.kind)

    @property
    def healthy(self) -> bool:
        return self.kind is ReleaseKind.HEALTHY

    @property
    def expected(self) -> Decision:
        return Decision.PROMOTE if self.healthy else Decision.ROLL_BACK

    def settings(self, day: GameDayPlatform) -> dict[str, str]:
        """What the release changes in the canary's environment."""
        if self.kind is ReleaseKind.BAD:
            primary = day.platform.processes["orchestrator-1"].env["MODEL_BASE_URL"]
            stale = {"MODEL_API_KEY": STALE_KEY, "MODEL_SECONDARY_API_KEY": STALE_KEY}
            return {**stale, "MODEL_SECONDARY_BASE_URL": primary}
        if self.kind is ReleaseKind.UNREADY:
            return {"REDIS_URL": f"redis://127.0.0.1:{free_tcp_port()}/0"}  # nothing listens there
        return {}


def probe_period_s(manifest: Path = ORCHESTRATOR_MANIFEST) -> float:
    """The orchestrator's readinessProbe period (deploy/k8s): how often the kubelet asks `/ready`."""
    docs = [d for d in yaml.safe_load_all(manifest.read_text()) if isinstance(d, dict)]
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return float(container["readinessProbe"].get("periodSeconds", 10))


@contextlib.asynccontextmanager
async def kubelet_probes(day: GameDayPlatform, period_s: float) -> AsyncIterator[None]:
    """Ask every orchestrator's `/ready` (the stable ones and the canary) every `period_s`, as the
    kubelet does: each answer is counted in `readiness_probes_total`, the rollout's readiness
    criterion. A pod's probe waits for nobody else's."""

    async def probe_all(client: httpx.AsyncClient) -> None:
        while True:
            urls = [url for name, url in day.platform.services.items() if name.startswith("orchestrator")]
            urls += list(day.extra_urls.values())
            await asyncio.gather(*(_probe(client, url) for url in urls))
            await asyncio.sleep(period_s)

    async with httpx.AsyncClient(timeout=3) as client:  # the probe's timeoutSeconds
        task = asyncio.create_task(probe_all(client))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _probe(client: httpx.AsyncClient, url: str) -> None:
    with contextlib.suppress(httpx.HTTPError):
        await client.get(f"{url}/ready")


def _window_s(metrics_interval: list[tuple[float, float, int | None]], time_scale: float) -> float:
    """Long enough for every metric to take its `count` (ten measurements when it has none)."""
    return max(initial + (count or 10) * interval for initial, interval, count in metrics_interval) + max(
        10.0, 60 / time_scale
    )


async def run_release(ctx: RunContext, release: Release) -> Outcome:
    day = ctx.day
    fault = Fault(release.name, WHAT[release.kind], (), _nothing, _nothing, 0.0)
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
    period_s = max(1.0, probe_period_s() / monitoring.time_scale)
    async with kubelet_probes(day, period_s):
        # The never-ready canary is waited for as alive only (`/health`): it never answers `/ready` 200.
        ready = release.kind is not ReleaseKind.UNREADY
        await asyncio.to_thread(day.start_extra, CANARY, "orchestrator-1", release.settings(day), CANARY_LABELS, ready)
        verdict = await analyse(metrics, monitoring.query, window_s=window)
        detection = Detection(f"analysis: {verdict.decision}", "rollout", began + verdict.decided_after_s)
        await asyncio.to_thread(day.stop_extra, CANARY)
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
    readiness_failed = any(m.metric == READINESS_METRIC and m.phase == "Failed" for m in verdict.measurements)
    if release.kind is ReleaseKind.UNREADY and not readiness_failed:
        outcome.failures.append(f"{READINESS_METRIC} never failed for a canary that is never ready")
    if release.kind is ReleaseKind.UNREADY and outcome.client["affected"]:
        # It joins no consumer group until ready (docs/reliability.md#readiness): no turn is its.
        outcome.failures.append(f"a canary that is never ready affected {outcome.client['affected']} turns")
    return outcome


async def _nothing() -> None:
    return None
