"""The network scenarios are judged by alerts the project's rules have, and the slow ones by a
latency rule that reads the route the browser (and the game day's clients) use: a rule that
never sees the traffic would leave a slow network undetected, whatever the threshold."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import yaml

from gameday.monitoring import RULES, notify_wait, scaled_alertmanager_config
from gameday.scenarios import NETWORK_ALERTS, SCENARIOS, SLOW_ALERTS, hold_bound


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


def test_a_fault_is_held_long_enough_for_a_group_that_notified_a_scenario_before() -> None:
    """Alertmanager holds a new alert of a group it notified already (the same name and severity,
    resolved since) for the group's interval, not its first wait: a pod killed after a rollout that
    restarted it is notified that late, and must not count as undetected."""
    routing = scaled_alertmanager_config(30, "http://127.0.0.1:9/hooks")
    assert notify_wait(routing) == 10  # group_interval 5m / 30, over group_wait 30s / 30
    monitoring = SimpleNamespace(rules=lambda: yaml.safe_load(RULES.read_text()), scrape_s=1.0, notify_wait_s=10.0)
    ctx = SimpleNamespace(day=SimpleNamespace(monitoring=monitoring))
    # ServiceDown's quickest rule: `for: 1m`, no window; then four scrapes and the hold, and half again.
    assert hold_bound(ctx, ("ServiceDown",)) == (60 + 4 + 10) * 1.5  # type: ignore[arg-type]
