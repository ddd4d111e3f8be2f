"""The short game day, as `make test` runs it: the distributed platform under steady traffic,
a real Prometheus and Alertmanager evaluating the project's rules time-compressed (every
`for:` and range window divided by `SHORT_TIME_SCALE`), and two scenarios: the model key
rotated to a wrong value (the provider answers 401), and an orchestrator killed with SIGKILL.
What is asserted is what the report says of each: its alert fired, no accepted request was
lost, error rate and p95 came back to the baseline's. The whole game day is `make gameday`."""

from __future__ import annotations

import json
import shutil
from typing import Any

import pytest

from gameday.run import SHORT_SCENARIOS, SHORT_TIME_SCALE, Options, run_game_day
from tests.support.services import require_service

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.timeout(420)]

NEEDED = {
    "prometheus": "prometheus",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "redis-server": "redis-server",
    "java": "a Java 17+ runtime",
    "mvn": "maven",
}
EXPECTED_ALERTS = {"secret-rotated": "ModelMisconfigured", "pod-orchestrator": "ServiceDown"}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    missing = [what for binary, what in NEEDED.items() if shutil.which(binary) is None]
    if missing:
        require_service("game day", f"missing {', '.join(missing)} (scripts/ensure-system-deps.sh)")
    results = tmp_path_factory.mktemp("gameday")
    options = Options(scenarios=SHORT_SCENARIOS, time_scale=SHORT_TIME_SCALE, results=results, indexer=False)
    day = run_game_day(options)
    assert {"md", "json", "chart"} <= set(day.report)
    loaded: dict[str, Any] = json.loads(day.report["json"].read_text())
    return loaded


def _scenario(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in report["scenarios"] if s["name"] == name)


@pytest.mark.parametrize("name", SHORT_SCENARIOS)
def test_the_scenarios_alert_fires_and_is_notified(report: dict[str, Any], name: str) -> None:
    scenario = _scenario(report, name)
    detection = scenario["detection"]
    assert detection is not None, scenario["failures"]
    assert detection["signal"] == EXPECTED_ALERTS[name]
    assert detection["at"] >= scenario["began_at"] - 1  # fired by this fault, not left over
    notified = [a for a in scenario["alerts"] if a["alert"] == EXPECTED_ALERTS[name]]
    assert notified and notified[0]["receiver"] in ("team-channel", "on-call-pager")


@pytest.mark.parametrize("name", SHORT_SCENARIOS)
def test_no_accepted_request_is_lost_and_the_traffic_recovers(report: dict[str, Any], name: str) -> None:
    scenario = _scenario(report, name)
    assert scenario["client"]["requests"] > 0
    assert scenario["client"]["lost"] == 0, scenario["client"]
    assert scenario["recovery_s"] is not None, scenario["failures"]
    assert scenario["passed"], scenario["failures"]


def test_the_report_holds_every_request(report: dict[str, Any]) -> None:
    assert report["passed"]
    assert report["setup"]["time_scale"] == SHORT_TIME_SCALE
    lost = [s for s in report["samples"] if s["outcome"] == "lost"]
    assert report["samples"] and not lost
