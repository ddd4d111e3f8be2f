"""The rollout analysis decides as Argo Rollouts does: a metric that fails more often than
its `failureLimit` rolls the canary back as soon as it does; metrics that take their `count`
without that promote it; neither condition holding past `inconclusiveLimit` pauses it. Run
against a fake Prometheus answering what a test says, on the test template's durations
divided by 30 (the short game day's scale)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gameday.analysis import Decision, analyse, load_metrics

TEMPLATE = Path(__file__).parent / "fixtures" / "analysis-template.yaml"
SCALE = 30.0


def prometheus_answering(values: list[float | None]) -> tuple[Callable[[str], list[dict[str, Any]]], list[str]]:
    """A query function giving `values` one after another (None: an empty vector), then the last."""
    asked: list[str] = []

    def query(expr: str) -> list[dict[str, Any]]:
        asked.append(expr)
        value = values[min(len(asked), len(values)) - 1]
        return [] if value is None else [{"metric": {}, "value": [time.time(), str(value)]}]

    return query, asked


def test_the_template_is_read_with_its_args_and_durations_scaled() -> None:
    (metric,) = load_metrics(TEMPLATE, {"canary-hash": "abc123"}, time_scale=SCALE, floor_s=4)
    assert metric.name == "canary-run-error-rate"
    assert (metric.interval_s, metric.initial_delay_s, metric.count, metric.failure_limit) == (1.0, 1.0, 6, 1)
    assert 'rollouts_pod_template_hash="abc123"' in metric.query
    assert "[4s]" in metric.query and "[2m]" not in metric.query  # 2m / 30, no fewer than four scrapes


def test_a_missing_arg_is_named(tmp_path: Path) -> None:
    path = tmp_path / "no-default.yaml"
    path.write_text(TEMPLATE.read_text().replace("      value: canary\n", ""))
    with pytest.raises(ValueError, match=r"args\.canary-hash"):
        load_metrics(path)


async def test_a_failing_canary_is_rolled_back_at_its_second_failure() -> None:
    metrics = load_metrics(TEMPLATE, time_scale=SCALE)
    query, asked = prometheus_answering([0.0, 0.4, 0.5])
    verdict = await analyse(metrics, query, window_s=30)
    assert verdict.decision is Decision.ROLL_BACK
    assert len(asked) == 3  # failureLimit 1: the second failure decides, the rest is not waited for
    assert [m.phase for m in verdict.measurements] == ["Successful", "Failed", "Failed"]
    assert verdict.decided_after_s < 5


async def test_a_healthy_canary_is_promoted_after_its_count() -> None:
    metrics = load_metrics(TEMPLATE, time_scale=SCALE)
    query, asked = prometheus_answering([0.0, 0.06, 0.01])  # one failure is within failureLimit
    verdict = await analyse(metrics, query, window_s=30)
    assert verdict.decision is Decision.PROMOTE
    assert len(asked) == 6


async def test_a_query_that_keeps_answering_nothing_is_an_error_that_rolls_back() -> None:
    # Argo counts an unusable result as an error; past consecutiveErrorLimit (4) the analysis fails.
    metrics = load_metrics(TEMPLATE, time_scale=SCALE)
    query, asked = prometheus_answering([None])
    verdict = await analyse(metrics, query, window_s=30)
    assert verdict.decision is Decision.ROLL_BACK
    assert len(asked) == 5 and "errors in a row" in verdict.reason


async def test_neither_condition_holding_is_inconclusive(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        TEMPLATE.read_text().replace("result[0] >= 0.05", "result[0] >= 0.5").replace("count: 6", "count: 3")
    )
    query, _ = prometheus_answering([0.2])
    verdict = await analyse(load_metrics(path, time_scale=SCALE), query, window_s=30)
    assert verdict.decision is Decision.INCONCLUSIVE
