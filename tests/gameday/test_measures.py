"""What the report says of the clients: the baseline, the moment the traffic is normal again
after a fault (recovery), the requests affected and lost; and what it says of the operator:
when an alert fired and was notified, from Alertmanager's webhook bodies."""

from __future__ import annotations

from gameday.alerts import Notifications
from gameday.measures import baseline_of, client_view, in_flight, recovered_at
from gameday.traffic import Sample


def sample(start: float, latency: float = 1.0, outcome: str = "done", fallback: bool = False) -> Sample:
    return Sample(start, start + latency, outcome, fallback, uses_tool=False)


def test_recovery_is_the_first_moment_from_which_a_whole_window_is_normal() -> None:
    baseline = baseline_of([sample(t) for t in range(20)])
    after_fault = 100.0
    samples = [
        *(sample(after_fault + t, outcome="INFRA_UNAVAILABLE/bus_unavailable") for t in range(5)),  # still failing
        *(sample(after_fault + 5 + t, latency=9.0) for t in range(3)),  # answering, but slowly
        *(sample(after_fault + 8 + t) for t in range(30)),  # normal again
    ]
    assert recovered_at(samples, after_fault, baseline, window_s=10) == after_fault + 8


def test_no_recovery_while_the_window_is_not_yet_complete_or_never_normal() -> None:
    baseline = baseline_of([sample(t) for t in range(20)])
    failing = [sample(100 + t, outcome="MODEL_MISCONFIGURED") for t in range(30)]
    assert recovered_at(failing, 100, baseline, window_s=10) is None
    assert recovered_at([sample(100 + t) for t in range(5)], 100, baseline, window_s=10) is None


def test_the_client_view_counts_errors_by_code_fallbacks_and_lost_requests() -> None:
    view = client_view(
        [
            sample(0),
            sample(1, outcome="INFRA_UNAVAILABLE/redis_unavailable", fallback=True),
            sample(2, outcome="INFRA_UNAVAILABLE/bus_unavailable", fallback=True),
            sample(3, outcome="refused:RATE_LIMITED"),
            sample(4, outcome="lost"),
        ]
    )
    assert (view.requests, view.affected, view.fallbacks_shown, view.lost) == (5, 4, 2, 1)
    assert view.errors_by_code == {"INFRA_UNAVAILABLE": 2, "RATE_LIMITED": 1, "lost": 1}


def test_an_alert_is_known_from_its_first_notification_and_resolved_from_a_later_one() -> None:
    notifications = Notifications()
    firing = {
        "status": "firing",
        "labels": {"alertname": "ServiceDown", "severity": "warning", "service": "orchestrator"},
        "startsAt": "2026-12-04T22:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": "abc",
    }
    notifications.receive("team-channel", {"status": "firing", "alerts": [firing]})
    notifications.receive("team-channel", {"status": "firing", "alerts": [firing]})  # a repeat
    resolved = {**firing, "status": "resolved", "endsAt": "2026-12-04T22:05:00Z"}
    notifications.receive("team-channel", {"status": "resolved", "alerts": [resolved]})
    (alert,) = notifications.alerts()
    assert (alert.name, alert.severity, alert.receiver) == ("ServiceDown", "warning", "team-channel")
    assert alert.resolved_at is not None and alert.resolved_at - alert.fired_at == 300


def test_a_request_on_its_way_when_the_fault_struck_is_the_scenario_s() -> None:
    stuck = sample(98.0, latency=25.0)  # sent before the kill, answered after the recovery
    before, during, after = sample(90.0), sample(105.0), sample(130.0)
    assert in_flight([before, stuck, during, after], began=100.0, until=120.0) == [stuck, during]
