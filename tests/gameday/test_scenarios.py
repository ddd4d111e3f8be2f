"""The network scenarios are judged by alerts the project's rules have, and the slow ones by a
latency rule that reads the route the browser (and the game day's clients) use: a rule that
never sees the traffic would leave a slow network undetected, whatever the threshold."""

from __future__ import annotations

from typing import Any

import yaml

from gameday.monitoring import RULES
from gameday.scenarios import NETWORK_ALERTS, SCENARIOS, SLOW_ALERTS


def _rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def test_the_network_faults_cut_and_slow_both_the_broker_and_redis() -> None:
    assert {"network-kafka", "network-redis", "network-kafka-slow", "network-redis-slow"} <= set(SCENARIOS)


def test_every_alert_a_network_fault_expects_is_a_rule_with_a_page() -> None:
    rules = _rules()
    for name in {*NETWORK_ALERTS, *SLOW_ALERTS}:
        severities = {r["labels"]["severity"] for r in rules if r.get("alert") == name}
        assert severities == {"warning", "critical"}, name


def test_the_latency_rule_reads_the_browser_s_streamed_chat() -> None:
    latency = [r for r in _rules() if r.get("alert") == "ChatLatencyHigh"]
    assert latency and all("/api/chat/stream" in r["expr"] for r in latency)
    assert "ChatLatencyHigh" in SLOW_ALERTS
