"""The rollout criteria decide right: promtool evaluates the AnalysisTemplate's queries over series
a bad and a healthy release make, at the times Argo Rollouts would measure them.

Each criterion becomes an alert that fires when its `successCondition` does not
hold (the queries never answer NaN or nothing, so "not success" is the inverse
comparison). A bad release must fail `failureLimit + 1` measurements, which is
when the analysis fails and the rollout aborts, within the window docs/rollback.md
states; a healthy one, and a quiet one with no traffic at all, must pass every
measurement of the analysis.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent_cli.rollout_analysis import Criterion, load_criteria
from tests.support.observability import ROOT

TEMPLATE = ROOT / "deploy" / "rollouts" / "analysis-template.yaml"
ROLLBACK_DOC = ROOT / "docs" / "rollback.md"
STEP_S = 15  # the scrape interval of deploy/observability/prometheus/prometheus.yml
CANARY_AT = 10  # minutes of series before the canary takes traffic: every window is full by then
_INVERSE = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}


def criteria() -> list[Criterion]:
    return load_criteria(TEMPLATE)


def stated_window_minutes() -> int:
    """docs/rollback.md: "rolls back within N minutes of the canary taking traffic"."""
    match = re.search(r"rolls back within \*\*(\d+) minutes\*\* of the canary taking traffic", ROLLBACK_DOC.read_text())
    assert match, "docs/rollback.md states the rollback window"
    return int(match[1])


def failing_rules(path: Path) -> None:
    rules = [
        {
            "alert": "CriterionFailed",
            "expr": f"({c.query}) {_INVERSE[c.success.op]} {c.success.threshold:g}",
            "labels": {"criterion": c.name},
        }
        for c in criteria()
    ]
    path.write_text(yaml.safe_dump({"groups": [{"name": "rollout-analysis", "rules": rules}]}))


def counter(per_step_before: float, per_step_after: float, *, steps_before: int, steps_after: int) -> str:
    """A counter in promtool's expanding notation, its rate changing when the canary starts."""
    before = f"0+{per_step_before:g}x{steps_before}"
    start = per_step_before * steps_before
    return f"{before} {start + per_step_after:g}+{per_step_after:g}x{steps_after}"


def release_series(
    *, run_errors: float, http_errors: float, canary_never_ready: bool, minutes: int
) -> list[dict[str, Any]]:
    """One minute = 4 steps. 2 runs and 2 requests a second; `*_errors`: the share failing
    (class infra) once the canary takes traffic; a canary that never becomes ready answers
    every probe of its own 503 (one gateway pod of three, probed every 5 s)."""
    before, after = CANARY_AT * 4, (minutes - CANARY_AT) * 4
    per_step = 2 * STEP_S

    def c(rate_before: float, rate_after: float) -> str:
        return counter(rate_before, rate_after, steps_before=before, steps_after=after)

    probes = 3  # probes per 15 s per pod
    series = [
        ('orchestrator_runs_total{outcome="done", error_class=""}', c(per_step, per_step * (1 - run_errors))),
        ('orchestrator_runs_total{outcome="error", error_class="infra"}', c(0, per_step * run_errors)),
        ('orchestrator_runs_total{outcome="error", error_class="user_input"}', c(1, 1)),
        (
            'http_requests_total{route="/api/chat", method="POST", status="200"}',
            c(per_step, per_step * (1 - http_errors)),
        ),
        ('http_requests_total{route="/api/chat", method="POST", status="503"}', c(0, per_step * http_errors)),
        ('http_requests_total{route="/ready", method="GET", status="200"}', c(probes * 2, probes * 2)),
        (
            'platform_errors_total{origin="http", error_class="infra", code="INFRA_UNAVAILABLE"}',
            c(0, per_step * http_errors),
        ),
        ('platform_errors_total{origin="http", error_class="user_input", code="INPUT_INVALID"}', c(2, 2)),
        ('readiness_probes_total{service="gateway", instance="a", outcome="ready"}', c(probes, probes)),
        ('readiness_probes_total{service="gateway", instance="b", outcome="ready"}', c(probes, probes)),
        (
            'readiness_probes_total{service="gateway", instance="c", outcome="not_ready"}',
            c(0, probes if canary_never_ready else 0),
        ),
        (
            'readiness_probes_total{service="gateway", instance="c", outcome="ready"}',
            c(0, 0 if canary_never_ready else probes),
        ),
        ('readiness_probes_total{service="orchestrator", instance="d", outcome="ready"}', c(probes, probes)),
    ]
    return [{"series": name, "values": values} for name, values in series]


def run_promtool(promtool: str, tmp_path: Path, series: list[dict[str, Any]], cases: list[dict[str, Any]]) -> None:
    rules = tmp_path / "criteria.yml"
    failing_rules(rules)
    tests = tmp_path / "criteria_test.yml"
    tests.write_text(
        yaml.safe_dump(
            {
                "rule_files": [str(rules)],
                "evaluation_interval": f"{STEP_S}s",
                "tests": [{"interval": f"{STEP_S}s", "input_series": series, "alert_rule_test": cases}],
            }
        )
    )
    done = subprocess.run([promtool, "test", "rules", str(tests)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def measurement_minutes(criterion: Criterion) -> list[float]:
    """When Argo measures, in minutes from the canary's start: at once, then every interval."""
    return [i * criterion.interval_s / 60 for i in range(criterion.count)]


def eval_time(minutes: float) -> str:
    return f"{int((CANARY_AT + minutes) * 60)}s"


def test_the_template_uses_only_conditions_every_evaluator_reads() -> None:
    found = criteria()
    assert {c.name for c in found} == {"run-error-share", "request-error-share", "readiness-failure-share"}
    for c in found:
        assert c.failure_limit + 1 <= c.count, f"{c.name} could never fail"


def test_the_queries_parse(promtool: str, tmp_path: Path) -> None:
    failing_rules(tmp_path / "criteria.yml")
    done = subprocess.run([promtool, "check", "rules", str(tmp_path / "criteria.yml")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("criterion", "bad"),
    [
        ("run-error-share", {"run_errors": 0.25, "http_errors": 0.0, "canary_never_ready": False}),
        ("request-error-share", {"run_errors": 0.0, "http_errors": 0.25, "canary_never_ready": False}),
        ("readiness-failure-share", {"run_errors": 0.0, "http_errors": 0.0, "canary_never_ready": True}),
    ],
)
def test_a_bad_release_is_rolled_back_within_the_stated_window(
    promtool: str, tmp_path: Path, criterion: str, bad: dict[str, Any]
) -> None:
    """The canary's quarter of the traffic failing every request, or one gateway pod of three never ready."""
    c = next(c for c in criteria() if c.name == criterion)
    # The analysis fails on the (failureLimit + 1)-th failed measurement; the first is taken as the
    # canary starts, before its errors show, so the ones after it must fail.
    deciding = measurement_minutes(c)[1 : c.failure_limit + 2]
    assert deciding[-1] <= stated_window_minutes(), f"{criterion} decides after {deciding[-1]} min"
    series = release_series(minutes=CANARY_AT + 10, **bad)
    cases = [
        {
            "eval_time": eval_time(m),
            "alertname": "CriterionFailed",
            "exp_alerts": [{"exp_labels": {"criterion": criterion}}],
        }
        for m in deciding
    ]
    run_promtool(promtool, tmp_path, series, cases)


def test_a_healthy_release_passes_every_measurement(promtool: str, tmp_path: Path) -> None:
    series = release_series(run_errors=0.01, http_errors=0.01, canary_never_ready=False, minutes=CANARY_AT + 10)
    times = sorted({m for c in criteria() for m in measurement_minutes(c)})
    cases = [{"eval_time": eval_time(m), "alertname": "CriterionFailed", "exp_alerts": []} for m in times]
    run_promtool(promtool, tmp_path, series, cases)


def test_no_traffic_is_no_failure(promtool: str, tmp_path: Path) -> None:
    """Counters that stand still (a quiet night) give 0, not NaN: the analysis passes."""
    series = [
        {"series": 'orchestrator_runs_total{outcome="done", error_class=""}', "values": "5x80"},
        {"series": 'http_requests_total{route="/api/chat", method="POST", status="200"}', "values": "5x80"},
        {
            "series": 'platform_errors_total{origin="http", error_class="infra", code="INFRA_UNAVAILABLE"}',
            "values": "0x80",
        },
        {"series": 'readiness_probes_total{service="gateway", instance="a", outcome="ready"}', "values": "0x80"},
    ]
    cases = [{"eval_time": eval_time(m), "alertname": "CriterionFailed", "exp_alerts": []} for m in (0, 2, 4)]
    run_promtool(promtool, tmp_path, series, cases)
