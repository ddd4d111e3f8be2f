"""The rollout criteria, read from the Argo Rollouts `AnalysisTemplate` in `deploy/rollouts/`.

One file holds the criteria for both ways of rolling out: Argo Rollouts runs the
template itself; `agent rollout watch` (plain Deployments) reads it here and
measures the same queries the same way. Each metric is a Prometheus query whose
first value must meet `successCondition` (`result[0] < 0.05`: the one form
accepted, so any evaluator can apply it), measured every `interval`, `count`
times; the analysis fails when more than `failureLimit` measurements failed, or
when more than `consecutiveErrorLimit` (Argo's default 4) in a row could not be
taken.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["AnalysisTemplateError", "Condition", "Criterion", "load_criteria", "parse_duration"]

DEFAULT_CONSECUTIVE_ERROR_LIMIT = 4  # Argo Rollouts' default

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_CONDITION = re.compile(r"^\s*result\[0\]\s*(<=|>=|==|!=|<|>)\s*(-?[0-9]+(?:\.[0-9]+)?(?:[eE]-?[0-9]+)?)\s*$")
_DURATION = re.compile(r"^([0-9]+)(ms|s|m|h)$")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class AnalysisTemplateError(ValueError):
    """The template is not one this evaluator (and the tests) can apply."""


def parse_duration(text: str) -> float:
    """Seconds in an Argo duration (`30s`, `1m`, `2h`)."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise AnalysisTemplateError(f"duration {text!r} is not a number followed by ms, s, m or h")
    return int(match[1]) * _SECONDS[match[2]]


@dataclass(frozen=True)
class Condition:
    op: str
    threshold: float

    @classmethod
    def parse(cls, text: str) -> Condition:
        match = _CONDITION.match(text)
        if match is None:
            raise AnalysisTemplateError(f"condition {text!r} is not of the form `result[0] <op> <number>`")
        return cls(match[1], float(match[2]))

    def holds(self, value: float) -> bool:
        """NaN never holds, as in Argo's evaluation."""
        return _OPERATORS[self.op](value, self.threshold)

    def __str__(self) -> str:
        return f"result[0] {self.op} {self.threshold:g}"


@dataclass(frozen=True)
class Criterion:
    name: str
    query: str
    success: Condition
    interval_s: float
    count: int
    failure_limit: int
    consecutive_error_limit: int

    def analysis_failed(self, failed: int, consecutive_errors: int) -> bool:
        return failed > self.failure_limit or consecutive_errors > self.consecutive_error_limit


def _criterion(metric: dict[str, Any]) -> Criterion:
    name = metric.get("name", "?")
    try:
        query = metric["provider"]["prometheus"]["query"]
        success = Condition.parse(metric["successCondition"])
        interval = parse_duration(metric["interval"])
        count = int(metric["count"])
    except KeyError as missing:
        raise AnalysisTemplateError(f"metric {name!r} has no {missing}") from None
    if "failureCondition" in metric:
        raise AnalysisTemplateError(f"metric {name!r}: only successCondition is read here")
    return Criterion(
        name=name,
        query=str(query).strip(),
        success=success,
        interval_s=interval,
        count=count,
        failure_limit=int(metric.get("failureLimit", 0)),
        consecutive_error_limit=int(metric.get("consecutiveErrorLimit", DEFAULT_CONSECUTIVE_ERROR_LIMIT)),
    )


def load_criteria(path: Path) -> list[Criterion]:
    """The metrics of the `AnalysisTemplate` in `path`."""
    try:
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
    except (OSError, yaml.YAMLError) as exc:
        raise AnalysisTemplateError(f"cannot read {path}: {exc}") from exc
    templates = [d for d in documents if d.get("kind") in ("AnalysisTemplate", "ClusterAnalysisTemplate")]
    if len(templates) != 1:
        raise AnalysisTemplateError(f"{path} holds {len(templates)} AnalysisTemplates, not one")
    metrics = templates[0].get("spec", {}).get("metrics") or []
    if not metrics:
        raise AnalysisTemplateError(f"{path}: the AnalysisTemplate has no metrics")
    return [_criterion(m) for m in metrics]
