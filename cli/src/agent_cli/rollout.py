"""`agent rollout watch`: automatic rollback for plain Deployments (clusters without Argo Rollouts).

Run it right after `kubectl apply -k ...`: it measures the criteria of the
rollout `AnalysisTemplate` (deploy/rollouts/analysis-template.yaml, the same
file Argo Rollouts runs) against Prometheus, every `interval`, `count` times,
and when the analysis fails (more than `failureLimit` measurements failed, or
Prometheus could not be asked more than `consecutiveErrorLimit` times in a row,
as Argo decides) it runs `kubectl rollout undo` on each Deployment named, then
`kubectl rollout status` to see the previous version serving again.
Exit status: 0 healthy (keep the release), 3 rolled back, 1 the rollback
itself failed or the template is unusable. docs/rollback.md says why these
criteria and thresholds.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from agent_cli.prometheus_api import PrometheusApi, PrometheusUnavailable, prometheus_api
from agent_cli.rollout_analysis import AnalysisTemplateError, Criterion, load_criteria

__all__ = ["ROLLED_BACK", "Verdict", "add_parser", "analyse"]

DEFAULT_TEMPLATE = Path("deploy/rollouts/analysis-template.yaml")
DEFAULT_NAMESPACE = "agent-platform"
ROLLED_BACK = 3


@dataclass
class Verdict:
    failed_criterion: str | None = None
    reason: str = ""
    measurements: list[str] = field(default_factory=list)

    @property
    def roll_back(self) -> bool:
        return self.failed_criterion is not None


def _say(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {line}", flush=True)


async def _measure(api: PrometheusApi, criterion: Criterion) -> float:
    samples = await api.query(criterion.query)
    if not samples:
        raise PrometheusUnavailable(f"{criterion.name}: the query returned no value")
    return samples[0].value


async def analyse(api: PrometheusApi, criteria: list[Criterion], interval_s: float, count: int) -> Verdict:
    """Measure every criterion `count` times, `interval_s` apart; stop at the first failed analysis."""
    verdict = Verdict()
    failed = dict.fromkeys((c.name for c in criteria), 0)
    errors_in_a_row = dict.fromkeys((c.name for c in criteria), 0)
    for round_ in range(count):
        if round_:
            await asyncio.sleep(interval_s)
        for criterion in criteria:
            try:
                value = await _measure(api, criterion)
            except PrometheusUnavailable as problem:
                errors_in_a_row[criterion.name] += 1
                line = f"{criterion.name}: measurement error ({problem})"
            else:
                errors_in_a_row[criterion.name] = 0
                ok = criterion.success.holds(value)
                failed[criterion.name] += not ok
                line = f"{criterion.name} = {value:.4g}: {'ok' if ok else 'FAILED'} ({criterion.success})"
            verdict.measurements.append(line)
            _say(line)
            if criterion.analysis_failed(failed[criterion.name], errors_in_a_row[criterion.name]):
                verdict.failed_criterion = criterion.name
                verdict.reason = (
                    f"{criterion.name}: {failed[criterion.name]} failed measurements "
                    f"(limit {criterion.failure_limit}), {errors_in_a_row[criterion.name]} errors in a row "
                    f"(limit {criterion.consecutive_error_limit})"
                )
                return verdict
    return verdict


async def _kubectl(kubectl: str, *args: str) -> int:
    _say(f"$ {kubectl} {' '.join(args)}")
    proc = await asyncio.create_subprocess_exec(kubectl, *args)
    return await proc.wait()


async def roll_back(kubectl: str, namespace: str, deployments: list[str]) -> bool:
    """`rollout undo` then `rollout status` for each Deployment; True when every step succeeded."""
    ok = True
    for name in deployments:
        ok &= await _kubectl(kubectl, "rollout", "undo", f"deployment/{name}", "-n", namespace) == 0
    for name in deployments:
        status = ("rollout", "status", f"deployment/{name}", "-n", namespace, "--timeout=10m")
        ok &= await _kubectl(kubectl, *status) == 0
    return ok


async def _watch(args: argparse.Namespace) -> int:
    try:
        criteria = load_criteria(args.template)
    except AnalysisTemplateError as problem:
        print(f"agent rollout watch: {problem}", file=sys.stderr)
        return 1
    interval = args.interval if args.interval is not None else min(c.interval_s for c in criteria)
    count = args.count if args.count is not None else max(c.count for c in criteria)
    _say(f"watching {', '.join(args.deployment)}: {len(criteria)} criteria, {count} x every {interval:g} s")
    async with prometheus_api(args.prometheus) as api:
        verdict = await analyse(api, criteria, interval, count)
    if not verdict.roll_back:
        _say("analysis passed: the release stays")
        return 0
    _say(f"analysis failed, rolling back: {verdict.reason}")
    if not await roll_back(args.kubectl, args.namespace, args.deployment):
        print(
            "agent rollout watch: the rollback did not complete; roll back by hand (docs/runbook.md)", file=sys.stderr
        )
        return 1
    _say("rolled back: the previous version is serving")
    return ROLLED_BACK


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rollout = commands.add_parser("rollout", help="Watch a release of plain Deployments and roll it back on failure.")
    sub = rollout.add_subparsers(dest="rollout_command", required=True)
    watch = sub.add_parser(
        "watch",
        help="After `kubectl apply`: measure the rollout criteria, and `kubectl rollout undo` when they fail.",
    )
    watch.add_argument("--prometheus", required=True, help="Prometheus's base URL (http://prometheus:9090).")
    watch.add_argument(
        "--deployment", action="append", required=True, help="A Deployment just applied (repeat for several)."
    )
    watch.add_argument("--namespace", "-n", default=DEFAULT_NAMESPACE, help=f"(default: {DEFAULT_NAMESPACE})")
    watch.add_argument(
        "--template", type=Path, default=DEFAULT_TEMPLATE, help=f"The AnalysisTemplate (default: {DEFAULT_TEMPLATE})."
    )
    watch.add_argument("--interval", type=float, help="Seconds between measurements (default: the template's).")
    watch.add_argument("--count", type=int, help="Measurements to take (default: the template's).")
    watch.add_argument("--kubectl", default="kubectl", help="The kubectl to run (default: kubectl on the PATH).")
    watch.set_defaults(handler=lambda a: asyncio.run(_watch(a)))
