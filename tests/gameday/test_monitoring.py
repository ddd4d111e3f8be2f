"""The game day's Prometheus and Alertmanager run the project's own configuration: the rules
file as it is, or for the short run a copy with every `for:` and range window divided by one
factor, which Prometheus's own checker still accepts; Alertmanager's routes and inhibitions
as they are, only its receivers pointed at the game day's webhook."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from gameday.durations import parse_duration, scale_duration, scale_windows
from gameday.monitoring import RULES, scaled_alertmanager_config, scaled_rules, scraped_services
from tests.support.services import require_service


def test_durations_scale_as_prometheus_writes_them() -> None:
    assert parse_duration("1m30s") == 90
    assert scale_duration("1m", 30) == "2s"
    assert scale_duration("10m", 30) == "20s"
    assert scale_windows("rate(x[5m]) / rate(y[10m:1m])", 30, floor_s=4) == "rate(x[10s]) / rate(y[20s:2s])"
    assert scale_windows("rate(x[1m])", 30, floor_s=4) == "rate(x[4s])"  # never under four scrapes


def test_the_full_run_evaluates_the_rules_unchanged() -> None:
    assert scaled_rules(1, 15) == yaml.safe_load(RULES.read_text())


def test_the_scaled_rules_are_the_same_alerts_with_every_wait_divided(tmp_path: Path) -> None:
    original, scaled = yaml.safe_load(RULES.read_text()), scaled_rules(30, 1)
    pairs = [
        (a, b)
        for ga, gb in zip(original["groups"], scaled["groups"], strict=True)
        for a, b in zip(ga["rules"], gb["rules"], strict=True)
    ]
    for before, after in pairs:
        assert (after["alert"], after["labels"]) == (before["alert"], before["labels"])
        assert parse_duration(after["for"]) == pytest.approx(parse_duration(before["for"]) / 30)
        assert "[5m]" not in after["expr"] and "[10m]" not in after["expr"] and "[15m]" not in after["expr"]
    promtool = shutil.which("promtool")
    if promtool is None:
        require_service("Prometheus", "promtool is not installed")
        return
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(scaled))
    checked = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_alertmanager_keeps_its_routes_and_notifies_the_game_days_webhook(tmp_path: Path) -> None:
    config = scaled_alertmanager_config(1, "http://127.0.0.1:1/hook")
    original = yaml.safe_load((RULES.parents[2] / "alertmanager" / "alertmanager.yml").read_text())
    assert config["route"] == original["route"] and config["inhibit_rules"] == original["inhibit_rules"]
    urls = [hook["url"] for r in config["receivers"] for hook in r["webhook_configs"]]
    assert urls == ["http://127.0.0.1:1/hook/on-call-pager", "http://127.0.0.1:1/hook/team-channel"]
    amtool = shutil.which("amtool")
    if amtool is None:
        require_service("Alertmanager", "amtool is not installed")
        return
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(scaled_alertmanager_config(30, "http://127.0.0.1:1/hook")))
    checked = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_it_scrapes_the_services_the_projects_prometheus_scrapes() -> None:
    assert scraped_services() == {"gateway", "orchestrator", "tool-runner", "rag-indexer"}
