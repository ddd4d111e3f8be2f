"""The alert rules and the Alertmanager configuration in `deploy/observability/`,
checked by the tools that run them: `promtool check rules` / `test rules` (each
alert fires when it should, in its tier, and stays quiet below its threshold),
`amtool` for the routes, and a real Alertmanager for the inhibition of a warning
by its critical twin."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.deploy import yaml_files
from tests.support.observability import OBSERVABILITY, rule_groups
from tests.support.web import free_tcp_port

PROMETHEUS = OBSERVABILITY / "prometheus"
ALERTMANAGER_CONFIG = OBSERVABILITY / "alertmanager" / "alertmanager.yml"


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_the_rules_and_the_scrape_config_are_valid(promtool: str) -> None:
    for done in (
        run(promtool, "check", "rules", *map(str, sorted((PROMETHEUS / "rules").glob("*.yml")))),
        run(promtool, "check", "config", str(PROMETHEUS / "prometheus.yml")),
    ):
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_rule_unit_tests_pass(promtool: str) -> None:
    done = run(promtool, "test", "rules", *map(str, sorted((PROMETHEUS / "tests").glob("*.yml"))))
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_warning_and_a_critical_tier_with_a_for_duration() -> None:
    tiers: dict[str, set[str]] = {}
    for group in rule_groups():
        for rule in group["rules"]:
            assert "alert" in rule, f"recording rule {rule} (dashboards and tests read raw metrics)"
            assert rule.get("for"), f"{rule['alert']} has no `for:` and would flap"
            assert rule["annotations"]["summary"], rule["alert"]
            tiers.setdefault(rule["alert"], set()).add(rule["labels"]["severity"])
    assert tiers and all(t == {"warning", "critical"} for t in tiers.values()), tiers


def test_every_alert_has_a_unit_test() -> None:
    tested = {
        case["alertname"]
        for path in (PROMETHEUS / "tests").glob("*.yml")
        for test in yaml_files.load(path)["tests"]
        for case in test.get("alert_rule_test", [])
    }
    alerts = {rule["alert"] for group in rule_groups() for rule in group["rules"]}
    assert alerts <= tested, sorted(alerts - tested)


@pytest.mark.parametrize(("severity", "receiver"), [("critical", "on-call-pager"), ("warning", "team-channel")])
def test_alerts_are_routed_by_severity(amtool: str, severity: str, receiver: str) -> None:
    done = run(
        amtool,
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER_CONFIG}",
        f"--verify.receivers={receiver}",
        "alertname=GatewayServerErrors",
        f"severity={severity}",
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def alertmanager_url(alertmanager: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir: Path = tmp_path_factory.mktemp("alertmanager")
    port = free_tcp_port()
    log = (workdir / "alertmanager.log").open("wb")
    proc = subprocess.Popen(
        [
            alertmanager,
            f"--config.file={ALERTMANAGER_CONFIG}",
            f"--storage.path={workdir}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # a lone instance: no gossip port
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (workdir / "alertmanager.log").read_text()
            try:
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "Alertmanager not ready"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def alert(severity: str, **labels: str) -> dict[str, Any]:
    return {"labels": {"alertname": "KafkaConsumerLagHigh", "severity": severity, **labels}}


def states(url: str) -> dict[tuple[str, str], str]:
    alerts = httpx.get(f"{url}/api/v2/alerts", timeout=5).json()
    return {(a["labels"]["severity"], a["labels"].get("group", "")): a["status"]["state"] for a in alerts}


def test_a_critical_alert_silences_its_warning_twin_and_no_other(alertmanager_url: str) -> None:
    posted = httpx.post(
        f"{alertmanager_url}/api/v2/alerts",
        json=[
            alert("critical", group="orchestrator", topic="chat.requested"),
            alert("warning", group="orchestrator", topic="chat.requested"),
            alert("warning", group="tool-runner", topic="tool.requested"),
        ],
        timeout=5,
    )
    assert posted.status_code == 200, posted.text
    expected = {
        ("critical", "orchestrator"): "active",
        ("warning", "orchestrator"): "suppressed",
        ("warning", "tool-runner"): "active",
    }
    deadline = time.monotonic() + 20
    while (seen := states(alertmanager_url)) != expected and time.monotonic() < deadline:
        time.sleep(0.2)  # inhibition is evaluated as the alerts are ingested
    assert seen == expected


def test_every_alert_has_a_first_incident_case_starting_from_zero() -> None:
    # Each alert must fire on the first incident after a start, from series at 0 (as the
    # services export them from start-up): tests/e2e/test_metrics_at_start.py checks that.
    cases = {
        str(test["name"]).removeprefix("first incident after start: "): test
        for path in (PROMETHEUS / "tests").glob("*.yml")
        for test in yaml_files.load(path)["tests"]
        if str(test.get("name", "")).startswith("first incident after start: ")
    }
    alerts = {rule["alert"] for group in rule_groups() for rule in group["rules"]}
    assert alerts <= set(cases), sorted(alerts - set(cases))
    for alert, case in cases.items():
        for series in case["input_series"]:
            first = str(series["values"]).split()[0].split("+")[0].split("x")[0]
            if not series["series"].startswith("up{"):
                assert float(first) == 0, f"{alert}: {series['series']} starts at {first}, not at 0"
        assert {t["alertname"] for t in case["alert_rule_test"]} == {alert}
        assert all(t["exp_alerts"] for t in case["alert_rule_test"]), f"{alert}: the case must see it fire"
