"""How one fault is run and judged, whatever it is.

Under the steady traffic: wait until none of the alerts that should detect it is active (a
still-firing alert from the fault before would never fire anew), begin the fault, hold it
until detected (one of its alerts fires, or its own detector decides) or until the rules
could no longer fire it, end it, then wait until the clients' error rate and p95 are back
to the baseline's. The verdict fails when nothing detected it, an accepted request got no
terminal event (lost), or the traffic did not recover."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from gameday.measures import Baseline, client_view, in_flight, recovered_at
from gameday.platform import GameDayPlatform
from gameday.traffic import Sample, Traffic

__all__ = ["Detection", "Fault", "Outcome", "RunContext", "judge", "run_fault", "settle", "wait_recovered"]


@dataclass(frozen=True)
class Detection:
    signal: str  # the alert's name, or what decided (`HPA scale-up`, `analysis: roll back`)
    severity: str
    at: float  # wall clock
    notified_at: float | None = None  # when Alertmanager's notification arrived


@dataclass
class Fault:
    name: str
    what: str  # one line for the report
    expects: tuple[str, ...]  # alerts, any of which detects it
    begin: Callable[[], Awaitable[None]]
    end: Callable[[], Awaitable[None]]
    max_hold_s: float
    # Its own detector, asked every second while the fault holds (None: alerts only).
    detect: Callable[[float], Awaitable[Detection | None]] | None = None
    # Hold at least this long, detected or not (a spike must last for the policy to see it).
    min_hold_s: float = 0.0
    # Filled as it runs (a detector's readings), shown in the report.
    details: dict[str, Any] = field(default_factory=dict)
    # What the fault itself found wrong as it ran (a queue that never drained): each fails the verdict.
    problems: list[str] = field(default_factory=list)


@dataclass
class RunContext:
    day: GameDayPlatform
    traffic: Traffic
    baseline: Baseline
    recovery_window_s: float
    recovery_timeout_s: float
    quiet_timeout_s: float


@dataclass
class Outcome:
    """One scenario's result, as the report shows it."""

    name: str
    what: str
    began_at: float
    ended_at: float
    detection: Detection | None
    alerts: list[dict[str, Any]]  # every alert that fired from the fault's start to recovery
    recovered_at: float | None
    client: dict[str, Any]
    window_end: float  # the requests started from `began_at` to here are this scenario's
    failures: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def detection_s(self) -> float | None:
        return None if self.detection is None else round(self.detection.at - self.began_at, 1)

    @property
    def recovery_s(self) -> float | None:
        return None if self.recovered_at is None else round(max(0.0, self.recovered_at - self.ended_at), 1)

    def as_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "passed": self.passed,
            "detection_s": self.detection_s,
            "recovery_s": self.recovery_s,
        }


def _firing_detection(ctx: RunContext, names: tuple[str, ...], since: float) -> Detection | None:
    fired = [a for a in ctx.day.notifications.alerts() if a.name in names and a.fired_at >= since - 1]
    if not fired:
        return None
    first = min(fired, key=lambda a: a.fired_at)
    return Detection(first.name, first.severity, first.fired_at, first.notified_at)


async def _quiet(ctx: RunContext, names: tuple[str, ...]) -> list[str]:
    """Until none of `names` is pending or firing; returns those still active at the timeout."""
    deadline = time.monotonic() + ctx.quiet_timeout_s
    while True:
        active = sorted({a["labels"]["alertname"] for a in await asyncio.to_thread(ctx.day.monitoring.active_alerts)})
        still = [name for name in active if name in names]
        if not still or time.monotonic() > deadline:
            return still
        await asyncio.sleep(1)


async def run_fault(ctx: RunContext, fault: Fault) -> Outcome:
    still_active = await _quiet(ctx, fault.expects)
    began = time.time()
    await fault.begin()
    # Held from the moment it is in place: a rollout or a restart that puts it there takes a while.
    in_place = time.time()
    detection: Detection | None = None
    while time.time() - in_place < fault.max_hold_s:
        detection = detection or _firing_detection(ctx, fault.expects, began)
        if detection is None and fault.detect is not None:
            detection = await fault.detect(began)
        if detection is not None and time.time() - in_place >= fault.min_hold_s:
            break
        await asyncio.sleep(1)
    await fault.end()
    ended = time.time()
    recovered = await wait_recovered(ctx, ended)
    until = recovered if recovered is not None else time.time()
    return judge(ctx, fault, began, ended, recovered, detection, until, still_active)


async def wait_recovered(ctx: RunContext, since: float) -> float | None:
    deadline = time.time() + ctx.recovery_timeout_s
    while time.time() < deadline:
        found = recovered_at(ctx.traffic.samples, since, ctx.baseline, window_s=ctx.recovery_window_s)
        if found is not None:
            return found
        await asyncio.sleep(1)
    return recovered_at(ctx.traffic.samples, since, ctx.baseline, window_s=ctx.recovery_window_s)


def judge(
    ctx: RunContext,
    fault: Fault,
    began: float,
    ended: float,
    recovered: float | None,
    detection: Detection | None,
    until: float,
    still_active: list[str],
) -> Outcome:
    view = client_view(in_flight(ctx.traffic.samples, began, until))
    alerts = [
        {
            "alert": a.name,
            "severity": a.severity,
            "fired_after_s": round(a.fired_at - began, 1),
            "notified_after_s": round(a.notified_at - began, 1),
            "receiver": a.receiver,
            "resolved_after_s": None if a.resolved_at is None else round(a.resolved_at - began, 1),
        }
        for a in ctx.day.notifications.alerts()
        if began - 1 <= a.fired_at <= max(until, ended)
    ]
    failures = []
    if detection is None:
        expected = ", ".join(fault.expects) or "its detector"
        failures.append(f"not detected within {fault.max_hold_s:.0f} s (expected: {expected})")
    if view.lost:
        failures.append(f"{view.lost} {LOST}")
    failures.extend(fault.problems)
    if recovered is None:
        failures.append(f"error rate and p95 not back to normal {ctx.recovery_timeout_s:.0f} s after the fault ended")
    details: dict[str, Any] = {"expected": list(fault.expects), **fault.details}
    if still_active:
        details["still_active_at_start"] = still_active
    return Outcome(
        fault.name, fault.what, began, ended, detection, alerts, recovered, asdict(view), until, failures, details
    )


LOST = "accepted request(s) got no terminal event"


def settle(outcome: Outcome, samples: list[Sample]) -> None:
    """Once every client has finished: the scenario's client view from all of its requests,
    those that ended after it was judged included (a lost one is only known then)."""
    view = client_view(in_flight(samples, outcome.began_at, outcome.window_end))
    outcome.client = asdict(view)
    outcome.failures = [f for f in outcome.failures if LOST not in f]
    if view.lost:
        outcome.failures.append(f"{view.lost} {LOST}")
