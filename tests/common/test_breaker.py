"""The circuit breaker's state machine: a failure rate over a window opens it,
open fails fast, half-open lets trial calls through, recovery closes it."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from agent_common.resilience import BreakerOpen, BreakerSettings, CircuitBreaker, CircuitBreakers
from agent_common.resilience.breaker import BreakerState


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


SETTINGS = BreakerSettings(window=10, min_calls=4, failure_rate=0.5, open_s=30, trial_calls=2)


def breaker(clock: Clock, label: str | None = None) -> CircuitBreaker:
    return CircuitBreaker("test", SETTINGS, clock=clock, metric_label=label)


def test_failures_below_the_minimum_calls_do_not_open_it() -> None:
    b = breaker(Clock())
    for _ in range(3):
        b.record_failure()
    assert b.state is BreakerState.CLOSED
    b.before_call()


def test_a_failure_rate_at_the_threshold_opens_it_and_calls_fail_fast() -> None:
    clock = Clock()
    b = breaker(clock)
    for ok in (True, False, True, False):  # 2 of 4 failed: 50%
        b.record_success() if ok else b.record_failure()
    assert b.state is BreakerState.OPEN
    with pytest.raises(BreakerOpen) as refused:
        b.before_call()
    assert refused.value.retry_in_s == pytest.approx(30)


def test_a_low_failure_rate_keeps_it_closed_however_many_failures() -> None:
    b = breaker(Clock())
    for n in range(40):
        b.record_failure() if n % 4 == 0 else b.record_success()  # 25%
    assert b.state is BreakerState.CLOSED


def test_only_the_window_counts_old_failures_are_forgotten() -> None:
    b = CircuitBreaker("w", BreakerSettings(window=4, min_calls=4, failure_rate=0.75), clock=Clock())
    for _ in range(2):
        b.record_failure()
    for _ in range(4):
        b.record_success()
    b.record_failure()  # window: S S S F -> 25%
    assert b.state is BreakerState.CLOSED


def test_after_the_open_time_trial_calls_go_through_and_success_closes_it() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(4):
        b.record_failure()
    clock.now += 30
    assert b.state is BreakerState.HALF_OPEN
    b.before_call()
    b.before_call()
    with pytest.raises(BreakerOpen):
        b.before_call()  # only `trial_calls` at once
    b.record_success()
    b.record_success()
    assert b.state is BreakerState.CLOSED
    for _ in range(3):
        b.record_failure()  # a fresh window: three failures are under the minimum again
    assert b.state is BreakerState.CLOSED


def test_a_failed_trial_opens_it_again_for_the_whole_open_time() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(4):
        b.record_failure()
    clock.now += 30
    b.before_call()
    b.record_failure()
    assert b.state is BreakerState.OPEN
    clock.now += 29
    assert b.state is BreakerState.OPEN


def test_its_state_and_transitions_are_metrics() -> None:
    clock = Clock()
    b = breaker(clock, label="model:test-metrics")
    state = lambda: REGISTRY.get_sample_value("circuit_breaker_state", {"breaker": "model:test-metrics"})  # noqa: E731
    assert state() == 0
    for _ in range(4):
        b.record_failure()
    assert state() == 2
    clock.now += 30
    assert b.state is BreakerState.HALF_OPEN and state() == 1
    opened = REGISTRY.get_sample_value(
        "circuit_breaker_transitions_total", {"breaker": "model:test-metrics", "to": "open"}
    )
    assert opened == 1


def test_a_breaker_per_key_and_the_set_stays_bounded() -> None:
    breakers = CircuitBreakers(SETTINGS, max_idle=3)
    for _ in range(4):
        breakers["down.example"].record_failure()
    for host in ("a.example", "b.example", "c.example", "d.example"):
        breakers[host].record_success()
    assert breakers["down.example"].state is BreakerState.OPEN  # an open breaker is never forgotten
    assert breakers.open_count() == 1
    assert len(breakers._breakers) <= 4


def test_the_state_gauge_is_computed_when_scraped_not_left_open_until_the_next_call() -> None:
    clock = Clock()
    b = breaker(clock, label="model:test-scraped")
    state = lambda: REGISTRY.get_sample_value("circuit_breaker_state", {"breaker": "model:test-scraped"})  # noqa: E731
    for _ in range(4):
        b.record_failure()
    assert state() == 2
    clock.now += 30  # no call in between: the breaker lets the next call through, and the scrape says so
    assert state() == 1
    assert b.observed_state() is BreakerState.HALF_OPEN


def test_open_hosts_are_counted_as_of_now_without_moving_any_breaker() -> None:
    import time

    breakers = CircuitBreakers(BreakerSettings(window=4, min_calls=2, failure_rate=0.5, open_s=0.05))
    for _ in range(2):
        breakers["down.example"].record_failure()
    assert breakers.open_count() == 1
    time.sleep(0.06)
    assert breakers.open_count() == 0  # its open time is over: the next call goes through
    assert breakers["down.example"]._state is BreakerState.OPEN  # a scrape moved nothing
