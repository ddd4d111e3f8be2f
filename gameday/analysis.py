"""Argo Rollouts' analysis, run against the game day's Prometheus: AnalysisTemplates read
from a file, each metric's query measured at its `interval` (after `initialDelay`), each
measurement judged by its `successCondition`/`failureCondition`, and the run decided the
way Argo decides it:

- a metric fails once its failed measurements exceed `failureLimit` (default 0), or its
  consecutive errors exceed `consecutiveErrorLimit` (default 4): the rollout rolls back;
- a metric is inconclusive once those exceed `inconclusiveLimit` (default 0): Argo pauses;
- a metric with a `count` succeeds after that many measurements; one without runs until the
  analysis is stopped (a background analysis), here the end of `window_s`, and then succeeds.
  When every metric succeeded, the canary is promoted.

`{{args.<name>}}` in a query takes the template's `spec.args` value, or one given here.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from gameday.conditions import ConditionError, evaluate_condition
from gameday.durations import parse_duration, scale_duration, scale_windows

__all__ = ["Decision", "Measurement", "Metric", "Verdict", "analyse", "load_metrics"]

TEMPLATE_KINDS = ("AnalysisTemplate", "ClusterAnalysisTemplate")
_ARG = re.compile(r"\{\{\s*args\.([A-Za-z0-9_.-]+)\s*\}\}")


class Decision(StrEnum):
    PROMOTE = "promote"
    ROLL_BACK = "roll back"
    INCONCLUSIVE = "inconclusive"  # Argo pauses the rollout for a person to decide


@dataclass(frozen=True)
class Metric:
    """One metric of a template, its durations already scaled to the game day's clock."""

    template: str
    name: str
    query: str
    interval_s: float
    initial_delay_s: float = 0.0
    count: int | None = None
    success_condition: str | None = None
    failure_condition: str | None = None
    failure_limit: int = 0
    inconclusive_limit: int = 0
    consecutive_error_limit: int = 4


@dataclass(frozen=True)
class Measurement:
    metric: str
    at_s: float  # seconds since the analysis began
    phase: str  # Successful, Failed, Inconclusive, Error
    value: Any
    message: str = ""


@dataclass
class Verdict:
    decision: Decision
    decided_after_s: float
    reason: str
    measurements: list[Measurement] = field(default_factory=list)


def _substitute(query: str, args: Mapping[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in args:
            raise ValueError(f"the query needs args.{name}: give it with --analysis-arg {name}=...")
        return args[name]

    return _ARG.sub(value, query)


def load_metrics(
    path: Path, args: Mapping[str, str] | None = None, *, time_scale: float = 1, floor_s: float = 4
) -> list[Metric]:
    """Every Prometheus metric of every AnalysisTemplate in `path` (a multi-document YAML)."""
    metrics: list[Metric] = []
    for doc in yaml.safe_load_all(path.read_text()):
        if not isinstance(doc, dict) or doc.get("kind") not in TEMPLATE_KINDS:
            continue
        spec = doc.get("spec", {})
        defaults = {a["name"]: str(a["value"]) for a in spec.get("args", []) if "value" in a}
        values = {**defaults, **(args or {})}
        for raw in spec.get("metrics", []):
            prometheus = raw.get("provider", {}).get("prometheus")
            if prometheus is None:
                continue  # another provider (a web hook, a job): not the game day's to run
            interval = raw.get("interval")
            metrics.append(
                Metric(
                    template=doc.get("metadata", {}).get("name", "?"),
                    name=raw["name"],
                    query=scale_windows(_substitute(prometheus["query"], values), time_scale, floor_s=floor_s),
                    interval_s=parse_duration(scale_duration(interval, time_scale)) if interval else 0.0,
                    initial_delay_s=parse_duration(raw["initialDelay"]) / time_scale if "initialDelay" in raw else 0.0,
                    count=int(raw["count"]) if "count" in raw else (None if interval else 1),
                    success_condition=raw.get("successCondition"),
                    failure_condition=raw.get("failureCondition"),
                    failure_limit=int(raw.get("failureLimit", 0)),
                    inconclusive_limit=int(raw.get("inconclusiveLimit", 0)),
                    consecutive_error_limit=int(raw.get("consecutiveErrorLimit", 4)),
                )
            )
    if not metrics:
        raise ValueError(f"{path} holds no AnalysisTemplate metric with a Prometheus provider")
    return metrics


def result_of(vector: list[dict[str, Any]]) -> list[float]:
    """What Argo's Prometheus provider gives a condition as `result`: the vector's values."""
    return [float(sample["value"][1]) for sample in vector]


def judge(metric: Metric, result: list[float]) -> tuple[str, str]:
    """One measurement's phase, as Argo's `EvaluateResult` decides it."""
    try:
        failed = metric.failure_condition is not None and evaluate_condition(metric.failure_condition, result)
        if failed:
            return "Failed", f"{metric.failure_condition} holds"
        if metric.success_condition is None:
            return "Successful", ""
        if evaluate_condition(metric.success_condition, result):
            return "Successful", ""
    except ConditionError as exc:
        return "Error", str(exc)
    if metric.failure_condition is None:
        return "Failed", f"{metric.success_condition} does not hold"
    return "Inconclusive", "neither condition holds"


@dataclass
class _Tally:
    taken: int = 0
    failed: int = 0
    inconclusive: int = 0
    consecutive_errors: int = 0


async def _measure_metric(
    metric: Metric,
    query: Callable[[str], list[dict[str, Any]]],
    began: float,
    window_s: float,
    measurements: list[Measurement],
) -> tuple[Decision | None, str]:
    """Measure one metric until it decides (`None` from a metric that ran its course: success)."""
    tally = _Tally()
    await asyncio.sleep(metric.initial_delay_s)
    while True:
        try:
            vector = await asyncio.to_thread(query, metric.query)
            value: Any = result_of(vector)
            phase, message = judge(metric, value)
        except (RuntimeError, OSError, ValueError) as exc:
            value, phase, message = None, "Error", str(exc)
        at = time.monotonic() - began
        measurements.append(Measurement(metric.name, round(at, 1), phase, _plain(value), message))
        tally.taken += 1
        tally.consecutive_errors = tally.consecutive_errors + 1 if phase == "Error" else 0
        tally.failed += phase == "Failed"
        tally.inconclusive += phase == "Inconclusive"
        if tally.failed > metric.failure_limit:
            return Decision.ROLL_BACK, f"{metric.name}: {tally.failed} failed (failureLimit {metric.failure_limit})"
        if tally.consecutive_errors > metric.consecutive_error_limit:
            return Decision.ROLL_BACK, f"{metric.name}: {tally.consecutive_errors} errors in a row ({message})"
        if tally.inconclusive > metric.inconclusive_limit:
            return Decision.INCONCLUSIVE, f"{metric.name}: {tally.inconclusive} inconclusive"
        if metric.count is not None and tally.taken >= metric.count:
            return None, ""
        if time.monotonic() - began + metric.interval_s > window_s:
            return None, ""  # a background analysis stopped at the end of its window
        await asyncio.sleep(metric.interval_s)


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [None if math.isnan(v) else round(v, 6) for v in value]
    return value


async def analyse(metrics: list[Metric], query: Callable[[str], list[dict[str, Any]]], *, window_s: float) -> Verdict:
    """Run every metric side by side; the first to fail decides a roll back at once."""
    began = time.monotonic()
    measurements: list[Measurement] = []
    tasks = {asyncio.create_task(_measure_metric(m, query, began, window_s, measurements)): m for m in metrics}
    pending = set(tasks)
    inconclusive = ""
    try:
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                decision, reason = task.result()
                if decision is Decision.ROLL_BACK:
                    return Verdict(decision, round(time.monotonic() - began, 1), reason, measurements)
                if decision is Decision.INCONCLUSIVE:
                    inconclusive = reason
    finally:
        for task in pending:
            task.cancel()
    elapsed = round(time.monotonic() - began, 1)
    if inconclusive:
        return Verdict(Decision.INCONCLUSIVE, elapsed, inconclusive, measurements)
    return Verdict(Decision.PROMOTE, elapsed, "every metric succeeded", measurements)
