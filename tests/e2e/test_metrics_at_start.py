"""Every labelled series an alert or a dashboard reads is exported from start-up, at 0.

A counter series born on its first increment has no earlier sample, so `rate()` and
`increase()` miss the first burst: a first model outage raised no alert. Here a
freshly started platform (a process of its own, so no other test's traffic is in its
registry) is scraped before any traffic, and every selector of every alert rule and
dashboard panel must match a series; the promtool cases "first incident after start"
(deploy/observability/prometheus/tests/) must start from series this exposition has.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from tests.deploy import yaml_files
from tests.support.observability import (
    OBSERVABILITY,
    dashboard_exprs,
    dashboards,
    parse_series,
    rule_exprs,
    selectors,
    series_of,
)

REPO = Path(__file__).resolve().parents[2]

# Series no service exports at start: `up` is Prometheus's own; the Kafka lag gauge is the
# distributed mode's (a gauge, so it has no first-burst problem); tenants are created by
# operators, so their chat-request series, and their usage's, appear with their first request, and
# their budget gauges with their budget's first check (gauges: no first-burst problem).
NOT_AT_START = {
    "up",
    "kafka_consumer_lag_messages",
    "gateway_chat_requests_total",
    "usage_tokens_total",
    "usage_cost_total",
    "budget_used_ratio",
    "budget_warn_ratio",
}
# Labels Prometheus adds per scrape target, and the model's name (a setting).
TARGET_LABELS = {"job", "instance", "service", "model"}

SCRAPE_FRESH = """
import json, sys, httpx
from tests.support.platform import embedded_platform
with embedded_platform(json.loads(sys.argv[1])) as platform:
    sys.stdout.write(httpx.get(platform.metrics_url(), timeout=10).text)
"""


@cache
def fresh_exposition(tmp: str) -> str:
    env = {"AUTH_KEYS_FILE": f"{tmp}/api-keys.json", "LOG_LEVEL": "WARNING"}
    done = subprocess.run(
        [sys.executable, "-c", SCRAPE_FRESH, json.dumps(env)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def exposition(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, dict[str, str]]]:
    return series_of(fresh_exposition(str(tmp_path_factory.mktemp("fresh"))))


def read_exprs() -> list[tuple[str, str]]:
    where = [("rules", e) for e in rule_exprs()]
    for name, board in dashboards().items():
        where += [(name, e) for e in dashboard_exprs(board)]
    return where


@pytest.mark.parametrize(("where", "expr"), read_exprs(), ids=lambda x: str(x)[:60])
def test_every_selector_an_alert_or_a_dashboard_reads_has_a_series_at_start(
    exposition: list[tuple[str, dict[str, str]]], where: str, expr: str
) -> None:
    for name, matchers in selectors(expr):
        if name in NOT_AT_START:
            continue
        found = [labels for series, labels in exposition if series == name and all(m.matches(labels) for m in matchers)]
        assert found, f"{where}: nothing matches {name}{{{matchers}}} on a freshly started platform"


def first_incident_series() -> list[str]:
    tests = yaml_files.load(OBSERVABILITY / "prometheus" / "tests" / "platform_test.yml")["tests"]
    return [
        s["series"]
        for t in tests
        if str(t.get("name", "")).startswith("first incident after start:")
        for s in t["input_series"]
    ]


@pytest.mark.parametrize("selector", first_incident_series())
def test_the_first_incident_cases_start_from_series_a_fresh_platform_exports(
    exposition: list[tuple[str, dict[str, str]]], selector: str
) -> None:
    name, labels = parse_series(selector)
    if name in NOT_AT_START:
        return
    wanted = {k: v for k, v in labels.items() if k not in TARGET_LABELS}
    exported = [have for series, have in exposition if series == name and {k: have.get(k) for k in wanted} == wanted]
    assert exported, f"{selector} is not exported by a freshly started platform"
    assert all(set(have) - TARGET_LABELS == set(wanted) for have in exported), (selector, exported[:1])


def test_a_counter_is_exported_at_zero_before_any_traffic(exposition: list[tuple[str, dict[str, str]]]) -> None:
    # One spelled out: the model-failure series the ModelCallsFailing alert reads.
    assert any(
        name == "llm_calls_total" and labels.get("outcome") == "MODEL_UNAVAILABLE" for name, labels in exposition
    )
